"""Request dependencies: a database session, the signed-in person (cookie) or API caller (bearer token)."""

from __future__ import annotations

from typing import Iterator
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from directory.db import transaction
from sync.web.access import Principal
from sync.web.accounts import principal_of, user_for_session, user_for_token

bearer = HTTPBearer(auto_error=False, description="The account's API token (`rostersync user token EMAIL`, "
                                                  "or Account > API token in the web app).")


class LoginRequired(Exception):
    """Raised by page dependencies; app.py turns it into a redirect to /login?next=..."""

    def __init__(self, next_url: str):
        self.next_url = next_url


def get_db(request: Request) -> Iterator[Session]:
    with transaction(request.app.state.factory) as session:
        yield session


def current_user(request: Request, db: Session = Depends(get_db)) -> Principal:
    user = user_for_session(db, request.session.get("uid"), request.session.get("stamp"))
    if user is None:
        # Back to the page after signing in; a form post cannot be replayed, so that goes to the start.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/") if request.method == "GET" else "/")
    principal = principal_of(db, user)
    request.state.principal = principal
    return principal


def api_user(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
             db: Session = Depends(get_db)) -> Principal:
    user = user_for_token(db, credentials.credentials) if credentials else None
    if user is None:
        raise HTTPException(status_code=401, detail="a valid API token is required (Authorization: Bearer TOKEN)",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal_of(db, user)


def forbid(allowed: bool, what: str = "this page") -> None:
    if not allowed:
        raise HTTPException(status_code=403, detail=f"Your account may not see {what}.")
