"""Engines and sessions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from directory.errors import ConfigError, DatabaseUnavailable

DEFAULT_URL = "sqlite:///rostersync.db"
ENV_URL = "ROSTERSYNC_DATABASE_URL"


def database_url(cli_value: str | None = None) -> str:
    """--db beats ROSTERSYNC_DATABASE_URL beats the SQLite file in the working folder."""
    return cli_value or os.environ.get(ENV_URL) or DEFAULT_URL


def normalize_url(url: str) -> str:
    # Plain postgresql:// would pick psycopg2, which we do not ship; psycopg 3 is the driver we install.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def safe_url(url: str) -> str:
    """The URL for messages: never with its password."""
    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")  # SQLite ignores FOREIGN KEY clauses without it
    cur.execute("PRAGMA busy_timeout=30000")  # wait for another process's write instead of failing
    cur.execute("PRAGMA journal_mode=WAL")  # readers (status, reports) never block a sync's writes
    cur.close()


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL is not valid: {safe_url(url)}") from exc
    kwargs: dict = {}
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10}
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"database URL is not usable: {safe_url(url)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def check_connection(engine: Engine) -> None:
    """Fail early, with one clear line, when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"cannot reach the database {safe_url(str(engine.url))}: {reason}"
        ) from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed whole on success, rolled back whole on any error."""
    session = factory()
    try:
        with session.begin():
            yield session
    except OperationalError as exc:
        raise DatabaseUnavailable(f"database error: {str(exc.orig or exc).splitlines()[0]}") from exc
    finally:
        session.close()
