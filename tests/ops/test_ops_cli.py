"""Support's controls and the health command, through the command line (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from connectors.sftp.drop_writer import write_oneroster_drop
from directory.db import make_engine
from sync.synthetic import generate_district

STATUS_KEYS = {"district", "paused", "schedule", "last_run", "next_run", "in_progress"}
RUN_KEYS = {"run_id", "status", "started_at", "finished_at"}


@pytest.fixture
def maple(cli, tmp_path):
    write_oneroster_drop(generate_district(20, seed=5), tmp_path / "drop")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    cli("district", "add", "oak", "--name", "Oak")  # edited by hand: never scheduled
    return cli


def test_status_says_last_run_next_run_and_progress_per_district(maple):
    rows = maple.json("status", "--json")
    assert [r["district"] for r in rows] == ["maple", "oak"]
    for r in rows:
        assert STATUS_KEYS <= set(r)
    fresh, manual = rows
    assert fresh["last_run"] is None and fresh["schedule"] == "nightly" and not fresh["in_progress"]
    assert datetime.fromisoformat(fresh["next_run"]) <= datetime.now().astimezone()  # never synced: owed now
    assert manual["state"] == "manual" and manual["next_run"] is None

    maple("district", "set", "maple", "schedule", "every 6h")
    maple("sync", "maple")
    row = maple.json("status", "maple", "--json")[0]
    assert RUN_KEYS <= set(row["last_run"]) and row["last_run"]["status"] == "succeeded"
    assert row["schedule"] == "every 6h"
    nxt = datetime.fromisoformat(row["next_run"])
    assert datetime.now().astimezone() < nxt <= datetime.now().astimezone() + timedelta(hours=6)

    table = maple("status").stdout
    assert "mode embedded" in table
    assert "maple" in table and "every 6h" in table and "succeeded" in table and "manual" in table


def test_status_shows_a_run_in_progress(maple, db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:  # what a running sync holds (sync/lease.py)
        conn.execute(sa.text("INSERT INTO sync_state (district_id, cursor, lease_holder, lease_run_id, "
                             "lease_expires_at) VALUES (1, '{}', 'elsewhere:1:x', 7, :t)"),
                     {"t": datetime.now().astimezone() + timedelta(hours=1)})
    engine.dispose()
    assert maple.json("status", "maple", "--json")[0]["in_progress"] is True
    maple("status", "nowhere", code=4)


def test_pause_and_resume_are_audited_with_who_and_why(maple):
    env = {"ROSTERSYNC_ACTOR": "sam.support"}
    out = maple("pause", "maple", "--reason", "summer break", env=env).stdout
    assert "maple paused" in out
    row = maple.json("status", "maple", "--json")[0]
    assert row["paused"] is True and row["next_run"] is None and row["state"] == "paused"
    assert "already paused" in maple("pause", "maple", "--reason", "again", env=env).stdout
    maple("pause", "maple", "--reason", "  ", code=5)
    maple("pause", "maple", code=2)  # --reason is required

    resumed = maple.json("resume", "maple", "--reason", "school starts", "--json")
    assert resumed["paused"] is False and resumed["changed"] is True and resumed["next_run"]
    entries = [e for e in maple.json("audit", "maple", "--json") if e["action"].startswith("district.")]
    pause, resume = ([e for e in entries if e["action"] == a][0] for a in ("district.pause", "district.resume"))
    assert (pause["actor_type"], pause["actor"], pause["reason"]) == ("support", "sam.support", "summer break")
    assert pause["after"] == {"paused": True} and resume["reason"] == "school starts"
    assert len([e for e in entries if e["action"] == "district.pause"]) == 1  # "already paused" wrote nothing


def test_a_paused_district_is_not_resynced(maple):
    """What `rostersync resync` asks first (sync.cli_ops.resync_by_mode): refused while paused; in embedded
    mode the caller then runs it now."""
    import click

    from directory.errors import InvalidInput
    from sync.cli_ops import resync_by_mode
    from sync.cli_support import App

    maple("pause", "maple", "--reason", "summer")
    with click.Context(click.Command("resync"), obj=App(db=maple.url)) as ctx:
        with pytest.raises(InvalidInput, match="maple is paused; `rostersync resume maple"):
            resync_by_mode(ctx, "maple", "why", False)
        maple("resume", "maple", "--reason", "back")
        assert resync_by_mode(ctx, "maple", "why", False) is False


def test_the_schedule_setting_is_checked_when_it_is_set(maple):
    maple("district", "set", "maple", "schedule", "*/10 6-18 * * 1-5 America/Denver")
    assert maple.json("district", "show", "maple")["settings"]["schedule"] == "*/10 6-18 * * 1-5 America/Denver"
    result = maple("district", "set", "maple", "schedule", "every fortnight", code=2)
    assert "expected a five-field cron expression" in result.stderr


def test_each_mode_refuses_the_other_modes_command(maple, db_url):
    maple("worker", code=2)  # embedded is the default
    result = maple("serve", code=2, env={"ROSTERSYNC_MODE": "workers"})
    assert ("rostersync worker" in result.stderr) if db_url.startswith("postgresql") \
        else ("needs a PostgreSQL database" in result.stderr)
