"""The command line as a newcomer meets it: help, init, and a database that is missing or unreachable."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.cli import cli as rostersync


def run(*args, env=None):
    return CliRunner().invoke(rostersync, list(args), env=env, catch_exceptions=False)


def test_help_lists_every_command_group():
    r = run("--help")
    assert r.exit_code == 0
    for command in ("init", "district", "school", "classroom", "student", "guardian", "directory", "audit"):
        assert f"  {command}" in r.stdout


@pytest.mark.parametrize("group", ["district", "school", "teacher", "classroom", "student", "guardian", "directory"])
def test_every_subcommand_has_help_with_a_summary(group):
    r = run(group, "--help")
    assert r.exit_code == 0
    commands = [line.split()[0] for line in r.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert commands
    for command in commands:
        sub = run(group, command, "--help")
        assert sub.exit_code == 0 and "Usage: " in sub.stdout
        summary = [line for line in r.stdout.splitlines() if line.strip().startswith(command + " ")]
        assert summary and len(summary[0].split()) > 2, f"{group} {command} has no summary line"


def test_district_set_help_lists_the_settings():
    r = run("district", "set", "--help")
    for key in ("default_channel", "auto_invite", "archive_threshold_pct", "sync_manages_guardians",
                "sync_updates_joined_contacts", "excluded_contact_types", "max_guardians_per_student"):
        assert key in r.stdout


def test_init_twice_is_harmless(db_url):
    first = run("--db", db_url, "init")
    second = run("--db", db_url, "init")
    assert first.exit_code == second.exit_code == 0
    assert "schema created" in first.stdout and "schema unchanged" in second.stdout
    assert run("--db", db_url, "district", "add", "a", "--name", "A").exit_code == 0
    assert run("--db", db_url, "init").exit_code == 0
    assert run("--db", db_url, "district", "list").stdout.startswith("a\tA")


def test_database_url_from_environment(tmp_path):
    url = f"sqlite:///{tmp_path}/env.db"
    assert run("init", env={"ROSTERSYNC_DATABASE_URL": url}).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_default_database_is_rostersync_db_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROSTERSYNC_DATABASE_URL", raising=False)
    assert run("init").exit_code == 0
    assert (tmp_path / "rostersync.db").is_file()


def test_command_before_init_says_to_run_init(tmp_path):
    r = run("--db", f"sqlite:///{tmp_path}/new.db", "district", "list")
    assert r.exit_code == 2 and "run `rostersync init`" in r.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_is_one_line_exit_9_without_password():
    url = f"postgresql://postgres:hunter2@127.0.0.1:{_closed_port()}/nothing"
    r = run("--db", url, "district", "list")
    assert r.exit_code == 9
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the database")
    assert "hunter2" not in r.stderr and "127.0.0.1" in r.stderr


def test_malformed_database_url_is_a_config_error():
    r = run("--db", "nonsense://", "district", "list")
    assert r.exit_code == 2 and r.stderr.startswith("error: database URL")


@pytest.mark.skipif(shutil.which("rostersync", path=str(Path(sys.executable).parent)) is None,
                    reason="console script not installed (pip install -e .)")
def test_installed_console_script_runs(tmp_path):
    exe = Path(sys.executable).parent / "rostersync"
    out = subprocess.run([str(exe), "--db", f"sqlite:///{tmp_path}/x.db", "init"], capture_output=True, text=True,
                         env={**os.environ, "ROSTERSYNC_LOG_FORMAT": "json"})
    assert out.returncode == 0, out.stderr
    assert "schema created" in out.stdout
