"""The pages: districts and their sync health, a district's runs, a run's report, a school's directory,
held runs; and the buttons support staff press (resync, approve, archive/restore with the lock)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from directory.errors import NotFound, RostersyncError
from directory.models import District, School, Student, SyncRun, utcnow
from messaging.unreachable import unreachable_by_school
from sync.report_render import render_csv, render_html
from sync.web import actions, csrf, queries
from sync.web.access import (Principal, can_approve, can_change_roster, can_resync, can_see_district,
                             can_see_school, sees_whole_district)
from sync.web.deps import current_user, forbid, get_db
from sync.web.directory_view import is_locked, lock_table, school_directory, source_label
from sync.web.report_view import Filters, filter_page, page_context, school_options
from sync.web.ui import flash, render

router = APIRouter(dependencies=[Depends(csrf.protect)], include_in_schema=False)
UNREACHABLE_PER_SCHOOL = 50


def _district(db: Session, slug: str, p: Principal) -> District:
    from directory.districts import get_district

    try:
        district = get_district(db, slug)
    except NotFound:
        raise HTTPException(status_code=404, detail=f"There is no district {slug!r}.") from None
    forbid(can_see_district(p, district.id), "this district")
    return district


def _run(db: Session, run_id: int, p: Principal) -> tuple[SyncRun, District]:
    run = db.get(SyncRun, run_id)
    if run is None:
        raise HTTPException(status_code=404, detail=f"There is no run {run_id}.")
    forbid(can_see_district(p, run.district_id), "this run")
    return run, db.get(District, run.district_id)


def _school(db: Session, school_id: int, p: Principal) -> tuple[School, District]:
    school = db.get(School, school_id)
    if school is None:
        raise HTTPException(status_code=404, detail=f"There is no school {school_id}.")
    forbid(can_see_school(p, school.district_id, school.id), "this school")
    return school, db.get(District, school.district_id)


# -- districts ------------------------------------------------------------------------------------------

@router.get("/")
def districts_page(request: Request, p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    districts = queries.visible_districts(db, p)
    rows = queries.district_health(db, districts, utcnow())
    held = queries.held_runs(db, [d.id for d in districts if sees_whole_district(p, d.id)])
    return render(request, "districts.html", rows=rows, held=held)


@router.get("/districts/{slug}")
def district_page(request: Request, slug: str, before: int | None = None, p: Principal = Depends(current_user),
                  db: Session = Depends(get_db)):
    district = _district(db, slug, p)
    health = queries.district_health(db, [district], utcnow())[0]
    schools = [s for s in queries.schools_of(db, district.id) if can_see_school(p, district.id, s.id)]
    runs = queries.runs_of(db, district.id, limit=50, before=before)
    rows = [queries.run_row(r, queries.report_for(db, p, r)) for r in runs]
    held = queries.held_runs(db, [district.id]) if sees_whole_district(p, district.id) else []
    return render(request, "district.html", district=district, health=health, schools=schools, runs=rows,
                  held=held, whole=sees_whole_district(p, district.id), can_resync=can_resync(p),
                  older=runs[-1].id if len(runs) == 50 else None, source_label=source_label)


@router.post("/districts/{slug}/resync")
def resync(request: Request, slug: str, reason: str = Form(""), p: Principal = Depends(current_user),
           db: Session = Depends(get_db)):
    _district(db, slug, p)
    forbid(can_resync(p), "resync: only support staff may")
    app = request.app.state
    try:
        started = actions.start_resync(app.engine, app.url, app.runs, slug, reason, p)
    except RostersyncError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"Resync of {slug} queued for a worker (job {started.job_id})." if started.mode == "workers"
              else f"Resync of {slug} started. It shows in the list below; reload to follow it.")
    return RedirectResponse(f"/districts/{slug}", status_code=303)


@router.get("/held")
def held_page(request: Request, p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    districts = [d for d in queries.visible_districts(db, p) if sees_whole_district(p, d.id)]
    return render(request, "held.html", held=queries.held_runs(db, [d.id for d in districts]),
                  can_approve=can_approve(p))


# -- a run ------------------------------------------------------------------------------------------------

def _unreachable(db: Session, report: dict, district_id: int, p: Principal, f: Filters) -> tuple[list[dict], bool]:
    """Guardians messages cannot reach, per school: as the run recorded them (reports made since messaging
    records them), else as the directory is now; (schools, whether it is the run's own list)."""
    recorded = "unreachable" in report
    schools = (report.get("unreachable") or []) if recorded else unreachable_by_school(db, district_id)
    out = []
    for school in schools:
        if not can_see_school(p, district_id, school.get("school_id")):
            continue
        if f.school and school.get("external_id") != f.school:
            continue
        guardians = school["guardians"]
        if f.q:
            needle = f.q.casefold()
            guardians = [g for g in guardians if needle in g["name"].casefold()
                         or any(needle in s.casefold() for s in g["students"])]
        if guardians:
            out.append({**school, "guardians": guardians[:UNREACHABLE_PER_SCHOOL],
                        "unreachable_count": sum(bool(g.get("unreachable")) for g in guardians),
                        "more": max(len(guardians) - UNREACHABLE_PER_SCHOOL, 0), "count": len(guardians)})
    return out, recorded


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int, q: str | None = None, school: str | None = None,
             action: str | None = None, kind: str | None = None, severity: str | None = None,
             p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    run, district = _run(db, run_id, p)
    report = queries.report_for(db, p, run)
    filters = Filters.of(q, school, action, kind, severity)
    page = filter_page(page_context(report, queries.trend_for(db, p, run)), filters)
    approvable = (run.status == "held" and not run.dry_run and can_approve(p)
                  and queries.newer_run(db, run) is None)
    unreachable, recorded = _unreachable(db, report, district.id, p, filters)
    return render(request, "run.html", run=run, district=district, page=page, filters=filters,
                  schools=school_options(report), unreachable=unreachable, unreachable_recorded=recorded,
                  approvable=approvable, filtered=not sees_whole_district(p, district.id),
                  superseded=queries.newer_run(db, run) if run.status == "held" else None)


def _download(report: dict, district: District, run: SyncRun, body: str, ext: str, media: str) -> Response:
    name = f"rostersync-{district.slug}-run-{run.id}.{ext}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if ext == "html":
        # The report page styles itself inline and runs nothing; this policy says exactly that.
        headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    return Response(body, media_type=media, headers=headers)


@router.get("/runs/{run_id}/report.csv")
def report_csv(run_id: int, p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    run, district = _run(db, run_id, p)
    report = queries.report_for(db, p, run)
    return _download(report, district, run, render_csv(report), "csv", "text/csv; charset=utf-8")


@router.get("/runs/{run_id}/report.html")
def report_html(run_id: int, p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    run, district = _run(db, run_id, p)
    report = queries.report_for(db, p, run)
    body = render_html(report, queries.trend_for(db, p, run))
    return _download(report, district, run, body, "html", "text/html; charset=utf-8")


@router.post("/runs/{run_id}/approve")
def approve(request: Request, run_id: int, reason: str = Form(""), p: Principal = Depends(current_user),
            db: Session = Depends(get_db)):
    _run(db, run_id, p)
    forbid(can_approve(p), "approve runs: only support staff may")
    try:
        report = actions.approve(request.app.state.engine, run_id, p, reason)
    except RostersyncError as exc:
        flash(request, str(exc), "error")
    else:
        archived = report["approved"]["archived"]
        done = ", ".join(f"{n} {kind}" for kind, n in archived.items()) or "nothing left to archive"
        flash(request, f"Run {run_id} approved: archived {done}.")
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


# -- a school's directory ---------------------------------------------------------------------------------

@router.get("/schools/{school_id}")
def school_page(request: Request, school_id: int, q: str = "", archived: bool = False, page: int = 1,
                p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    school, district = _school(db, school_id, p)
    data = school_directory(db, school, q=q[:100], include_archived=archived, page=page)
    locks = lock_table(district, school)
    return render(request, "school.html", school=school, district=district, data=data, locks=locks, q=q,
                  archived=archived, source=source_label(school.source),
                  can_archive=can_change_roster(p, district.id, school.id, is_locked(district, school,
                                                                                     "archive student")),
                  can_restore=can_change_roster(p, district.id, school.id, is_locked(district, school,
                                                                                     "restore student")),
                  locked_any=any(r["locked"] for r in locks), support=p.is_support)


@router.post("/schools/{school_id}/students/{student_id}/{verb}")
def student_action(request: Request, school_id: int, student_id: int, verb: str, reason: str = Form(""),
                   p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    if verb not in ("archive", "restore"):
        raise HTTPException(status_code=404, detail="Unknown action.")
    school, district = _school(db, school_id, p)
    student = db.get(Student, student_id)
    if student is None or student.school_id != school.id:
        raise HTTPException(status_code=404, detail=f"There is no student {student_id} in this school.")
    function = f"{verb} student"
    forbid(can_change_roster(p, district.id, school.id, is_locked(district, school, function)),
           f"{function} here: {school.name} is synced, so only support staff may override the lock")
    name = f"{student.given_name} {student.family_name}"
    try:
        actions.set_student_archived(request.app.state.engine, district.slug, student_id, verb == "archive", p,
                                     reason)
    except RostersyncError as exc:
        flash(request, str(exc), "error")
    else:
        note = " (lock overridden; the audit log keeps your reason)" if is_locked(district, school, function) else ""
        flash(request, f"{name}: {'archived' if verb == 'archive' else 'restored'}{note}.")
    return RedirectResponse(f"/schools/{school_id}?{request.url.query}" if request.url.query
                            else f"/schools/{school_id}", status_code=303)
