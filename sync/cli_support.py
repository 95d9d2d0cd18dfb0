"""What every CLI command shares: the database, the actor, output, and errors as exit codes."""

from __future__ import annotations

import getpass
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import click
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from directory import migrate
from directory.audit import Actor
from directory.db import check_connection, database_url, make_engine, safe_url, session_factory, transaction
from directory.districts import get_district
from directory.errors import ConfigError, DatabaseUnavailable, RostersyncError
from directory.service import DirectoryService
from sync.logs import bind_district, redact_text

log = structlog.get_logger("rostersync.cli")


@dataclass
class App:
    """Per-invocation state, kept on click's context object."""

    db: str | None = None
    actor_name: str = field(default_factory=lambda: os.environ.get("ROSTERSYNC_ACTOR") or _login())
    _engine: Engine | None = None

    @property
    def url(self) -> str:
        return database_url(self.db)

    def engine(self, require_schema: bool = True) -> Engine:
        if self._engine is None:
            engine = make_engine(self.url)
            check_connection(engine)
            if require_schema:
                try:
                    current = migrate.current_revision(engine)
                except OperationalError as exc:
                    raise DatabaseUnavailable(f"cannot read the database {safe_url(self.url)}: {exc.orig}") from exc
                if current is None:
                    raise ConfigError(f"the database {safe_url(self.url)} has no rostersync schema yet; "
                                      "run `rostersync init`")
                if current != migrate.head_revision():
                    raise ConfigError(f"the database {safe_url(self.url)} is at schema {current}; run "
                                      "`rostersync init` to upgrade it")
            self._engine = engine
        return self._engine

    def actor(self, override_reason: str | None = None) -> Actor:
        if override_reason is not None:
            return Actor("support", self.actor_name, reason=override_reason)
        return Actor("user", self.actor_name)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with transaction(session_factory(self.engine())) as session:
            yield session

    @contextmanager
    def directory(self, district_slug: str, override_reason: str | None = None) -> Iterator[DirectoryService]:
        """A DirectoryService for one district, inside one transaction: all or nothing."""
        bind_district(district_slug)
        with self.session() as session:
            yield DirectoryService(session, self.actor(override_reason), get_district(session, district_slug))


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def app_of(ctx: click.Context) -> App:
    return ctx.ensure_object(App)


pass_app = click.make_pass_decorator(App, ensure=True)


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)


def override_option(f: Callable) -> Callable:
    return click.option("--override-lock", "override_reason", metavar="REASON",
                        help="Support staff: do this on a synced school anyway; the reason goes to the audit log.")(f)


def emit(as_json: bool, data: Any, text: str) -> None:
    """Command output goes to stdout: JSON for scripts, one readable line otherwise."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text)


class RostersyncGroup(click.Group):
    """Turns the errors a user can act on into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RostersyncError as exc:
            log.info("command_failed", error=str(exc), error_type=type(exc).__name__, exit_code=exc.exit_code)
            click.echo(f"error: {redact_text(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1, details in the log
            log.exception("command_crashed")
            click.echo(f"error: unexpected failure ({type(exc).__name__}); the log has the details", err=True)
            ctx.exit(1)
