"""Web accounts in the database: create, find, sign in, API tokens (the web app's own tables only)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.audit import Actor
from directory.contacts import normalize_email
from directory.districts import get_district
from directory.errors import Duplicate, InvalidInput, NotFound
from directory.models import School, WebUser, WebUserSchool, utcnow
from sync.web.access import Principal, account_problems
from sync.web.passwords import (DUMMY_HASH, check_strength, hash_password, new_token, session_stamp,
                                token_digest, verify_password)


def _schools_of(session: Session, user_id: int) -> frozenset[int]:
    return frozenset(session.scalars(select(WebUserSchool.school_id).where(WebUserSchool.user_id == user_id)))


def principal_of(session: Session, user: WebUser) -> Principal:
    return Principal(user.id, user.email, user.role, user.district_id, _schools_of(session, user.id))


def create_user(session: Session, actor: Actor, email: str, role: str, password: str,
                district_slug: str | None = None, school_ids: list[int] = ()) -> WebUser:
    email = normalize_email(email)
    if email is None:
        raise InvalidInput("an account needs an email address")
    weak = check_strength(password)
    if weak:
        raise InvalidInput(weak)
    district = get_district(session, district_slug) if district_slug else None
    in_district = None
    if district is not None:
        in_district = set(session.scalars(select(School.id).where(School.district_id == district.id)))
    problems = account_problems(role, district.id if district else None, list(school_ids), in_district)
    if problems:
        raise InvalidInput("; ".join(problems))
    if session.scalar(select(WebUser.id).where(WebUser.email == email)) is not None:
        raise Duplicate(f"an account for {email} already exists")
    user = WebUser(email=email, role=role, district_id=district.id if district else None,
                   password_hash=hash_password(password), active=True, created_at=utcnow())
    session.add(user)
    session.flush()
    for school_id in dict.fromkeys(school_ids):
        session.add(WebUserSchool(user_id=user.id, school_id=school_id))
    # The audit log keeps who made which account; never the password or its hash.
    audit.record(session, actor, "web_user.create", "web_user", user.id, user.district_id,
                 after={"email": email, "role": role, "school_ids": sorted(set(school_ids))})
    return user


def get_user(session: Session, email: str) -> WebUser:
    try:
        email = normalize_email(email) or email
    except InvalidInput:
        pass
    user = session.scalar(select(WebUser).where(WebUser.email == email))
    if user is None:
        raise NotFound(f"no account for {email}")
    return user


def list_users(session: Session) -> list[dict]:
    users = list(session.scalars(select(WebUser).order_by(WebUser.email)))
    return [{"id": u.id, "email": u.email, "role": u.role, "district_id": u.district_id,
             "school_ids": sorted(_schools_of(session, u.id)), "active": u.active, "api_token": bool(u.token_hash),
             "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None} for u in users]


def authenticate(session: Session, email: str, password: str) -> WebUser | None:
    """The account when the email and password match an active one; None otherwise (no hint which)."""
    try:
        email = normalize_email(email) or ""
    except InvalidInput:
        email = ""
    user = session.scalar(select(WebUser).where(WebUser.email == email)) if email else None
    # Always one scrypt check, so an unknown email takes as long as a wrong password.
    ok = verify_password(password, user.password_hash if user else DUMMY_HASH)
    if user is None or not ok or not user.active:
        return None
    user.last_login_at = utcnow()
    return user


def user_for_session(session: Session, user_id, stamp) -> WebUser | None:
    """The account a session cookie names, if it is still active and its password unchanged."""
    if not isinstance(user_id, int) or not isinstance(stamp, str):
        return None
    user = session.get(WebUser, user_id)
    if user is None or not user.active or session_stamp(user.password_hash) != stamp:
        return None
    return user


def user_for_token(session: Session, token: str) -> WebUser | None:
    if not token:
        return None
    user = session.scalar(select(WebUser).where(WebUser.token_hash == token_digest(token)))
    return user if user is not None and user.active else None


def issue_token(session: Session, actor: Actor, user: WebUser) -> str:
    """A new API token for the account (the old one stops working); shown once, stored as a hash."""
    token = new_token()
    user.token_hash = token_digest(token)
    audit.record(session, actor, "web_user.token", "web_user", user.id, user.district_id,
                 after={"email": user.email})
    return token


def set_password(session: Session, actor: Actor, user: WebUser, password: str) -> None:
    weak = check_strength(password)
    if weak:
        raise InvalidInput(weak)
    user.password_hash = hash_password(password)  # also ends the account's sessions (session_stamp)
    audit.record(session, actor, "web_user.password", "web_user", user.id, user.district_id,
                 after={"email": user.email})


def set_active(session: Session, actor: Actor, user: WebUser, active: bool) -> None:
    if user.active != active:
        user.active = active
        audit.record(session, actor, "web_user.enable" if active else "web_user.disable", "web_user", user.id,
                     user.district_id, before={"active": not active}, after={"active": active})
