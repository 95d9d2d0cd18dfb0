"""CSRF protection for every form: a random token per session, in a hidden field, checked on each POST.

The session cookie is also SameSite=Lax, but the token is what is relied on: it holds even for an old
browser, or a sub-domain that can set cookies. The JSON API takes bearer tokens, never cookies, and the
webhooks their provider's signature, so neither needs it (a forged cross-site request carries neither).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MESSAGE = ("This form has expired or did not come from this site (CSRF check failed). Go back, reload the "
           "page and try again.")


def token(session: dict) -> str:
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def rotate(session: dict) -> str:
    """A new token, at sign-in: one learnt before it (on a shared computer) is then worthless."""
    session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def valid(session: dict, given) -> bool:
    expected = session.get("csrf")
    if not isinstance(expected, str) or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def protect(request: Request) -> None:
    """A dependency of every HTML router: unsafe methods need the session's token in the form."""
    if request.method in SAFE_METHODS:
        return
    form = await request.form()  # Starlette keeps the parsed form, so the handler's Form() fields still work
    if not valid(request.session, form.get(FIELD)):
        raise HTTPException(status_code=403, detail=MESSAGE)
