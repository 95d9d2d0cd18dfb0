"""Signing in and out, and the account page (password is set from the CLI; the API token here)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from directory.audit import Actor
from sqlalchemy import select

from directory.models import District, School, WebUser
from sync.web import csrf
from sync.web.access import Principal
from sync.web.accounts import authenticate, issue_token
from sync.web.deps import current_user, get_db
from sync.web.passwords import session_stamp
from sync.web.ui import render

log = structlog.get_logger("rostersync.web")
router = APIRouter(dependencies=[Depends(csrf.protect)], include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect would let a phishing link borrow our sign-in page."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/login")
def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", user=None, next=safe_next(next), email="", error=None)


@router.post("/login")
def login(request: Request, email: str = Form(""), password: str = Form(""), next: str = Form("/"),
          db: Session = Depends(get_db)):
    user = authenticate(db, email, password)
    if user is None:
        log.info("web_login_failed")  # no email in the log: it may be a password typed in the wrong field
        return render(request, "login.html", status_code=401, user=None, next=safe_next(next), email=email,
                      error="That email and password do not match an active account.")
    # A fresh session at sign-in (no fixation): only the account id, the password stamp and a new token.
    request.session.clear()
    request.session.update({"uid": user.id, "stamp": session_stamp(user.password_hash)})
    csrf.rotate(request.session)
    log.info("web_login", user_id=user.id, role=user.role)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _account(db: Session, p: Principal) -> dict:
    user = db.get(WebUser, p.user_id)
    district = db.get(District, p.district_id) if p.district_id else None
    return {"email": p.email, "role": p.role, "district": district.name if district else None,
            "has_token": bool(user.token_hash),
            "schools": list(db.scalars(select(School.name).where(School.id.in_(sorted(p.school_ids)))
                                       .order_by(School.name))) if p.school_ids else []}


@router.get("/account")
def account_page(request: Request, p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    return render(request, "account.html", account=_account(db, p), token=None)


@router.post("/account/token")
def new_token(request: Request, p: Principal = Depends(current_user), db: Session = Depends(get_db)):
    token = issue_token(db, Actor("user", p.email), db.get(WebUser, p.user_id))
    # Shown in this response only (never in a cookie or a redirect), and not kept by any cache.
    response = render(request, "account.html", account=_account(db, p), token=token)
    response.headers["Cache-Control"] = "no-store"
    return response
