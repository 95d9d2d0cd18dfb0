"""`rostersync rollback RUN --reason TEXT`: put the directory back as it was before one sync run (I/O).

    load     the run's audit entries, every later entry of the district, the source's external ids
    plan     sync/rollback_plan.py (pure): the reversals, and the conflicts with later changes
    refuse   conflicts and no --force: nothing is written, the conflicts are named
    apply    in ONE transaction that also holds the district's sync lease (so no run applies meanwhile):
             the reversals, queued invitations of the run cancelled, every reversal audited as support
             with the reason (``rollback.*``), the run marked ``rolled_back``, the lease freed

Invitations the run queued that a relay already sent cannot be unsent: they are listed instead. The
source is not changed: a later sync that reads the same roster may make the same changes again, so the
output suggests pausing the district until the SIS is fixed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from directory import audit
from directory.audit import Actor
from directory.db import session_factory, transaction
from directory.errors import InvalidInput, NotFound
from directory.lock import SOURCE_NAMES
from directory.models import (ARCHIVED, AuditEntry, Classroom, ClassroomTeacher, District, Enrollment, Guardian,
                              GuardianLink, Invitation, School, Student, SyncRun, Teacher, utcnow)
from sync import lease
from sync.changes import FIELDS
from sync.logs import bind_district, bind_run_id
from sync.rollback_plan import PAIR_ENDS, Entry, Plan, gone_status, plan_rollback
from sync.rollback_plan import Conflict as PlanConflict
from sync.run import RunInProgress

log = structlog.get_logger("rostersync.rollback")

MODELS = {"school": School, "teacher": Teacher, "classroom": Classroom, "student": Student, "guardian": Guardian}
PAIR_MODELS = {"enrollments": (Enrollment, "classroom_id", "student_id"),
               "classroom_teachers": (ClassroomTeacher, "classroom_id", "teacher_id"),
               "guardian_links": (GuardianLink, "guardian_id", "student_id")}
ROLLED_BACK = "rolled_back"
NAMES_PER_LIST = 100  # records listed per kind and reversal (counts are always complete), as in run reports
CHUNK = 500


@dataclass
class RollbackOutcome:
    result: dict
    refused: bool = False


class _Abandon(Exception):
    """Leave the transaction without writing: a dry run, or a refusal."""

    def __init__(self, result: dict):
        super().__init__("abandoned")
        self.result = result


def _chunks(items: list, n: int = CHUNK):
    for at in range(0, len(items), n):
        yield items[at:at + n]


def _entry(row: AuditEntry) -> Entry:
    return Entry(row.id, row.action, row.entity, row.entity_id, row.before, row.after, row.actor_type, row.actor,
                 row.run_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def rollback_run(engine: Engine, run_id: int, actor_name: str, reason: str, *, force: bool = False,
                 dry_run: bool = False) -> RollbackOutcome:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a rollback needs a reason (--reason): it goes to the audit log")
    factory = session_factory(engine)
    holder = lease.make_holder()
    try:
        with transaction(factory) as s:
            return RollbackOutcome(_rollback(s, run_id, Actor("support", actor_name, reason=reason, run_id=run_id),
                                             holder, force=force, dry_run=dry_run))
    except _Abandon as abandoned:
        return RollbackOutcome(abandoned.result, refused=abandoned.result["status"] == "refused")


def _check_run(s: Session, run_id: int) -> tuple[SyncRun, District]:
    run = s.get(SyncRun, run_id)
    if run is None:
        raise NotFound(f"unknown run {run_id}")
    district = s.get(District, run.district_id)
    bind_district(district.slug)
    bind_run_id(run_id)
    if run.status == ROLLED_BACK:
        done = (run.report or {}).get("rolled_back") or {}
        raise InvalidInput(f"run {run_id} of {district.slug} was already rolled back"
                           + (f" by {done['by']} at {done['at'][:19]} ({done.get('reason')})" if done.get("by") else "")
                           + ": nothing to do")
    if run.dry_run:
        raise InvalidInput(f"run {run_id} was a dry run: it changed nothing, so there is nothing to roll back")
    if run.status == "failed":
        raise InvalidInput(f"run {run_id} failed: it changed nothing, so there is nothing to roll back")
    if run.status not in ("succeeded", "held"):
        raise InvalidInput(f"run {run_id} is {run.status}: only a finished run can be rolled back")
    return run, district


def _rollback(s: Session, run_id: int, actor: Actor, holder: str, *, force: bool, dry_run: bool) -> dict:
    run, district = _check_run(s, run_id)
    if not dry_run:
        busy = lease.acquire(s, district.id, holder, run.id)
        if busy is not None:
            raise RunInProgress(f"a sync of {district.slug} is in progress (run {busy.run_id} on "
                                f"{busy.holder.rsplit(':', 1)[0]}); roll back when it has finished")
    own = [_entry(e) for e in s.scalars(select(AuditEntry).where(
        AuditEntry.district_id == district.id, AuditEntry.run_id == run.id, AuditEntry.actor_type == "sync",
        AuditEntry.action.like("sync.%")).order_by(AuditEntry.id))]
    invitations = _invitations(s, district.id, run.id)
    if not own and not invitations:
        raise InvalidInput(f"run {run_id} of {district.slug} changed nothing in the directory: nothing to roll back")
    later, earlier_links, rolled_back = _history(s, district.id, own)
    keys = _keys(s, district.id, run.source)
    plan = plan_rollback(own, later, keys, earlier_links, rolled_back)
    labels = _labels(s, district.id, plan)
    _leave_out_missing(plan, labels)

    result = {"run_id": run.id, "district": district.slug, "source": run.source, "run_status": run.status,
              "run_started_at": _iso(run.started_at), "dry_run": dry_run, "forced": force, "reason": actor.reason,
              "by": actor.name, "counts": plan.counts(), **_describe(plan, labels),
              "invitations": _invitation_summary(invitations), "notes": []}
    # A rollback does not change the source: a sync that reads the same roster makes the same changes.
    result["notes"].append(f"if the source ({SOURCE_NAMES.get(run.source, run.source)}) still holds the roster run "
                           f"{run.id} applied, a later sync may make the same changes again: "
                           f"`rostersync pause {district.slug} --reason ...` stops syncing until the SIS is fixed")
    if dry_run:
        result["status"] = "dry_run"
        raise _Abandon(result)
    if plan.conflicts and not force:
        result["status"] = "refused"
        log.info("rollback_refused", conflicts=len(plan.conflicts))
        raise _Abandon(result)

    now = utcnow()
    applier = _Applier(s, district.id, run.source, actor, now)
    applier.pairs(plan)
    applier.records(plan)
    cancelled = _cancel_invitations(s, run.id, [i["id"] for i in invitations if i["status"] == "queued"])
    result["invitations"] = _invitation_summary(_invitations(s, district.id, run.id), cancelled)
    if cancelled:
        audit.record(s, actor, "rollback.invitations", "run", run.id, district.id,
                     after={"cancelled": sorted(cancelled)})
    result["status"] = ROLLED_BACK
    _mark_run(s, run, actor, now, result, len(plan.conflicts))
    lease.release(s, district.id, holder)
    log.info("rollback_applied", counts=result["counts"], forced=force, conflicts=len(plan.conflicts),
             invitations_cancelled=len(cancelled))
    return result


# -- loading ---------------------------------------------------------------------------------------------

def _history(s: Session, district_id: int, own: list[Entry]) -> tuple[list[Entry], list[Entry], set[int]]:
    """What the planner weighs the run's entries against: every later entry of the district, the earlier
    entries that set guardian links' relationships (only when the run removed or changed links), and the
    runs already rolled back."""
    if not own:
        return [], [], set()
    later = [_entry(e) for e in s.scalars(select(AuditEntry).where(
        AuditEntry.district_id == district_id, AuditEntry.id > own[0].id).order_by(AuditEntry.id))]
    link_entries = [e for e in own if e.entity == "guardian_links"
                    and ((e.after or {}).get("removed") or (e.after or {}).get("updated"))]
    earlier_links = [] if not link_entries else [_entry(e) for e in s.scalars(select(AuditEntry).where(
        AuditEntry.district_id == district_id, AuditEntry.entity == "guardian_links",
        AuditEntry.action.in_(("sync.memberships", "rollback.memberships")),
        AuditEntry.id < link_entries[-1].id).order_by(AuditEntry.id))]
    rolled_back = set(s.scalars(select(SyncRun.id).where(SyncRun.district_id == district_id,
                                                          SyncRun.status == ROLLED_BACK)))
    return later, earlier_links, rolled_back


def _keys(s: Session, district_id: int, source: str) -> dict[str, dict[str, int]]:
    """External id -> row id of every record (any status) the source owns, per entity; and for guardians
    ``row:ID`` -> ID of every guardian of the district, the name a run gives an account it linked."""
    keys = {entity: {key: row_id for row_id, key in s.execute(select(model.id, model.external_id).where(
        model.district_id == district_id, model.source == source))} for entity, model in MODELS.items()}
    keys["guardian"].update((f"row:{row_id}", row_id) for row_id in s.scalars(
        select(Guardian.id).where(Guardian.district_id == district_id)))
    return keys


def _leave_out_missing(plan: Plan, labels: dict) -> None:
    """Records the run changed that are no longer in the directory (deleted since by retention) are left
    out, and said so: there is nothing to put back."""
    missing: dict[str, int] = defaultdict(int)
    for r in plan.records:
        if (r.entity, r.row_id) not in labels:
            missing[r.entity] += 1
    if not missing:
        return
    plan.records = [r for r in plan.records if (r.entity, r.row_id) in labels]
    plan.conflicts = [c for c in plan.conflicts if c.entity in PAIR_ENDS or (c.entity, c.ids[0]) in labels]
    plan.warnings += [f"{n} {entity}(s) the run changed are no longer in the directory (deleted since): left out"
                      for entity, n in missing.items()]


def _name_columns(model):
    return (model.name,) if model in (School, Classroom) else (model.given_name, model.family_name)


def _labels(s: Session, district_id: int, plan: Plan) -> dict[tuple[str, int], dict]:
    """(entity, row id) -> {kind, id, external_id, name} for every record the plan names."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for r in plan.records:
        wanted[r.entity].add(r.row_id)
    for p in plan.pairs:
        for entity, row_id in zip(PAIR_ENDS[p.kind], p.ids):
            wanted[entity].add(row_id)
    out: dict[tuple[str, int], dict] = {}
    for entity, ids in wanted.items():
        model = MODELS[entity]
        for chunk in _chunks(sorted(ids)):
            for row_id, key, *names in s.execute(select(model.id, model.external_id, *_name_columns(model))
                                                 .where(model.id.in_(chunk), model.district_id == district_id)):
                out[(entity, row_id)] = _label(entity, row_id, key, names)
    return out


def _label(entity: str, row_id: int, key: str | None, names) -> dict:
    # A guardian without a source id is keyed by their email or phone: never shown (contact details).
    shown = None if key is None or key.startswith(("email:", "phone:")) else key
    return {"kind": entity, "id": row_id, "external_id": shown,
            "name": " ".join(n for n in names if n).strip() or "(no name)"}


def _invitations(s: Session, district_id: int, run_id: int) -> list[dict]:
    rows = s.execute(select(Invitation.id, Invitation.guardian_id, Invitation.kind, Invitation.status,
                            Invitation.channel, Invitation.sent_at, Guardian.given_name, Guardian.family_name,
                            Guardian.external_id)
                     .join(Guardian, Guardian.id == Invitation.guardian_id)
                     .where(Invitation.district_id == district_id, Invitation.run_id == run_id)
                     .order_by(Invitation.id))
    return [{"id": i, "guardian_id": g, "kind": kind, "status": status, "channel": channel, "sent_at": _iso(sent),
             "guardian": _label("guardian", g, key, (given, family))["name"]}
            for i, g, kind, status, channel, sent, given, family, key in rows]


# -- output ----------------------------------------------------------------------------------------------

def _describe(plan: Plan, labels: dict) -> dict:
    """The plan as JSON: records and pairs (named, capped per list), conflicts and warnings (all)."""
    def label(entity, row_id):
        return labels.get((entity, row_id)) or {"kind": entity, "id": row_id, "external_id": None,
                                                "name": "(not in the directory)"}

    records, pairs, omitted = [], [], 0
    listed: dict[tuple, int] = defaultdict(int)
    for r in plan.records:
        listed[(r.entity, r.undo)] += 1
        if listed[(r.entity, r.undo)] > NAMES_PER_LIST:
            omitted += 1
            continue
        item = {**label(r.entity, r.row_id), "undo": r.undo, "action": r.describe()}
        if r.fields:
            item["fields"] = [name for name, _ in r.fields]
        records.append(item)
    for p in plan.pairs:
        listed[(p.kind, p.undo)] += 1
        if listed[(p.kind, p.undo)] > NAMES_PER_LIST:
            omitted += 1
            continue
        pairs.append({"kind": p.kind, "ends": [label(e, i) for e, i in zip(PAIR_ENDS[p.kind], p.ids)],
                      "undo": p.undo, "action": p.describe()})
    return {"records": records, "pairs": pairs, "omitted": omitted,
            "conflicts": [_conflict(c, label) for c in plan.conflicts], "warnings": plan.warnings}


def _conflict(c: PlanConflict, label) -> dict:
    if c.entity in PAIR_ENDS:
        out = {"kind": c.entity, "ends": [label(e, i) for e, i in zip(PAIR_ENDS[c.entity], c.ids)]}
    else:
        out = label(c.entity, c.ids[0])
    return {**out, "would": c.changes, "touched_by": c.touched_by}


def _invitation_summary(invitations: list[dict], cancelled: list[int] | None = None) -> dict:
    """Queued ones are cancelled (or would be, in a dry run); sent ones cannot be unsent: listed."""
    def brief(i: dict) -> dict:
        return {k: i[k] for k in ("id", "guardian_id", "guardian", "kind", "channel", "sent_at", "status")}

    if cancelled is None:
        cancelled = [i["id"] for i in invitations if i["status"] == "queued"]
    gone = set(cancelled)
    return {"cancelled": [brief(i) for i in invitations if i["id"] in gone],
            "sent": [brief(i) for i in invitations if i["status"] in ("sent", "in_doubt")],
            "in_flight": [brief(i) for i in invitations if i["status"] == "claimed"],
            "not_sent": sum(1 for i in invitations if i["id"] not in gone
                            and i["status"] not in ("sent", "in_doubt", "claimed"))}


# -- applying --------------------------------------------------------------------------------------------

class _Applier:
    """The plan's writes, set-based where a run can be large (created records, memberships)."""

    def __init__(self, s: Session, district_id: int, source: str, actor: Actor, now: datetime):
        self.s, self.district_id, self.source, self.actor, self.now = s, district_id, source, actor, now
        self.conn = s.connection()

    def _audit(self, action: str, entity: str, entity_id: int | None, before=None, after=None) -> None:
        audit.record(self.s, self.actor, action, entity, entity_id, self.district_id, before=before, after=after)

    def pairs(self, plan: Plan) -> None:
        by_kind: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for p in plan.pairs:
            by_kind[p.kind][p.undo].append(p)
        for kind, groups in by_kind.items():
            model, a_col, b_col = PAIR_MODELS[kind]
            table = model.__table__
            # Only the copy the sync owns: a hand-made pair the run found already there is left alone.
            self._delete_pairs(table, a_col, b_col, [p.ids for p in groups["added"]])
            back = [{a_col: p.ids[0], b_col: p.ids[1], "source": self.source,
                     **({"relationship": p.values[0], "contact_type": p.values[1]} if kind == "guardian_links" else {})}
                    for p in groups["removed"]]
            for chunk in _chunks(back, 5000):
                insert = postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert
                self.conn.execute(insert(table).on_conflict_do_nothing(), chunk)
            if groups["updated"]:
                self.conn.execute(update(table).where(table.c.guardian_id == bindparam("_a"),
                                                      table.c.student_id == bindparam("_b"))
                                  .values(relationship=bindparam("_rel"), contact_type=bindparam("_type")),
                                  [{"_a": p.ids[0], "_b": p.ids[1], "_rel": p.values[0], "_type": p.values[1]}
                                   for p in groups["updated"]])
            # Named as the run's own entry names them (sync.memberships: what this entry did to the directory),
            # with the values links were given, which a rollback of an earlier run reads back.
            after = {"added": sorted(list(p.keys) for p in groups["removed"]),
                     "removed": sorted(list(p.keys) for p in groups["added"]),
                     **({"updated": sorted(list(p.keys) for p in groups["updated"])} if groups["updated"] else {})}
            if kind == "guardian_links":
                after["values"] = sorted(([*p.keys, *p.values] for p in groups["removed"] + groups["updated"]),
                                         key=lambda row: row[:2])
            self._audit("rollback.memberships", kind, None, after=after)

    def _delete_pairs(self, table, a_col: str, b_col: str, pairs: list[tuple[int, int]]) -> None:
        if self.conn.dialect.name == "postgresql":
            # One statement per 10,000 pairs: psycopg runs an executemany as one DELETE per pair, and undoing a
            # first sync removes hundreds of thousands.
            sql = text(f"DELETE FROM {table.name} t USING unnest(CAST(:a AS integer[]), CAST(:b AS integer[])) "
                       f"AS x(a, b) WHERE t.{a_col} = x.a AND t.{b_col} = x.b AND t.source = :source")
            for chunk in _chunks(pairs, 10_000):
                self.conn.execute(sql, {"a": [a for a, _ in chunk], "b": [b for _, b in chunk],
                                        "source": self.source})
            return
        statement = delete(table).where(table.c[a_col] == bindparam("_a"), table.c[b_col] == bindparam("_b"),
                                        table.c.source == self.source)
        for chunk in _chunks(pairs, 10_000):
            self.conn.execute(statement, [{"_a": a, "_b": b} for a, b in chunk])

    def records(self, plan: Plan) -> None:
        current = self._current(plan)
        status_moves: dict[tuple[str, str], list[int]] = defaultdict(list)
        created: dict[str, list[int]] = defaultdict(list)
        for r in plan.records:
            now_row = current.get((r.entity, r.row_id))
            if now_row is None:
                continue  # left out of the plan already (_leave_out_missing); never a row of another district
            if r.undo == "update":
                changed = {name: value for name, value in r.fields if now_row[name] != value}
                if changed:
                    model = MODELS[r.entity]
                    self.conn.execute(update(model.__table__).where(model.__table__.c.id == r.row_id)
                                      .values(**changed, updated_at=self.now))
                    self._audit("rollback.update", r.entity, r.row_id, before={k: now_row[k] for k in changed},
                                after=changed)
                continue
            if r.undo == "adopt":
                if now_row["source"] is not None:
                    model = MODELS[r.entity]
                    self.conn.execute(update(model.__table__).where(model.__table__.c.id == r.row_id)
                                      .values(source=None, external_id=None, updated_at=self.now))
                    self._audit("rollback.adopt", r.entity, r.row_id,
                                before={"source": now_row["source"], "external_id": now_row["external_id"]},
                                after={"source": None, "external_id": None})
                continue
            if now_row["status"] == r.status:
                continue  # already so (a later change did it; --force)
            status_moves[(r.entity, r.status)].append(r.row_id)
            if r.undo == "create":
                created[r.entity].append(r.row_id)
            else:
                self._audit(f"rollback.{r.undo}", r.entity, r.row_id, before={"status": now_row["status"]},
                            after={"status": r.status})
        for (entity, status), ids in status_moves.items():
            model = MODELS[entity]
            values = {"status": status, "updated_at": self.now}
            if model is Student:
                values["archived_at"] = self.now if status == ARCHIVED else None
            for chunk in _chunks(ids, 5000):
                self.conn.execute(update(model.__table__).where(model.__table__.c.id.in_(chunk)).values(values))
        for entity, ids in created.items():
            # One entry per kind, as the run's sync.create was: a big first sync stays a few audit rows.
            self._audit("rollback.create", entity, None, after={"status": gone_status(entity), "count": len(ids),
                                                                "ids": sorted(ids)})

    def _current(self, plan: Plan) -> dict[tuple[str, int], dict]:
        wanted: dict[str, set[int]] = defaultdict(set)
        for r in plan.records:
            wanted[r.entity].add(r.row_id)
        out: dict[tuple[str, int], dict] = {}
        for entity, ids in wanted.items():
            model = MODELS[entity]
            names = ("status", "source", "external_id", *FIELDS[entity + "s"])
            for chunk in _chunks(sorted(ids)):
                for row in self.s.execute(select(model.id, *(getattr(model, n) for n in names))
                                          .where(model.id.in_(chunk), model.district_id == self.district_id)):
                    out[(entity, row[0])] = dict(zip(names, row[1:]))
        return out


def _cancel_invitations(s: Session, run_id: int, ids: list[int]) -> list[int]:
    """Queued invitations of the run are cancelled, so no relay sends them; returns those it cancelled.

    Conditional on ``queued``, like a relay's claim, so one a relay took meanwhile is not counted (it is
    reported as being sent); the relay also cancels an invitation whose guardian was removed.
    """
    for chunk in _chunks(ids):
        s.execute(update(Invitation).where(Invitation.id.in_(chunk), Invitation.status == "queued")
                  .values(status="cancelled", error=f"run {run_id} was rolled back before it was sent")
                  .execution_options(synchronize_session=False))
    done: list[int] = []
    for chunk in _chunks(ids):
        done += s.scalars(select(Invitation.id).where(Invitation.id.in_(chunk), Invitation.status == "cancelled"))
    return sorted(done)


def _mark_run(s: Session, run: SyncRun, actor: Actor, now: datetime, result: dict, overridden: int) -> None:
    report = dict(run.report or {})
    summary = {"by": actor.name, "at": now.isoformat(), "reason": actor.reason, "forced": result["forced"],
               "conflicts_overridden": overridden, "counts": result["counts"],
               "invitations_cancelled": len(result["invitations"]["cancelled"]),
               "invitations_sent": len(result["invitations"]["sent"]), "previous_status": run.status}
    report.update(status=ROLLED_BACK, directory_state=ROLLED_BACK, rolled_back=summary,
                  directory=f"the directory was updated, then this run was rolled back by {actor.name} on "
                            f"{now:%Y-%m-%d %H:%M} UTC: its changes were undone")
    previous = run.status
    s.execute(update(SyncRun).where(SyncRun.id == run.id).values(status=ROLLED_BACK, report=report)
              .execution_options(synchronize_session=False))
    audit.record(s, actor, "rollback.run", "run", run.id, run.district_id, before={"status": previous},
                 after={"status": ROLLED_BACK, "forced": result["forced"], "conflicts_overridden": overridden,
                        "counts": result["counts"]})


def refusal_message(result: dict, shown: int = 5) -> str:
    """One line for stderr: the records in conflict (the first few) and what to do."""
    conflicts = result["conflicts"]
    names = []
    for c in conflicts[:shown]:
        if "ends" in c:
            what = " / ".join(f"{e['kind']} {e['external_id'] or e['id']} ({e['name']})" for e in c["ends"])
            what = f"{c['kind'].replace('_', ' ')} {what}"
        else:
            what = f"{c['kind']} {c['external_id'] or c['id']} ({c['name']})"
        names.append(f"{what} changed since by {', '.join(c['touched_by'])}")
    more = f"; and {len(conflicts) - shown} more" if len(conflicts) > shown else ""
    return (f"run {result['run_id']} was not rolled back: {len(conflicts)} record(s) it changed were changed again "
            f"later: {'; '.join(names)}{more}. `--force` rolls back anyway (a later change to the same field or "
            "membership is undone too); `--dry-run` shows the whole plan")
