"""`rostersync approve RUN`: apply the removals a run held back, after a person looked at them.

Only the district's newest finished run can be approved: an older held run describes a roster that a
later run has since replaced (if the removals are still wanted, the later run holds them again).
The removals are re-resolved against the directory as it is now, inside one transaction with the
district's lease, so a record that came back meanwhile is not archived.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from directory import audit
from directory.audit import Actor
from directory.db import session_factory, transaction
from directory.errors import InvalidInput, NotFound
from directory.models import District, SyncRun, utcnow
from sync import lease
from sync.apply import apply_changes
from sync.changes import ChangeSet
from sync.run import RunInProgress
from sync.snapshot import load_snapshot


def approve_run(engine: Engine, run_id: int, actor: Actor) -> dict:
    factory = session_factory(engine)
    holder = lease.make_holder()
    with transaction(factory) as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            raise NotFound(f"unknown run {run_id}")
        district = s.get(District, run.district_id)
        if run.status != "held":
            raise InvalidInput(f"run {run_id} is {run.status}, not held: nothing to approve")
        if run.dry_run:
            raise InvalidInput(f"run {run_id} was a dry run: it changed nothing, so there is nothing to approve; "
                               f"run `rostersync sync {district.slug}`")
        newer = s.scalar(select(SyncRun.id).where(SyncRun.district_id == run.district_id, SyncRun.id > run.id,
                                                  SyncRun.status.in_(("succeeded", "held")),
                                                  SyncRun.dry_run.is_(False)))
        if newer is not None:
            raise InvalidInput(f"run {run_id} is not the newest: run {newer} has synced {district.slug} since; "
                               "approve that one if it is held")
        busy = lease.acquire(s, district.id, holder, run_id)
        if busy is not None:
            raise RunInProgress(f"a sync of {district.slug} is in progress (run {busy.run_id}); approve when it "
                                "has finished")
        snapshot = load_snapshot(s, district.id, run.source)
        held = (run.report or {}).get("held", {}).get("removals", {})
        cs = ChangeSet()
        for kind, keys in held.get("archives", {}).items():
            rows = snapshot.rows[kind]
            cs.kinds[kind].archives = [(rows[k].row_id, k) for k in keys if k in rows and rows[k].active]
        for kind, pairs in held.get("removed", {}).items():
            cs.pairs[kind].removed = {tuple(p) for p in pairs}
        now = utcnow()
        apply_changes(s, district.id, run.source, run.id, now, cs, snapshot)
        applied = {kind: len(c.archives) for kind, c in cs.kinds.items() if c.archives}
        report = dict(run.report)
        report["status"] = "succeeded"
        report["approved"] = {"by": actor.name, "at": now.isoformat(), "reason": actor.reason, "archived": applied}
        report["directory_state"] = "updated"
        report["directory"] = "the directory was updated, and the held removals were approved and applied"
        s.execute(update(SyncRun).where(SyncRun.id == run.id).values(status="succeeded", report=report)
                  .execution_options(synchronize_session=False))
        audit.record(s, actor, "sync.approve", "run", run.id, district.id, before={"status": "held"},
                     after={"status": "succeeded", "archived": applied})
        lease.release(s, district.id, holder)
        return report
