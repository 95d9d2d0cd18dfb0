"""Rendering pages: one Jinja2 environment with autoescaping on, flash messages, and small filters."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from sync.report_render import SOURCE_LABELS, STATUS
from sync.web import csrf

STATUS_LABELS = {key: label for key, (label, _colour) in STATUS.items()}
TRIGGERS = {"manual": "By hand", "schedule": "Scheduled", "scheduled": "Scheduled", "resync": "Resync (support)"}


def when(value, with_weekday: bool = False) -> str:
    """An instant a person reads, in UTC (the zone is shown, not guessed: staff sit in many zones)."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return (f"{value:%a} " if with_weekday else "") + f"{value.day} {value:%b %Y, %H:%M} UTC"


def query(**params) -> str:
    """A query string of the non-empty parameters (for links that keep filters)."""
    return urlencode({k: v for k, v in params.items() if v not in (None, "", False)})


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # autoescape=True on every template: names, messages and reasons come from SIS exports and from
    # people, and must show as text, never run (a student may be called <script>...).
    env = jinja2.Environment(loader=jinja2.PackageLoader("sync.web", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.globals.update(query=query, status_labels=STATUS_LABELS, triggers=TRIGGERS, source_labels=SOURCE_LABELS)
    return env


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message for the next page (after a redirect); kept in the signed session cookie, so short."""
    request.session.setdefault("flash", []).append({"kind": kind, "text": message[:500]})


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "principal", None))
    context["csrf_field"] = csrf.FIELD
    context["csrf_token"] = csrf.token(request.session)
    context["flashes"] = request.session.pop("flash", []) if "flash" in request.session else []
    context["path"] = request.url.path
    return HTMLResponse(environment().get_template(template).render(**context), status_code=status_code)
