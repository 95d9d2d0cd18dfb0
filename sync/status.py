"""What the database says about each district's runs: read by both schedulers and `rostersync status`.

Reads only. The schedule itself (parsing, slots) is sync/schedule.py's; `district_status` takes a
``describe`` function from it, so this module stays free of scheduling logic (and of an import cycle:
the schedulers import these reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.models import District, SyncRun, SyncState

# Statuses of a run that did its job (a run rolled back later did it too: its slot needs no other run);
# running and failed ones did not.
SERVED = ("succeeded", "held", "rolled_back")


@dataclass(frozen=True)
class DistrictTiming:
    """What the schedule needs to know about one district."""

    slug: str
    schedule: str | None
    paused: bool
    has_source: bool
    last_started: datetime | None  # start of the latest run that was not a dry run


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything rostersync writes is UTC."""
    if dt is None or dt.tzinfo is not None:
        return dt
    return dt.replace(tzinfo=timezone.utc)


def read_timings(session: Session, slugs: Iterable[str] | None = None) -> list[DistrictTiming]:
    """Every district (or the named ones) with the start of its latest real run, in one query."""
    # A dry run changes nothing, so it does not count as the run a slot is owed.
    last = (select(SyncRun.district_id, func.max(SyncRun.started_at).label("started"))
            .where(SyncRun.dry_run.is_(False)).group_by(SyncRun.district_id).subquery())
    stmt = (select(District.slug, District.schedule, District.paused, District.source, last.c.started)
            .outerjoin(last, last.c.district_id == District.id).order_by(District.slug))
    if slugs is not None:
        stmt = stmt.where(District.slug.in_(list(slugs)))
    return [DistrictTiming(slug, schedule, bool(paused), source is not None, aware(started))
            for slug, schedule, paused, source, started in session.execute(stmt)]


def already_served(session: Session, district_id: int, slot: datetime) -> bool:
    """True when a run that started at or after ``slot`` succeeded (or was held): the slot needs no other.

    A run still marked running is not counted: it may be one whose process died, which the next run
    takes over (sync/lease.py); counting it would lose the slot.
    """
    return session.scalar(select(SyncRun.id).where(
        SyncRun.district_id == district_id, SyncRun.dry_run.is_(False), SyncRun.status.in_(SERVED),
        SyncRun.started_at >= slot).limit(1)) is not None


def _iso(dt: datetime | None) -> str | None:
    return aware(dt).isoformat() if dt else None


def _latest_runs(session: Session) -> dict[int, SyncRun]:
    newest = select(func.max(SyncRun.id)).group_by(SyncRun.district_id)
    return {r.district_id: r for r in session.scalars(select(SyncRun).where(SyncRun.id.in_(newest)))}


def _leased(session: Session, now: datetime) -> set[int]:
    rows = session.execute(select(SyncState.district_id, SyncState.lease_expires_at)
                           .where(SyncState.lease_holder.is_not(None)))
    return {district_id for district_id, expires in rows if expires is None or aware(expires) > now}


def district_status(session: Session, now: datetime,
                    describe: Callable[[DistrictTiming], tuple[str, datetime | None]],
                    slugs: Iterable[str] | None = None, queued: dict[str, int] | None = None) -> list[dict]:
    """One dict per district with the stable keys of `rostersync status --json`.

    ``describe`` gives a district's schedule as shown and its next run; ``queued`` (worker mode) the
    number of its jobs waiting in the queue.
    """
    timings = {t.slug: t for t in read_timings(session, slugs)}
    ids = dict(session.execute(select(District.slug, District.id).where(District.slug.in_(list(timings)))).all())
    runs, leased = _latest_runs(session), _leased(session, now)
    rows = []
    for slug, t in timings.items():
        run = runs.get(ids[slug])
        text, when = describe(t)
        state = ("paused" if t.paused else "manual" if not t.has_source else "active" if when else "bad schedule")
        rows.append({
            "district": slug,
            "state": state,  # active | paused | manual (no roster source: not synced) | bad schedule
            "paused": t.paused,
            "schedule": text,
            "last_run": None if run is None else {
                "run_id": run.id, "status": run.status, "trigger": run.trigger, "dry_run": run.dry_run,
                "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at)},
            "next_run": _iso(when),
            "in_progress": ids[slug] in leased,
            "queued": None if queued is None else queued.get(slug, 0),
        })
    return rows


def _ago(then: str | None, now: datetime) -> str:
    if not then:
        return "-"
    seconds = int((datetime.fromisoformat(then) - now).total_seconds())
    span = abs(seconds)
    amount = (f"{span}s" if span < 120 else f"{span // 60}m" if span < 7200 else f"{span // 3600}h"
              if span < 172800 else f"{span // 86400}d")
    return f"in {amount}" if seconds > 0 else ("now" if span < 1 else f"{amount} ago")


def render_table(rows: list[dict], now: datetime, header: str) -> str:
    """The table a person reads: one line per district."""
    lines = [header, ""]
    table = [("DISTRICT", "STATE", "SCHEDULE", "LAST RUN", "NEXT RUN", "IN PROGRESS")]
    for r in rows:
        run = r["last_run"]
        last = "never" if run is None else f"#{run['run_id']} {run['status']} {_ago(run['started_at'], now)}"
        if r["next_run"] is None:
            nxt = "-"
        elif datetime.fromisoformat(r["next_run"]) <= now:  # owed: the scheduler starts it at once
            ago = _ago(r["next_run"], now)
            nxt = "due now" if ago == "now" else "due since " + ago.removesuffix(" ago")
        else:
            nxt = _ago(r["next_run"], now)
        busy = "yes" if r["in_progress"] else "no"
        if r["queued"]:
            busy += f", {r['queued']} queued"
        table.append((r["district"], r["state"], r["schedule"], last, nxt, busy))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join(lines) if rows else header + "\n\nno districts yet"
