"""Fixtures for the web app: a district synced from a generated drop (with a student whose name is a
script tag and one whose name is a spreadsheet formula), accounts of every role, and the app served by
uvicorn on a thread on 127.0.0.1 (a real HTTP server, as a browser or an API client meets it)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop
from sync.synthetic import generate_district

STUDENTS = 240
PASSWORD = "correct horse battery staple"
SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_NAME = '=HYPERLINK("http://evil.example/","click")'
SECRET = "s" * 40
HOOK_TOKEN = "hook-token-0123456789"
SHARED_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"


def missing_service(request: pytest.FixtureRequest, reason: str) -> None:
    """tests/conftest.py's missing_service (skip here, fail in CI), reached by path: every conftest.py is
    the module "conftest", so importing it by name would find this file."""
    request.config.pluginmanager.get_plugin(str(SHARED_CONFTEST)).missing_service(reason)


def drop(folder: Path, batch) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    write_oneroster_drop(batch, folder)
    return folder


@pytest.fixture(scope="module")
def roster():
    """A generated district whose first two students carry hostile names."""
    batch = generate_district(STUDENTS, seed=21)
    students = list(batch.students)
    students[0] = dataclasses.replace(students[0], given_name=SCRIPT_NAME, family_name="Tester")
    students[1] = dataclasses.replace(students[1], given_name=FORMULA_NAME, family_name="Formula")
    return dataclasses.replace(batch, students=students)


@pytest.fixture
def synced(cli, roster, tmp_path, monkeypatch) -> dict:
    """District "maple" synced once; accounts: a leader of each of two schools, a district admin, support."""
    monkeypatch.setenv("WEB_PW", PASSWORD)
    folder = drop(tmp_path / "drop", roster)
    cli("district", "add", "maple", "--name", "Maple Valley", "--source", "oneroster-csv", "--path", folder)
    report = cli.json("sync", "maple", "--json")
    schools = cli.json("directory", "export", "maple", "--format", "json")["schools"]
    by_ext = {s["external_id"]: s for s in schools}
    first = by_ext[roster.students[0].school_id]  # the school of the hostile names
    other = next(s for s in schools if s["id"] != first["id"])
    cli("user", "add", "lead@maple.example.org", "--role", "leader", "--district", "maple", "--school", first["id"],
        "--password-env", "WEB_PW")
    cli("user", "add", "other@maple.example.org", "--role", "leader", "--district", "maple", "--school",
        other["id"], "--password-env", "WEB_PW")
    cli("user", "add", "admin@maple.example.org", "--role", "district-admin", "--district", "maple",
        "--password-env", "WEB_PW")
    cli("user", "add", "support@rostersync.example.org", "--role", "support", "--password-env", "WEB_PW")
    return {"folder": folder, "report": report, "school": first, "other": other, "schools": schools}


@pytest.fixture
def web(db_url, synced):
    """The app served on 127.0.0.1 (a free port); yields its base URL."""
    from directory.db import make_engine
    from sync.web.app import create_app
    from sync.web.server import ServerThread
    from sync.web.settings import WebSettings

    engine = make_engine(db_url)
    settings = WebSettings(secret=SECRET, ephemeral_secret=False, public_url=None, secure_cookies=False,
                           webhook_token=HOOK_TOKEN)
    server = ServerThread(create_app(engine, db_url, settings)).start()
    try:
        yield server
    finally:
        server.stop()
        engine.dispose()


def hold_a_run(cli, roster, folder: Path) -> dict:
    """Drop a quarter of one school's students, so the next sync is held (exit 3)."""
    school = roster.schools[0].external_id
    in_school = [s.external_id for s in roster.students if s.school_id == school]
    leaving = set(in_school[-(len(in_school) // 4 or 1):])
    smaller = dataclasses.replace(
        roster, students=[s for s in roster.students if s.external_id not in leaving],
        enrollments=[e for e in roster.enrollments if e.user_id not in leaving],
        guardians=[dataclasses.replace(g, links=tuple(l for l in g.links if l.student_id not in leaving))
                   for g in roster.guardians])
    drop(folder, smaller)
    import json

    return json.loads(cli("sync", "maple", "--json", code=3).stdout)
