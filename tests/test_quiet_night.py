"""A night with no changes costs next to nothing, but never hides one: the quiet-night shortcut.

A drop holding the records the last run applied (whatever its timestamps) is not read again, unless the
district's settings or the directory changed since; an older drop seen again is always read and applied.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from connectors.sftp.content_key import content_key
from connectors.sftp.drop_writer import restamp_drop, write_oneroster_drop
from sync.synthetic import generate_district, mutate_district

SKIPPED = "already applied by run"


def _point(cli, folder: Path) -> None:
    cli("district", "set", "maple", "path", folder)


def _students(cli) -> dict[str, str]:
    data = cli.json("directory", "export", "maple", "--format", "json")
    return {s["external_id"]: s["status"] for s in data["students"]}


def _skipped(report: dict) -> bool:
    return any(SKIPPED in note for note in report["notes"])


def test_a_restamped_export_is_skipped_and_a_changed_one_is_not(cli, tmp_path):
    roster = generate_district(40, seed=5)
    write_oneroster_drop(roster, tmp_path / "monday", date_last_modified="2026-11-23T02:00:00.000Z", mode="delta")
    restamp_drop(tmp_path / "monday", tmp_path / "tuesday", "2026-11-24T02:00:00.000Z")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "monday")
    first = cli.json("sync", "maple", "--json")
    assert first["directory_state"] == "updated" and not _skipped(first)

    _point(cli, tmp_path / "tuesday")
    # district set ... path is a change of the district: the next run reads the drop again, once
    again = cli.json("sync", "maple", "--json")
    assert not _skipped(again) and again["directory_state"] == "unchanged"
    quiet = cli.json("sync", "maple", "--json")
    assert _skipped(quiet) and quiet["directory_state"] == "unchanged"
    assert quiet["counts"] == {}

    # One student renamed: new content, so the drop is read and the change applied.
    renamed = dataclasses.replace(roster.students[0], given_name="Zelda")
    changed = dataclasses.replace(roster, students=[renamed, *roster.students[1:]])
    write_oneroster_drop(changed, tmp_path / "tuesday", date_last_modified="2026-11-24T02:00:00.000Z", mode="delta")
    after = cli.json("sync", "maple", "--json")
    assert not _skipped(after) and after["counts"]["students"]["updated"] == 1


def test_an_older_drop_seen_again_is_applied_again(cli, tmp_path):
    """Monday's content, then Tuesday's, then Monday's again: the directory must follow the SIS back."""
    monday = generate_district(40, seed=6)
    tuesday = mutate_district(monday, 6, changed=0, gone=0.125, new=0)
    gone = len({s.external_id for s in monday.students} - {s.external_id for s in tuesday.students})
    assert gone
    write_oneroster_drop(monday, tmp_path / "a")
    write_oneroster_drop(tuesday, tmp_path / "b")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "a")
    cli("district", "set", "maple", "archive_threshold_pct", "100")
    cli.json("sync", "maple", "--json")
    _point(cli, tmp_path / "b")
    cli.json("sync", "maple", "--json")
    assert list(_students(cli).values()).count("archived") == gone
    _point(cli, tmp_path / "a")
    back = cli.json("sync", "maple", "--json")
    assert not _skipped(back) and back["counts"]["students"]["restored"] == gone
    assert set(_students(cli).values()) == {"active"}


def test_a_settings_change_or_a_manual_change_makes_the_same_drop_read_again(cli, tmp_path):
    roster = generate_district(40, seed=7)
    write_oneroster_drop(roster, tmp_path / "drop")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    cli.json("sync", "maple", "--json")
    assert _skipped(cli.json("sync", "maple", "--json"))

    cli("district", "set", "maple", "max_guardians_per_student", "1")
    reread = cli.json("sync", "maple", "--json")
    assert not _skipped(reread)
    assert reread["counts"]["guardians"]["archived"] > 0 or reread["counts"]["guardians"].get("removed", 0) > 0 \
        or reread["directory_state"] == "updated"
    assert _skipped(cli.json("sync", "maple", "--json"))

    # Support archives a synced student by hand; the same drop says the student is enrolled: the next run
    # must read it and put the student back, not skip it.
    data = cli.json("directory", "export", "maple", "--format", "json")
    student = next(s for s in data["students"] if s["status"] == "active")
    cli("student", "archive", "maple", str(student["id"]), "--override-lock", "ticket 42: testing")
    repaired = cli.json("sync", "maple", "--json")
    assert not _skipped(repaired) and repaired["counts"]["students"]["restored"] == 1
    assert _students(cli)[student["external_id"]] == "active"


def test_the_content_key_ignores_timestamps_only(tmp_path):
    roster = generate_district(10, seed=8)
    write_oneroster_drop(roster, tmp_path / "a", date_last_modified="2026-01-01T00:00:00.000Z", mode="delta")
    restamp_drop(tmp_path / "a", tmp_path / "b", "2026-02-02T00:00:00.000Z")
    names = [p.name for p in (tmp_path / "a").glob("*.csv")]
    assert (tmp_path / "a" / "users.csv").read_bytes() != (tmp_path / "b" / "users.csv").read_bytes()
    assert content_key(tmp_path / "a", names) == content_key(tmp_path / "b", names)
    users = tmp_path / "b" / "users.csv"
    users.write_text(users.read_text().replace(roster.students[0].given_name, "Zelda", 1))
    assert content_key(tmp_path / "a", names) != content_key(tmp_path / "b", names)
