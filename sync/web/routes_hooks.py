"""Where the messaging providers and the families' clicks land: email events, SMS callbacks, message links.

Each is authenticated by what its sender can prove (a shared token, the provider's signature, a signed
link), never by a session, and each applies events through messaging's own functions (parse_event,
apply_event), as `rostersync messaging event` does.
"""

from __future__ import annotations

import json
import re

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from directory.errors import ConfigError
from messaging.config import load_config
from messaging.contact_status import apply_event
from messaging.events import parse_event
from sync.web.deps import get_db
from sync.web.settings import ENV_HOOK_TOKEN
from sync.web.signatures import link_ok, sms_signature_ok, token_ok

log = structlog.get_logger("rostersync.web")
router = APIRouter(tags=["webhooks"])
KEY = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_EVENTS = 1000


def _events(body: bytes) -> list[dict]:
    """A JSON object, a list of them, or JSON lines (as providers batch and as logs keep them)."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text) if text else []
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            raise HTTPException(status_code=400, detail="the body is not JSON or JSON lines") from None
    return data if isinstance(data, list) else [data]


def _summary(results: list[dict]) -> dict:
    return {"events": len(results), "matched": sum(bool(r["matched"]) for r in results),
            "requeued": sum(r["requeued"] is not None for r in results)}


@router.post("/hooks/email", summary="Email delivery events (bounces, complaints), with the shared token")
async def email_events(request: Request):
    settings = request.app.state.settings
    if not settings.webhook_token:
        return JSONResponse({"detail": f"email events are not set up: set {ENV_HOOK_TOKEN}"}, status_code=503)
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else request.query_params.get("token")
    if not token_ok(settings.webhook_token, given):
        return JSONResponse({"detail": "wrong or missing token"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    raw = _events(await request.body())
    if len(raw) > MAX_EVENTS:
        raise HTTPException(status_code=413, detail=f"at most {MAX_EVENTS} events per request")
    events = []
    for index, item in enumerate(raw):
        try:
            events.append(parse_event(item))
        except ValueError as exc:
            # All or none, as `rostersync messaging event`: the provider retries the batch once it is fixed.
            raise HTTPException(status_code=400, detail=f"event {index + 1}: {exc}") from None
    return _apply(request, events)


def _apply(request: Request, events) -> dict:
    from directory.db import transaction

    with transaction(request.app.state.factory) as s:
        results = [apply_event(s, e) for e in events]
    summary = _summary(results)
    log.info("web_events_applied", **summary)  # counts only: events name people's addresses
    return summary


def _public_url(request: Request) -> str:
    """The URL the provider signed: the public one when the app sits behind a proxy."""
    base = request.app.state.settings.public_url
    if not base:
        return str(request.url)
    return base + request.url.path + (f"?{request.url.query}" if request.url.query else "")


@router.post("/hooks/sms", summary="SMS status callbacks and inbound texts (STOP/START), signed by the provider")
async def sms_events(request: Request):
    try:
        sms = load_config().sms
    except ConfigError as exc:
        return JSONResponse({"detail": f"messaging is not configured correctly: {exc}"}, status_code=503)
    if sms is None:
        return JSONResponse({"detail": "no SMS provider is set up (ROSTERSYNC_SMS_URL and its token)"},
                            status_code=503)
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    if not sms_signature_ok(sms.token, _public_url(request), fields, request.headers.get("x-twilio-signature")):
        return JSONResponse({"detail": "bad signature"}, status_code=403)
    try:
        event = parse_event(dict(fields))
    except ValueError:
        # An ordinary reply ("thanks!") is not a delivery event; the provider only needs to hear it arrived.
        return Response(status_code=204)
    _apply(request, [event])
    return Response(status_code=204)


@router.get("/m/{key}/{signature}", include_in_schema=False)
def message_link(request: Request, key: str, signature: str, db: Session = Depends(get_db)):
    """The link in a message: proof the address reached a person (the contact works again), then on to
    the page where families join."""
    settings = request.app.state.settings
    if not KEY.match(key) or not link_ok(settings.key("click"), key, signature):
        raise HTTPException(status_code=404, detail="This link is not valid.")
    try:
        target = load_config().join_url
    except ConfigError:
        target = None
    apply_event(db, parse_event({"type": "click", "key": key}))
    if not target:
        return Response("Thank you.", media_type="text/plain")
    return RedirectResponse(target, status_code=303)
