"""The JSON API under /api/: the same data and the same roles as the pages, for a bearer token per account.

Documented by the OpenAPI schema at /api/openapi.json (FastAPI builds it from these declarations).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from directory.districts import get_district
from directory.errors import NotFound
from directory.models import District, School, SyncRun, utcnow
from sync.web import actions, queries
from sync.web.access import (Principal, can_approve, can_resync, can_see_district, can_see_school,
                             sees_whole_district)
from sync.web.deps import api_user, forbid, get_db
from sync.web.directory_view import lock_table, school_directory, source_label

router = APIRouter(prefix="/api", tags=["rostersync"])


class LastRun(BaseModel):
    run_id: int
    status: str
    trigger: str | None = None
    dry_run: bool = False
    started_at: str | None = None
    finished_at: str | None = None


class DistrictOut(BaseModel):
    slug: str = Field(description="The district's slug, as in the CLI")
    name: str
    source: str | None = Field(description="Where its roster comes from; null when edited by hand")
    state: str = Field(description="active | paused | manual (no roster source) | bad schedule")
    schedule: str
    last_run: LastRun | None
    next_run: str | None
    in_progress: bool
    held_runs: int = Field(description="Runs waiting for approval (0 for a school leader)")


class SchoolOut(BaseModel):
    id: int
    name: str
    school_number: str | None
    source: str | None
    external_id: str | None
    status: str


class DistrictDetail(DistrictOut):
    schools: list[SchoolOut] = Field(description="The schools this account may see")


class RunOut(BaseModel):
    run_id: int
    status: str = Field(description="running | succeeded | held | failed")
    mode: str
    dry_run: bool
    trigger: str
    requested_by: str | None
    reason: str | None
    started_at: str | None
    finished_at: str | None
    created: int = Field(description="Records created (as far as this account may see)")
    updated: int
    archived: int
    errors: int
    warnings: int
    directory: str | None


class RunDetail(BaseModel):
    district: str
    run: RunOut
    report: dict[str, Any] = Field(description="The run report (README, 'The run report'); for a school leader "
                                               "filtered to their schools, with filtered_to_schools set")


class HeldRun(BaseModel):
    run_id: int
    district: str
    district_name: str
    started_at: str | None
    students: int
    threshold_pct: int | None
    schools: list[str | None]
    superseded_by: int | None = Field(description="A later run that replaced this one: it cannot be approved")


class ResyncIn(BaseModel):
    reason: str = Field(min_length=1, description="Why (kept in the run and the audit log)")


class ResyncOut(BaseModel):
    district: str
    mode: str = Field(description="embedded: started in the web process | workers: queued for a worker")
    job_id: int | None
    already_queued: bool


class ApproveIn(BaseModel):
    reason: str | None = None


class LockOut(BaseModel):
    function: str
    locked: bool
    reason: str | None


class SchoolDirectory(BaseModel):
    school: SchoolOut
    district: str
    synced_from: str
    locks: list[LockOut]
    total: int
    page: int
    pages: int
    students: list[dict[str, Any]] = Field(description="Students with classes and guardians (contacts masked)")
    classrooms: list[dict[str, Any]]


def _district(db: Session, slug: str, p: Principal) -> District:
    try:
        district = get_district(db, slug)
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    forbid(can_see_district(p, district.id), "this district")
    return district


def _run(db: Session, run_id: int, p: Principal) -> SyncRun:
    run = db.get(SyncRun, run_id)
    if run is None:
        raise HTTPException(status_code=404, detail=f"unknown run {run_id}")
    forbid(can_see_district(p, run.district_id), "this run")
    return run


def _school_out(s: School) -> SchoolOut:
    return SchoolOut(id=s.id, name=s.name, school_number=s.school_number, source=s.source,
                     external_id=s.external_id, status=s.status)


def _health(db: Session, p: Principal, districts: list[District]) -> list[dict]:
    rows = queries.district_health(db, districts, utcnow())
    for row in rows:
        if not sees_whole_district(p, row["id"]):
            row["held_runs"] = 0
    return rows


@router.get("/districts", response_model=list[DistrictOut], summary="Districts this account may see, with sync health")
def list_districts(p: Principal = Depends(api_user), db: Session = Depends(get_db)):
    rows = _health(db, p, queries.visible_districts(db, p))
    return [{**r, "slug": r["district"]} for r in rows]


@router.get("/districts/{slug}", response_model=DistrictDetail, summary="One district and its schools")
def one_district(slug: str, p: Principal = Depends(api_user), db: Session = Depends(get_db)):
    district = _district(db, slug, p)
    row = _health(db, p, [district])[0]
    schools = [_school_out(s) for s in queries.schools_of(db, district.id) if can_see_school(p, district.id, s.id)]
    return {**row, "slug": district.slug, "schools": schools}


@router.get("/districts/{slug}/runs", response_model=list[RunOut], summary="A district's runs, newest first")
def district_runs(slug: str, limit: int = Query(20, ge=1, le=200),
                  before: int | None = Query(None, description="Only runs older than this run id (paging)"),
                  p: Principal = Depends(api_user), db: Session = Depends(get_db)):
    district = _district(db, slug, p)
    return [queries.run_row(r, queries.report_for(db, p, r)) for r in queries.runs_of(db, district.id, limit, before)]


@router.get("/runs/{run_id}", response_model=RunDetail, summary="A run with its report JSON")
def one_run(run_id: int, p: Principal = Depends(api_user), db: Session = Depends(get_db)):
    run = _run(db, run_id, p)
    report = queries.report_for(db, p, run)
    return {"district": db.get(District, run.district_id).slug, "run": queries.run_row(run, report), "report": report}


@router.get("/held", response_model=list[HeldRun], summary="Runs waiting for approval")
def held(p: Principal = Depends(api_user), db: Session = Depends(get_db)):
    ids = [d.id for d in queries.visible_districts(db, p) if sees_whole_district(p, d.id)]
    return queries.held_runs(db, ids)


@router.get("/schools/{school_id}", response_model=SchoolDirectory,
            summary="A school's directory, and which manual functions the lock refuses there")
def one_school(school_id: int, q: str = "", archived: bool = False, page: int = Query(1, ge=1),
               p: Principal = Depends(api_user), db: Session = Depends(get_db)):
    school = db.get(School, school_id)
    if school is None:
        raise HTTPException(status_code=404, detail=f"unknown school {school_id}")
    forbid(can_see_school(p, school.district_id, school.id), "this school")
    district = db.get(District, school.district_id)
    data = school_directory(db, school, q=q[:100], include_archived=archived, page=page)
    return {"school": _school_out(school), "district": district.slug, "synced_from": source_label(school.source),
            "locks": lock_table(district, school), **data}


@router.post("/districts/{slug}/resync", response_model=ResyncOut, status_code=202,
             summary="Support: a full sync now (or queued in worker mode), with a reason")
def api_resync(slug: str, request: Request, body: ResyncIn = Body(...), p: Principal = Depends(api_user),
               db: Session = Depends(get_db)):
    _district(db, slug, p)
    forbid(can_resync(p), "resync: only support staff may")
    state = request.app.state
    started = actions.start_resync(state.engine, state.url, state.runs, slug, body.reason, p)
    return {"district": slug, "mode": started.mode, "job_id": started.job_id, "already_queued": started.already_queued}


@router.post("/runs/{run_id}/approve", response_model=RunDetail, summary="Support: apply a held run's removals")
def api_approve(run_id: int, request: Request, body: ApproveIn = Body(default_factory=ApproveIn),
                p: Principal = Depends(api_user), db: Session = Depends(get_db)):
    run = _run(db, run_id, p)
    forbid(can_approve(p), "approve runs: only support staff may")
    report = actions.approve(request.app.state.engine, run_id, p, body.reason)
    district = db.get(District, run.district_id).slug
    return {"district": district, "run": {**queries.run_row(run, report), "status": report["status"]}, "report": report}
