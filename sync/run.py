"""One sync run of one district, end to end.

    start    a run row and the district's lease, in one short transaction (refused if a run is going)
    pull     fetch the drop whole and read it (no transaction open while the network is slow)
    decide   in ONE transaction: read the directory, diff (pure), guard (pure), then apply the changes,
             queue the invitations, remember the drop, save the cursor, finish the run row, free the lease
    fail     anything raised before that commit rolls it back whole; the run row then says failed, in
             a transaction of its own, and the directory was not touched

The same function serves `rostersync sync`, `resync`, the scheduler and the workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from connectors.http import ApiCredentialsError, ApiError
from connectors.sftp.csv_reader import DropError as CsvDropError
from connectors.sftp.csv_reader import paused_gc
from connectors.sftp.drops import DropConfigError, DropError
from directory import audit, run_lock
from directory.audit import Actor
from directory.db import session_factory, transaction
from directory.districts import get_district
from directory.errors import ConfigError, RostersyncError
from directory.models import SyncRun, SyncState, TakenDrop, utcnow
from sync import guard, lease
from sync.apply import apply_changes
from sync.changes import DiffSettings
from sync.diff import diff
from messaging.unreachable import unreachable_by_school
from sync.faults import checkpoint
from sync.quiet_night import cursor_entries, skippable_content
from sync.logs import bind_district, bind_run_id
from sync.report import empty_report, per_school, set_directory_state, split_problems
from sync.snapshot import load_snapshot
from sync.sources import pull

log = structlog.get_logger("rostersync.sync")

EXIT_APPLIED, EXIT_FAILED, EXIT_CONFIG, EXIT_HELD = 0, 1, 2, 3


class RunInProgress(RostersyncError):
    exit_code = 1


@dataclass
class RunOutcome:
    run_id: int
    status: str
    report: dict
    exit_code: int


def diff_settings(district) -> DiffSettings:
    return DiffSettings(excluded_contact_types=frozenset(t.lower() for t in district.excluded_contact_types or ()),
                        max_guardians_per_student=district.max_guardians_per_student,
                        sync_manages_guardians=district.sync_manages_guardians,
                        sync_updates_joined_contacts=district.sync_updates_joined_contacts,
                        phone_region=district.phone_region, auto_invite=district.auto_invite,
                        archive_threshold_pct=district.archive_threshold_pct)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def run_sync(engine: Engine, slug: str, *, dry_run: bool = False, full: bool = False, trigger: str = "manual",
             requested_by: str | None = None, reason: str | None = None) -> RunOutcome:
    factory = session_factory(engine)
    holder = lease.make_holder()
    with transaction(factory) as s:
        district = get_district(s, slug)
        if district.source is None:
            raise ConfigError(f"district {slug!r} has no roster source; set one with `rostersync district add "
                              f"{slug} --source ...` or edit it by hand")
        run = SyncRun(district_id=district.id, source=district.source, dry_run=dry_run, trigger=trigger,
                      requested_by=requested_by, reason=reason, status="running",
                      host=holder.rsplit(":", 1)[0], started_at=utcnow())
        s.add(run)
        s.flush()
        busy = lease.acquire(s, district.id, holder, run.id)
        if busy is not None:
            host = busy.holder.rsplit(":", 1)[0]
            # The lease is also held by a rollback or a retention purge, which have no run of their own.
            what = f"a sync of {slug} is already in progress (run {busy.run_id} on {host})" if busy.run_id \
                else f"{slug} is being changed by a rollback or retention purge on {host}"
            raise RunInProgress(f"{what}; try again when it has finished")
        if trigger == "resync":
            audit.record(s, Actor("support", requested_by or "unknown", reason=reason), "sync.resync", "district",
                         district.id, district.id, after={"run_id": run.id})
        district_id, source, config = district.id, district.source, dict(district.source_config or {})
        district_name = district.name
        state = s.get(SyncState, district.id)
        cursor = (state.cursor or {}).get("api") if state else None
        settings = diff_settings(district)
        last_content = None if dry_run or full else skippable_content(s, district.id, state and state.cursor,
                                                                         settings)
        run_id, started = run.id, run.started_at
    bind_district(slug)
    bind_run_id(run_id)
    report = empty_report(run_id=run_id, district=slug, district_name=district_name, source=source,
                          dry_run=dry_run, started_at=_iso(started),
                          trigger=trigger, requested_by=requested_by, reason=reason)
    log.info("sync_started", source=source, dry_run=dry_run, full=full, trigger=trigger)
    t0 = time.monotonic()
    try:
        with pull(source, config, cursor, full, last_content) as pulled:
            report["drop"] = {"source": pulled.description, "fingerprint": pulled.fingerprint,
                              "files": pulled.files, "ignored": pulled.ignored}
            if pulled.fingerprint is None:
                report["drop"]["requests"] = pulled.requests
            report["notes"].extend(pulled.notes)
            log.info("drop_read", files=len(pulled.files), records=pulled.batch.counts())
            # Millions of tuples and records, none in a cycle: the cyclic collector would only walk them again
            # and again as they pile up (as while reading the drop; see csv_reader.paused_gc). Paused for the
            # whole decision and write: measured, a collection during the writes cost seconds at random.
            with paused_gc():
                outcome = _decide_and_apply(factory, district_id, slug, source, run_id, holder, settings, pulled,
                                            report, dry_run=dry_run, full=full, started=started)
            checkpoint("committed")
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the run, then re-sorted below
        return _fail(factory, district_id, run_id, holder, report, exc)
    log.info("sync_finished", status=outcome.status, seconds=round(time.monotonic() - t0, 2),
             counts=report.get("counts"))
    return outcome


def _decide_and_apply(factory, district_id, slug, source, run_id, holder, settings, pulled, report, *, dry_run,
                      full, started) -> RunOutcome:
    batch = pulled.batch
    report["mode"] = batch.mode
    checkpoint("pulled")
    with transaction(factory) as s:
        run_lock.hold_for_run(s, district_id)  # a guardian joining waits until this commits (directory/run_lock.py)
        taken = None if pulled.fingerprint is None else s.scalar(
            select(TakenDrop.run_id).where(TakenDrop.district_id == district_id,
                                           TakenDrop.fingerprint == pulled.fingerprint))
        if pulled.unchanged:
            # The records the last run applied, and nothing else moved since (sync/quiet_night.py). An older
            # drop seen again is read and compared like any other: the directory may have moved on since.
            last = (s.get(SyncState, district_id).cursor or {}).get("last_run_id")
            report["notes"].append(f"this drop holds the records already applied by run {last}: nothing to do "
                                   "(`rostersync resync` reads and compares it again)")
            set_directory_state(report, "unchanged")
            return _finish(s, district_id, run_id, holder, report, "succeeded")

        snapshot = load_snapshot(s, district_id, source)
        checkpoint("snapshot_loaded")
        protected = frozenset(p.record for p in batch.problems if p.severity == "error" and p.record)
        cs = diff(snapshot, batch, settings, protected)
        checkpoint("diffed")
        student_school = {k: r.values[0] for k, r in snapshot.rows["students"].items()}
        decision = guard.decide(cs, snapshot, student_school, settings.archive_threshold_pct)
        held = None
        if decision.hold and cs.removals():
            leaving = [key for _, key in cs.kinds["students"].archives]
            held = guard.split_removals(cs)
            report["held"] = {"schools": decision.schools_over, "threshold_pct": settings.archive_threshold_pct,
                              "students": [{"id": k, "name": f"{snapshot.rows['students'][k].values[1]} "
                                                               f"{snapshot.rows['students'][k].values[2]}",
                                            "school": student_school.get(k)} for k in leaving],
                              "removals": held}
        errors, warnings = split_problems([p.as_dict() for p in batch.problems] + cs.problems)
        report["errors"], report["warnings"] = errors, warnings
        report["counts"] = cs.counts()
        names = {key: row.values[0] for key, row in snapshot.rows["schools"].items()}
        names.update({r.external_id: r.name for r in batch.schools})
        report["schools"] = per_school(cs, snapshot, names, report.get("held", {}).get("students") and
                                       [h["id"] for h in report["held"]["students"]] or [])
        checkpoint("guard_decided")
        log.info("diff_computed", counts=report["counts"], held=held is not None, problems=len(errors) + len(warnings))
        report["unreachable"] = unreachable_by_school(s, district_id)
        if dry_run:
            report["invitations_queued"] = 0
            report["invitations_planned"] = len(cs.invitations)
            set_directory_state(report, "dry_run")
            return _finish(s, district_id, run_id, holder, report, "held" if held else "succeeded")
        now = utcnow()
        report["invitations_queued"] = apply_changes(s, district_id, source, run_id, now, cs, snapshot)
        if pulled.fingerprint is None:
            pass  # an API pull: its cursor (below) says what was taken
        elif taken is None:
            s.add(TakenDrop(district_id=district_id, fingerprint=pulled.fingerprint, run_id=run_id, taken_at=now))
        else:  # a resync applied the same drop again: it now counts as taken by this run
            s.execute(update(TakenDrop).where(TakenDrop.district_id == district_id,
                                              TakenDrop.fingerprint == pulled.fingerprint).values(run_id=run_id))
        state = s.get(SyncState, district_id)
        state.cursor = {**(state.cursor or {}), "last_run_id": run_id,
                        **({"last_drop": pulled.fingerprint} if pulled.fingerprint else {}),
                        **cursor_entries(pulled.content, settings, started, pulled.content_files),
                        **({"api": pulled.cursor} if pulled.cursor is not None else {})}
        set_directory_state(report, "held" if held else ("unchanged" if cs.is_empty() else "updated"))
        checkpoint("applied")
        return _finish(s, district_id, run_id, holder, report, "held" if held else "succeeded")


def _finish(s, district_id, run_id, holder, report, status) -> RunOutcome:
    finished = utcnow()
    report["status"], report["finished_at"] = status, finished.isoformat()
    s.execute(update(SyncRun).where(SyncRun.id == run_id).values(
        status=status, finished_at=finished, report=report, mode=report["mode"])
        .execution_options(synchronize_session=False))
    lease.release(s, district_id, holder)
    return RunOutcome(run_id, status, report, EXIT_HELD if status == "held" else EXIT_APPLIED)


def _classify(exc: BaseException) -> tuple[str, int, str]:
    """(error code, exit code, message) for a failed run."""
    if isinstance(exc, (DropConfigError, ConfigError, ApiCredentialsError)):
        return "configuration", EXIT_CONFIG, str(exc)
    if isinstance(exc, ApiError):
        return "api_unavailable" if exc.retry_later else "api_bad_response", EXIT_FAILED, str(exc)
    if isinstance(exc, (DropError, CsvDropError)):
        code = type(exc).__name__
        return "drop_" + "".join("_" + c.lower() if c.isupper() else c for c in code).strip("_"), EXIT_FAILED, str(exc)
    if isinstance(exc, RostersyncError):
        return type(exc).__name__.lower(), exc.exit_code, str(exc)
    return "internal_error", EXIT_FAILED, f"unexpected {type(exc).__name__}: {exc}"


def _fail(factory, district_id, run_id, holder, report, exc) -> RunOutcome:
    code, exit_code, message = _classify(exc)
    if code == "internal_error":
        log.exception("sync_crashed")
    else:
        log.warning("sync_failed", error=message, code=code)
    error = {"code": code, "message": message}
    for attr in ("file", "line", "column", "record", "field"):
        if getattr(exc, attr, None) is not None:
            error[attr] = getattr(exc, attr)
    report["errors"] = [*report.get("errors", []), error]
    report["counts"] = {}
    set_directory_state(report, "failed")
    with transaction(factory) as s:
        outcome = _finish(s, district_id, run_id, holder, report, "failed")
    return RunOutcome(outcome.run_id, "failed", report, exit_code)
