"""What the pages and the API read: districts and their sync health, runs, reports, held runs (reads only)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.models import (Classroom, ClassroomTeacher, District, Guardian, GuardianLink, School, Student,
                              SyncRun, Teacher)
from sync.report_render import trend_item
from sync.status import aware, district_status
from sync.web.access import Principal, can_see_district, report_filter
from sync.web.report_view import filter_report

TREND_RUNS = 20
_CHUNK = 500  # ids per IN (...) list: far below every database's limit on bound parameters


def _chunks(values: list, size: int = _CHUNK) -> Iterable[list]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def iso(dt: datetime | None) -> str | None:
    return aware(dt).isoformat() if dt else None


def visible_districts(session: Session, p: Principal) -> list[District]:
    return [d for d in session.scalars(select(District).order_by(District.name, District.slug))
            if can_see_district(p, d.id)]


def _describe(now: datetime):
    """The scheduler's own reading of a schedule (text, next run), as `rostersync status` shows it."""
    from sync.schedule import describe, service_timezone

    try:
        tz = service_timezone()
    except ValueError:
        tz = "UTC"
    return lambda t: describe(t, now, tz)


def district_health(session: Session, districts: list[District], now: datetime) -> list[dict]:
    """Per district: `rostersync status`'s keys, plus its name and how many held runs wait for approval."""
    if not districts:
        return []
    rows = district_status(session, now, _describe(now), [d.slug for d in districts])
    held = dict(session.execute(select(SyncRun.district_id, func.count()).where(
        SyncRun.status == "held", SyncRun.dry_run.is_(False)).group_by(SyncRun.district_id)).all())
    by_slug = {d.slug: d for d in districts}
    for row in rows:
        d = by_slug[row["district"]]
        row["name"], row["id"], row["held_runs"], row["source"] = d.name, d.id, held.get(d.id, 0), d.source
    return sorted(rows, key=lambda r: (r["name"].lower(), r["district"]))


def schools_of(session: Session, district_id: int) -> list[School]:
    return list(session.scalars(select(School).where(School.district_id == district_id)
                                .order_by(School.name, School.id)))


def school_keys(session: Session, school_ids: Iterable[int]) -> set[str]:
    """The source's ids of these schools: how a report names them."""
    ids = list(school_ids)
    if not ids:
        return set()
    return {k for k in session.scalars(select(School.external_id).where(School.id.in_(ids))) if k}


def record_schools(session: Session, district_id: int, records: Iterable[str]) -> dict[str, set[str]]:
    """Source record id -> the source ids of the schools it belongs to, for students, classes, teachers
    (through their classes) and guardians (through their children). Records not in the directory map to
    nothing."""
    wanted = sorted({str(r) for r in records if r})
    out: dict[str, set[str]] = defaultdict(set)
    if not wanted:
        return out
    school_key = School.external_id
    for part in _chunks(wanted):
        queries = (
            select(Student.external_id, school_key).join(School, School.id == Student.school_id)
            .where(Student.district_id == district_id, Student.external_id.in_(part)),
            select(Classroom.external_id, school_key).join(School, School.id == Classroom.school_id)
            .where(Classroom.district_id == district_id, Classroom.external_id.in_(part)),
            select(Teacher.external_id, school_key)
            .join(ClassroomTeacher, ClassroomTeacher.teacher_id == Teacher.id)
            .join(Classroom, Classroom.id == ClassroomTeacher.classroom_id)
            .join(School, School.id == Classroom.school_id)
            .where(Teacher.district_id == district_id, Teacher.external_id.in_(part)),
            select(Guardian.external_id, school_key)
            .join(GuardianLink, GuardianLink.guardian_id == Guardian.id)
            .join(Student, Student.id == GuardianLink.student_id).join(School, School.id == Student.school_id)
            .where(Guardian.district_id == district_id, Guardian.external_id.in_(part)),
        )
        for stmt in queries:
            for record, school in session.execute(stmt):
                if school:
                    out[record].add(school)
    return out


def _problem_records(report: dict) -> set[str]:
    return {str(p["record"]) for key in ("errors", "warnings") for p in report.get(key) or []
            if isinstance(p, dict) and p.get("record")}


def report_for(session: Session, p: Principal, run: SyncRun) -> dict:
    """The run's report as this person may see it: whole, or filtered to a leader's schools."""
    report = run.report or {"run_id": run.id, "status": run.status, "district": None,
                            "started_at": iso(run.started_at)}
    only = report_filter(p, run.district_id)
    if only is None:
        return report
    return filter_report(report, school_keys(session, only),
                         record_schools(session, run.district_id, _problem_records(report)))


def runs_of(session: Session, district_id: int, limit: int = 50, before: int | None = None) -> list[SyncRun]:
    stmt = select(SyncRun).where(SyncRun.district_id == district_id)
    if before is not None:
        stmt = stmt.where(SyncRun.id < before)
    return list(session.scalars(stmt.order_by(SyncRun.id.desc()).limit(limit)))


def run_row(run: SyncRun, report: dict) -> dict:
    """One line of a runs list (the API's run object): numbers from the report this person may see."""
    t = trend_item(report) if run.report else {}
    return {"run_id": run.id, "status": run.status, "mode": run.mode, "dry_run": run.dry_run,
            "trigger": run.trigger, "requested_by": run.requested_by, "reason": run.reason,
            "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
            "created": t.get("created", 0), "updated": t.get("updated", 0), "archived": t.get("archived", 0),
            "errors": t.get("errors", 0), "warnings": t.get("warnings", 0),
            "directory": (run.report or {}).get("directory")}


def trend_for(session: Session, p: Principal, run: SyncRun, limit: int = TREND_RUNS) -> list[dict]:
    """The trend items of the last runs up to this one, each from the report this person may see."""
    runs = session.scalars(select(SyncRun).where(SyncRun.district_id == run.district_id, SyncRun.id <= run.id,
                                                 SyncRun.report.is_not(None))
                           .order_by(SyncRun.id.desc()).limit(limit))
    return [trend_item(report_for(session, p, r)) for r in reversed(list(runs))]


def newer_run(session: Session, run: SyncRun) -> int | None:
    """A later real run of the district that did its job: while there is one, this run cannot be approved
    (sync/approve.py's rule, asked here only to decide whether to show the button)."""
    return session.scalar(select(SyncRun.id).where(
        SyncRun.district_id == run.district_id, SyncRun.id > run.id,
        SyncRun.status.in_(("succeeded", "held")), SyncRun.dry_run.is_(False)).limit(1))


def held_runs(session: Session, district_ids: list[int]) -> list[dict]:
    """Runs waiting for approval in these districts, newest first, with whether each can still be approved."""
    if not district_ids:
        return []
    runs = session.scalars(select(SyncRun).where(SyncRun.status == "held", SyncRun.dry_run.is_(False),
                                                 SyncRun.district_id.in_(district_ids))
                           .order_by(SyncRun.id.desc()))
    names = {d.id: d for d in session.scalars(select(District).where(District.id.in_(district_ids)))}
    out = []
    for run in runs:
        held = (run.report or {}).get("held") or {}
        d = names[run.district_id]
        out.append({"run_id": run.id, "district": d.slug, "district_name": d.name,
                    "started_at": iso(run.started_at), "students": len(held.get("students") or []),
                    "threshold_pct": held.get("threshold_pct"),
                    "schools": [s.get("school") for s in held.get("schools") or []],
                    "superseded_by": newer_run(session, run)})
    return out
