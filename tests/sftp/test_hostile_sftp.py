"""Hostile names in an SFTP drop folder (issue #9), synced through `rostersync sync` from a real SSH server on
loopback (asyncssh, tests/sftp/sshd.py), on SQLite and PostgreSQL.

A listing comes from a server we do not control. Names that would make us write outside our temporary
folder ("../x.csv", "/etc/x.csv"), that carry a NUL, a newline or other control characters, links and
folders are left out and listed in the report's drop.ignored; the rest of the drop is synced. Files with
such names are made for real on the server's disk where Linux allows it (newline, carriage return, tab,
links); names no disk can hold (a NUL, a slash) are added to the server's listing by the test server
(``extra_listing``), as a hostile server would send them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop
from sync.synthetic import generate_district

pytestmark = pytest.mark.slow

ROSTER = generate_district(12, seed=9)


@pytest.fixture
def sftp_district(cli, sftp_server, drop_folder, monkeypatch):
    write_oneroster_drop(ROSTER, drop_folder)
    monkeypatch.setenv("HOSTILE_SFTP_PASSWORD", sftp_server.password)
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv",
        "--sftp-host", sftp_server.host, "--sftp-port", sftp_server.port, "--sftp-user", sftp_server.user,
        "--sftp-password-env", "HOSTILE_SFTP_PASSWORD", "--sftp-path", "outgoing",
        "--sftp-host-key", sftp_server.host_key_line)
    return drop_folder


def export(cli) -> dict:
    return cli.json("directory", "export", "maple", "--format", "json")


def test_names_that_point_elsewhere_or_carry_control_characters_are_left_out_and_reported(
        cli, sftp_district, sftp_server, tmp_path, monkeypatch):
    outside = tmp_path / "secret.csv"
    outside.write_text("sourcedId,givenName\nleak,Leak\n")
    users = (sftp_district / "users.csv").read_bytes()
    for name in ("new\nline.csv", "cr\r.csv", "tab\t.csv", "rtl\u202egnp.csv", ".users.csv"):
        (sftp_district / name).write_bytes(users)  # real files, real names
    (sftp_district / "link.csv").symlink_to(outside)  # a link out of the folder
    (sftp_district / "folder.csv").mkdir()
    sftp_server.extra_listing = ["../escape.csv", "/etc/passwd.csv", "..\\win.csv", "sub/../users.csv",
                                 "nul\x00.csv", "manifest.csv\x00../../x.csv"]
    scratch = tmp_path / "scratch" / "tmp"  # where the run makes its temporary copy of the drop
    scratch.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    report = json.loads(cli("sync", "maple", "--json").stdout)

    assert report["status"] == "succeeded" and report["errors"] == []
    # Each ignored entry reads "'<name as Python shows it>' (<why>)".
    ignored = dict(entry[:-1].rsplit(" (", 1) for entry in report["drop"]["ignored"])
    assert ignored == {
        "'../escape.csv'": "contains a path separator", "'/etc/passwd.csv'": "contains a path separator",
        "'..\\\\win.csv'": "contains a path separator", "'sub/../users.csv'": "contains a path separator",
        "'manifest.csv\\x00../../x.csv'": "contains a path separator",
        "'nul\\x00.csv'": "contains control characters", "'new\\nline.csv'": "contains control characters",
        "'cr\\r.csv'": "contains control characters", "'tab\\t.csv'": "contains control characters",
        "'rtl\\u202egnp.csv'": "contains control characters", "'.users.csv'": "hidden file",
        "'link.csv'": "not a regular file", "'folder.csv'": "not a regular file"}
    assert "\n" not in "".join(report["drop"]["ignored"])  # a name cannot forge a line of a report or log
    assert set(report["drop"]["files"]) == {"manifest.csv", "academicSessions.csv", "orgs.csv", "courses.csv",
                                            "classes.csv", "demographics.csv", "users.csv", "enrollments.csv"}
    data = export(cli)
    assert {s["external_id"] for s in data["students"]} == {s.external_id for s in ROSTER.students}
    assert "leak" not in json.dumps(data)
    # Nothing was written outside the run's own temporary folder, and that folder is gone again.
    assert list(scratch.parent.rglob("*")) == [scratch] and not Path("/etc/passwd.csv").exists()


def test_a_name_that_is_not_utf8_fails_the_sync_with_what_to_do_and_changes_nothing(cli, sftp_district):
    assert json.loads(cli("sync", "maple", "--json").stdout)["status"] == "succeeded"
    before = export(cli)
    (sftp_district / "users.csv").write_text("sourcedId\n")  # would archive everyone, if it were taken
    fd = os.open(os.path.join(os.fsencode(sftp_district), b"\xe9l\xe8ves.csv"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)  # "élèves.csv" as Latin-1 bytes, as an old Windows tool writes it

    result = cli("sync", "maple", "--json", code=2)

    report = json.loads(result.stdout)
    [error] = report["errors"]
    assert error["code"] == "configuration" and report["directory_state"] == "failed"
    assert "a file name in the folder is not valid UTF-8" in error["message"]
    assert "rename that file on the server" in error["message"] and "folder 'outgoing'" in error["message"]
    assert export(cli) == before
