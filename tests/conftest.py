"""Shared fixtures.

Servers a test needs (PostgreSQL, the SSH server, SMTP ...) skip with a reason on a machine without them,
but fail when ROSTERSYNC_REQUIRE_SERVICES=1 (CI), so CI can never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO.parent / "shared" / "samples"


def services_required() -> bool:
    return os.environ.get("ROSTERSYNC_REQUIRE_SERVICES") == "1"


def missing_service(reason: str) -> None:
    """Skip the test (a user's machine) or fail it (CI) because a real peer it needs is missing."""
    if services_required():
        pytest.fail(f"required service missing (ROSTERSYNC_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The public roster samples beside the checkout (../shared/samples); never copied into the project."""
    if not SAMPLES.is_dir():
        missing_service(f"public samples not found at {SAMPLES} (a fresh clone has no ../shared)")
    return SAMPLES


# -- databases ------------------------------------------------------------------------------------------
PG_BASE = os.environ.get("ROSTERSYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = "rostersync_test"


def _pg_ready() -> str | None:
    """Make sure the test database exists; return why PostgreSQL cannot be used, or None."""
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(f"{PG_BASE}/postgres", isolation_level="AUTOCOMMIT",
                                 connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB}):
                conn.execute(sa.text(f'CREATE DATABASE "{PG_DB}"'))
        admin.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable server
        return f"PostgreSQL not reachable at {PG_BASE}: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def pg_status() -> str | None:
    return _pg_ready()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path, pg_status):
    """An empty database of each kind, one per test: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/rostersync.db"
        return
    if pg_status:
        missing_service(pg_status)
    import uuid

    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(f"{PG_BASE}/{PG_DB}")
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    # libpq's options parameter sets search_path for every connection made with this URL, so all of
    # rostersync (and Alembic's version table) lives in the test's own schema.
    yield f"{PG_BASE}/{PG_DB}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


class Cli:
    """Runs `rostersync --db URL ...` in process through click, as a user would type it."""

    def __init__(self, url: str):
        self.url = url

    def __call__(self, *args: str, code: int = 0, env: dict | None = None):
        from click.testing import CliRunner

        from sync.cli import cli

        result = CliRunner().invoke(cli, ["--db", self.url, *map(str, args)], env=env, catch_exceptions=False)
        assert result.exit_code == code, (
            f"rostersync {' '.join(map(str, args))}: exit {result.exit_code}, wanted {code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def json(self, *args: str):
        import json

        return json.loads(self(*args).stdout)


@pytest.fixture
def cli(db_url) -> Cli:
    run = Cli(db_url)
    run("init")
    return run
