"""`rostersync user ...` and the web tables: accounts of each role, refused shapes with their exit codes, API
tokens, and the migration matching the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from conftest import PASSWORD


@pytest.fixture
def district(cli, monkeypatch):
    monkeypatch.setenv("WEB_PW", PASSWORD)
    monkeypatch.setenv("SHORT_PW", "short")
    cli("district", "add", "oak", "--name", "Oak")
    school = cli.json("school", "add", "oak", "--name", "Oak Elementary", "--json")["id"]
    return {"school": school}


def test_accounts_of_each_role(cli, district):
    cli("user", "add", "Lead@Oak.example.org", "--role", "leader", "--district", "oak", "--school", district["school"],
        "--password-env", "WEB_PW")
    cli("user", "add", "admin@oak.example.org", "--role", "district-admin", "--district", "oak",
        "--password-env", "WEB_PW")
    cli("user", "add", "help@rostersync.example.org", "--role", "support", "--password-env", "WEB_PW")
    rows = {r["email"]: r for r in cli.json("user", "list", "--json")}
    assert rows["lead@oak.example.org"]["school_ids"] == [district["school"]]  # emails are stored lower-cased
    assert rows["admin@oak.example.org"]["role"] == "district-admin" and rows["help@rostersync.example.org"][
        "district_id"] is None
    audit = cli.json("audit", "oak", "--json")
    created = [e for e in audit if e["action"] == "web_user.create"]
    assert len(created) == 2 and PASSWORD not in repr(audit)


@pytest.mark.parametrize("args, code, message", [
    (["--role", "leader", "--district", "oak"], 5, "at least one --school"),
    (["--role", "leader", "--district", "oak", "--school", "999"], 5, "not in that district"),
    (["--role", "support", "--district", "oak"], 5, "give no --district"),
    (["--role", "district-admin", "--district", "nope"], 4, "unknown district"),
    (["--role", "support", "--password-env", "SHORT_PW"], 5, "at least 12 characters"),
    (["--role", "support", "--password-env", "UNSET_PW"], 2, "UNSET_PW, which is not set"),
])
def test_refused_accounts(cli, district, args, code, message):
    if "--password-env" not in args:
        args = [*args, "--password-env", "WEB_PW"]
    r = cli("user", "add", "x@oak.example.org", *args, code=code)
    assert message in r.stderr
    assert cli.json("user", "list", "--json") == []


def test_duplicates_tokens_and_passwords(cli, district, monkeypatch):
    cli("user", "add", "help@rostersync.example.org", "--role", "support", "--password-env", "WEB_PW")
    r = cli("user", "add", "HELP@rostersync.example.org", "--role", "support", "--password-env", "WEB_PW", code=6)
    assert "already exists" in r.stderr
    token = cli("user", "token", "help@rostersync.example.org").stdout.strip()
    assert token.startswith("rst_") and len(token) > 40
    assert cli.json("user", "list", "--json")[0]["api_token"] is True
    monkeypatch.setenv("NEW_PW", "another long password")
    cli("user", "password", "help@rostersync.example.org", "--password-env", "NEW_PW")
    cli("user", "token", "nobody@rostersync.example.org", code=4)


def test_the_migration_creates_what_the_models_describe(cli, db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from directory.db import make_engine
    from directory.models import Base

    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    ours = [d for d in diff if "web_user" in repr(d)]
    assert ours == []


def test_serve_can_start_the_web_app_when_configured(cli, db_url):
    """What `rostersync serve` calls: nothing without ROSTERSYNC_WEB_LISTEN, the app on HOST:PORT with it."""
    import requests

    from directory.db import make_engine
    from sync.web.server import start_from_env

    engine = make_engine(db_url)
    assert start_from_env(engine, db_url, env={}) is None
    server = start_from_env(engine, db_url, env={"ROSTERSYNC_WEB_LISTEN": "127.0.0.1:0"})
    try:
        r = requests.get(f"{server.url}/login", timeout=10)
        assert r.status_code == 200 and "Sign in to rostersync" in r.text
    finally:
        server.stop()
        engine.dispose()
