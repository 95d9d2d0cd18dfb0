"""The web application: FastAPI with Jinja2 pages, a JSON API and the messaging webhooks.

    app = create_app(engine, database_url)   # then serve it (server.py)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from directory.db import session_factory
from directory.errors import (ConfigError, ContactConflict, DatabaseUnavailable, Duplicate, InvalidInput, Locked,
                              NotFound, RostersyncError)
from sync.web import routes_api, routes_auth, routes_hooks, routes_pages
from sync.web.actions import BackgroundRuns
from sync.web.deps import LoginRequired
from sync.web.settings import WebSettings, load_settings
from sync.web.ui import render

log = structlog.get_logger("rostersync.web")

# Pages load nothing but our own style sheet: no script runs on any page, so an injected tag has nothing
# to run with, even if escaping ever failed somewhere.
PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")
MACHINE_PREFIXES = ("/api/", "/hooks/", "/m/")

HTTP_STATUS = [(NotFound, 404), (InvalidInput, 400), (Duplicate, 409), (ContactConflict, 409), (Locked, 409),
               (ConfigError, 409), (DatabaseUnavailable, 503)]


def status_of(exc: RostersyncError) -> int:
    for kind, status in HTTP_STATUS:
        if isinstance(exc, kind):
            return status
    return 409  # RunInProgress and other refusals: the request was fine, the moment was not


def _version() -> str:
    try:
        return version("rostersync")
    except PackageNotFoundError:
        return "0"


def _machine(request: Request) -> bool:
    return request.url.path.startswith(MACHINE_PREFIXES)


def create_app(engine: Engine, url: str, settings: WebSettings | None = None) -> FastAPI:
    settings = settings or load_settings()
    app = FastAPI(title="rostersync", version=_version(), openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None, description=(
                      "Sync districts, runs and reports as JSON. Every request needs an account's API token: "
                      "`Authorization: Bearer TOKEN` (`rostersync user token EMAIL`). A school leader sees "
                      "their schools only, a district admin their district, support staff everything."))
    app.state.engine, app.state.url, app.state.settings = engine, url, settings
    app.state.factory = session_factory(engine)
    app.state.runs = BackgroundRuns()

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "no-referrer")  # message links carry their signature in the path
        h.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static/"):
            h.setdefault("Content-Security-Policy", PAGE_POLICY)
            h.setdefault("Cache-Control", "no-store")  # pages name students: no shared or back-button cache
        return response

    # Added last, so it runs first: every handler and the CSRF check see request.session.
    app.add_middleware(SessionMiddleware, secret_key=settings.key("session").hex(), session_cookie="rostersync",
                       max_age=settings.session_hours * 3600, same_site="lax", https_only=settings.secure_cookies)
    app.mount("/static", StaticFiles(packages=[("sync.web", "static")]), name="static")
    for module in (routes_auth, routes_pages, routes_api, routes_hooks):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired):
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if _machine(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return render(request, "error.html", status_code=exc.status_code, status=exc.status_code,
                      message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        if _machine(request):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        return render(request, "error.html", status_code=400, status=400,
                      message="The address or form has a value this page cannot use.")

    @app.exception_handler(RostersyncError)
    async def refused(request: Request, exc: RostersyncError):
        status = status_of(exc)
        if _machine(request):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return render(request, "error.html", status_code=status, status=status, message=str(exc))

    return app
