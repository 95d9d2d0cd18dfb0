"""A district synced from a real SSH/SFTP server on loopback, through the CLI, on both databases."""

from __future__ import annotations

import json

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop
from sync.synthetic import generate_district


@pytest.fixture
def sftp_district(cli, sftp_server, drop_folder, monkeypatch):
    roster = generate_district(60, seed=5)
    write_oneroster_drop(roster, drop_folder)
    monkeypatch.setenv("MAPLE_SFTP_PASSWORD", sftp_server.password)
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv",
        "--sftp-host", sftp_server.host, "--sftp-port", sftp_server.port, "--sftp-user", sftp_server.user,
        "--sftp-password-env", "MAPLE_SFTP_PASSWORD", "--sftp-path", "outgoing",
        "--sftp-host-key", sftp_server.host_key_line)
    return roster


def test_sync_over_sftp_builds_the_directory_and_takes_a_drop_once(cli, sftp_district):
    report = cli.json("sync", "maple", "--json")
    assert report["status"] == "succeeded"
    assert report["drop"]["source"].startswith("sftp://")
    assert set(report["drop"]["files"]) >= {"manifest.csv", "users.csv", "enrollments.csv"}
    data = cli.json("directory", "export", "maple", "--format", "json")
    assert {s["external_id"] for s in data["students"]} == {s.external_id for s in sftp_district.students}
    again = cli.json("sync", "maple", "--json")
    assert "already applied" in again["notes"][0]


def test_wrong_password_is_a_credentials_error_exit_2_without_the_password(cli, sftp_district, monkeypatch):
    monkeypatch.setenv("MAPLE_SFTP_PASSWORD", "not-the-password-4711")
    r = cli("sync", "maple", "--json", code=2)
    report = json.loads(r.stdout)
    assert report["status"] == "failed" and report["errors"][0]["code"] == "configuration"
    assert "not-the-password-4711" not in r.stdout + r.stderr
    assert cli.json("directory", "export", "maple", "--format", "json")["students"] == []


def test_host_key_mismatch_refuses_to_connect(cli, sftp_district):
    other = "SHA256:" + "A" * 43
    cli("district", "set", "maple", "sftp_host_key", other)
    r = cli("sync", "maple", "--json", code=2)
    message = json.loads(r.stdout)["errors"][0]["message"]
    assert "host key" in message.lower() and other in message


def test_missing_password_variable_is_a_configuration_error(cli, sftp_district, monkeypatch):
    monkeypatch.delenv("MAPLE_SFTP_PASSWORD")
    r = cli("sync", "maple", "--json", code=2)
    assert "$MAPLE_SFTP_PASSWORD" in json.loads(r.stdout)["errors"][0]["message"]


def test_sftp_district_needs_a_pinned_host_key(cli, sftp_server):
    r = cli("district", "add", "nokey", "--name", "N", "--source", "oneroster-csv", "--sftp-host", "127.0.0.1",
            "--sftp-user", "u", "--sftp-password-env", "X", code=2)
    assert "--sftp-host-key" in r.stderr and "pinned" in r.stderr


def test_sync_with_an_encrypted_login_key(cli, sftp_server, drop_folder, client_key, monkeypatch):
    key_path, public_line, passphrase = client_key
    sftp_server.authorize(public_line)
    roster = generate_district(30, seed=6)
    write_oneroster_drop(roster, drop_folder)
    monkeypatch.setenv("KEY_PASS", passphrase)
    cli("district", "add", "keyed", "--name", "Keyed", "--source", "oneroster-csv",
        "--sftp-host", sftp_server.host, "--sftp-port", sftp_server.port, "--sftp-user", sftp_server.user,
        "--sftp-key", key_path, "--sftp-key-passphrase-env", "KEY_PASS", "--sftp-path", "outgoing",
        "--sftp-host-key", sftp_server.host_key_line)
    report = cli.json("sync", "keyed", "--json")
    assert report["status"] == "succeeded" and report["counts"]["students"]["created"] == 30
