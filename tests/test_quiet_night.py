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


def _awkward_drop(folder: Path) -> list[str]:
    """A small drop whose users.csv has what real exports have: a BOM, CRLF, a quoted newline and comma,
    a blank line and a row with a field too many."""
    roster = generate_district(12, seed=11)
    write_oneroster_drop(roster, folder, date_last_modified="2026-03-01T00:00:00.000Z", mode="delta")
    users = folder / "users.csv"
    lines = users.read_bytes().split(b"\n")
    assert lines[3].endswith(b",")  # its last cell (password) is blank: give it a quoted newline and comma
    lines[3] = lines[3] + b'"two\nlines, and a comma"'
    lines.insert(5, b"")
    lines.insert(7, lines[6] + b",extra")
    users.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines))
    return [p.name for p in folder.glob("*.csv")]


def test_the_key_a_read_computes_is_the_key_the_next_night_checks(tmp_path):
    # The reader hashes each file as it parses it; the quiet-night check parses it for the key alone. If the
    # two ever disagreed, no quiet night would be recognised again after a night that read the drop.
    from connectors.sftp.content_key import file_key
    from connectors.sftp.oneroster_csv import read_oneroster_drop

    names = _awkward_drop(tmp_path / "a")
    digests: dict[str, bytes] = {}
    read_oneroster_drop(tmp_path / "a", digests)
    assert {"users.csv", "enrollments.csv", "orgs.csv", "classes.csv"} <= set(digests)
    assert "manifest.csv" not in digests  # no volatile column: its key is its bytes
    assert digests == {name: file_key(tmp_path / "a" / name) for name in digests}
    assert content_key(tmp_path / "a", names, digests) == content_key(tmp_path / "a", names)
    (tmp_path / "b").mkdir()
    for name in names:  # restamped byte for byte, the awkward rows kept as they are
        data = (tmp_path / "a" / name).read_bytes()
        (tmp_path / "b" / name).write_bytes(data.replace(b"2026-03-01T00:00:00.000Z", b"2026-03-02T09:09:09Z"))
    assert (tmp_path / "b" / "users.csv").read_bytes() != (tmp_path / "a" / "users.csv").read_bytes()
    assert content_key(tmp_path / "b", names) == content_key(tmp_path / "a", names, digests)
    # a cell past the header's width decides whether the reader may use its row: it always counts
    users = tmp_path / "b" / "users.csv"
    users.write_bytes(users.read_bytes().replace(b",extra", b",other"))
    assert content_key(tmp_path / "b", names) != content_key(tmp_path / "a", names, digests)


def test_a_changed_night_is_told_apart_without_hashing_every_file_first(cli, tmp_path, monkeypatch):
    # The last run saved each file's key: the next one hashes small files first and reads the drop at the
    # first that changed, instead of hashing the whole drop and then reading it.
    import sync.sources

    roster = generate_district(40, seed=12)
    write_oneroster_drop(roster, tmp_path / "drop", date_last_modified="2026-11-23T02:00:00.000Z")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    cli.json("sync", "maple", "--json")
    renamed = dataclasses.replace(roster.schools[0], name="Renamed Elementary")
    write_oneroster_drop(dataclasses.replace(roster, schools=[renamed, *roster.schools[1:]]), tmp_path / "drop",
                         date_last_modified="2026-11-24T02:00:00.000Z")
    hashed: list[str] = []
    real = sync.sources.file_key
    monkeypatch.setattr(sync.sources, "file_key", lambda path, *known: hashed.append(path.name) or real(path, *known))
    night = cli.json("sync", "maple", "--json")
    assert not _skipped(night) and night["counts"]["schools"]["updated"] == 1
    assert "orgs.csv" in hashed and "users.csv" not in hashed and "enrollments.csv" not in hashed
    hashed.clear()
    quiet = cli.json("sync", "maple", "--json")  # and that night's keys, from the read, make the next quiet
    assert _skipped(quiet) and "users.csv" in hashed


def test_a_cursor_saved_before_file_keys_existed_still_recognises_a_quiet_night(cli, tmp_path):
    from sqlalchemy import select

    from directory.db import make_engine, session_factory, transaction
    from directory.models import SyncState

    roster = generate_district(20, seed=13)
    write_oneroster_drop(roster, tmp_path / "drop", date_last_modified="2026-11-23T02:00:00.000Z")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    cli.json("sync", "maple", "--json")
    engine = make_engine(cli.url)
    with transaction(session_factory(engine)) as s:
        state = s.scalars(select(SyncState)).one()
        assert state.cursor.get("content_files")
        state.cursor = {k: v for k, v in state.cursor.items() if k != "content_files"}
    engine.dispose()
    restamp_drop(tmp_path / "drop", tmp_path / "again", "2026-11-24T02:00:00.000Z")
    _point(cli, tmp_path / "again")
    cli.json("sync", "maple", "--json")  # a changed district setting: read once
    assert _skipped(cli.json("sync", "maple", "--json"))


def test_a_file_without_timestamps_is_keyed_by_the_hash_its_copy_made(cli, tmp_path, monkeypatch):
    # Clever's CSV files (and every manifest) carry no dateLastModified: their key is their bytes' hash,
    # which the copy already computed, so the sync does not read them a second time for the key; and the
    # quiet night is recognised all the same.
    from connectors.sftp import content_key as ck
    from connectors.sftp.drop_writer import write_clever_drop

    write_clever_drop(generate_district(20, seed=14), tmp_path / "clever")
    cli("district", "add", "oak", "--name", "Oak", "--source", "clever-csv", "--path", tmp_path / "clever")
    reread: list[str] = []
    real = ck._bytes_key
    monkeypatch.setattr(ck, "_bytes_key", lambda path: reread.append(path.name) or real(path))
    first = cli.json("sync", "oak", "--json")
    assert first["directory_state"] == "updated" and reread == []
    assert _skipped(cli.json("sync", "oak", "--json")) and reread == []
    assert [ck.file_key(p) for p in sorted((tmp_path / "clever").glob("*.csv"))] == \
        [ck.file_key(p, real(p).hex()) for p in sorted((tmp_path / "clever").glob("*.csv"))]
