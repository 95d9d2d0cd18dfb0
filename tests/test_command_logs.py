"""The logs of real rostersync processes: JSON lines with context on every line, and nothing secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROSTERSYNC = Path(sys.executable).parent / "rostersync"
EMAIL, PHONE = "Secret.Parent@Example.org", "(201) 555-0143"
LEAKS = ("secret.parent", "Secret.Parent", "555-0143", "5550143", "2015550143", "hunter2")

pytestmark = pytest.mark.skipif(not ROSTERSYNC.exists(), reason="console script not installed (pip install -e .)")


def run(db: str, *args: str, code: int = 0) -> tuple[str, list[dict]]:
    out = subprocess.run([str(ROSTERSYNC), "--db", db, "--log-format", "json", "--log-level", "DEBUG", *args],
                         capture_output=True, text=True, env={**os.environ, "ROSTERSYNC_ACTOR": "ms.rivera"})
    assert out.returncode == code, out.stderr
    lines = [l for l in out.stderr.splitlines() if l.startswith("{")]
    return out.stdout + out.stderr, [json.loads(l) for l in lines]


def test_a_real_command_logs_context_and_leaks_no_contact_detail(db_url, tmp_path):
    run(db_url, "init")
    run(db_url, "district", "add", "lincoln", "--name", "Lincoln")
    run(db_url, "school", "add", "lincoln", "--name", "Adams")
    run(db_url, "student", "enroll", "lincoln", "--school", "1", "--given-name", "Ada", "--family-name", "L")
    text, events = run(db_url, "guardian", "add", "lincoln", "1", "--email", EMAIL, "--phone", PHONE)
    # The same pair again, now refused: the error path logs too.
    run(db_url, "guardian", "joined", "lincoln", "1")
    text2, events2 = run(db_url, "guardian", "add", "lincoln", "1", "--email", EMAIL, "--phone", "+12015550199",
                         code=7)
    events += events2
    assert any(e["event"] == "command_failed" and e.get("exit_code") == 7 for e in events2)
    for e in events:
        assert e.get("request_id") and e.get("command") == "guardian", e
        assert e.get("district") == "lincoln" or e["event"].startswith("alembic"), e
    logged = "\n".join(json.dumps(e) for e in events)
    for leak in LEAKS:
        assert leak not in logged, leak


def test_a_database_password_never_reaches_output_or_logs():
    text, events = run("postgresql://postgres:hunter2@127.0.0.1:9/none", "district", "list", code=9)
    assert "hunter2" not in text
    assert any(e["event"] == "command_failed" for e in events)


def test_a_sync_run_logs_carry_the_run_id(cli, db_url, tmp_path):
    from connectors.sftp.drop_writer import write_oneroster_drop
    from sync.synthetic import generate_district

    roster = generate_district(30, seed=2)
    write_oneroster_drop(roster, tmp_path / "drop")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    text, events = run(db_url, "sync", "maple")
    run_events = [e for e in events if e["event"].startswith(("sync_", "drop_", "diff_"))]
    assert {e["event"] for e in run_events} >= {"sync_started", "drop_read", "diff_computed", "sync_finished"}
    assert all(e.get("run_id") == 1 and e.get("district") == "maple" for e in run_events)
    logged = "\n".join(json.dumps(e) for e in events)
    for g in roster.guardians[:20]:
        for value in (g.email, g.phone):
            assert not value or value not in logged
