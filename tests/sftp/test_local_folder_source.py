"""LocalFolderSource: the same drop rules and fingerprint as SFTP, for tests, the demo and local shares."""

from __future__ import annotations

import os

import pytest

from connectors.sftp.drops import (
    CLEVER_CSV_REQUIRED,
    ONEROSTER_CSV_REQUIRED,
    DropConfigError,
    DropFolderMissing,
    IncompleteDrop,
    manifest_required_files,
)
from connectors.sftp.transport import LocalFolderSource


def test_a_whole_drop_is_copied_and_later_edits_do_not_reach_the_copy(tmp_path, oneroster_drop):
    folder = tmp_path / "drop"
    written = oneroster_drop(folder)
    source = LocalFolderSource(folder)
    with source.fetch(ONEROSTER_CSV_REQUIRED) as drop:
        assert drop.files == {name: len(content.encode()) for name, content in written.items()}
        assert drop.path != folder
        (folder / "users.csv").write_text("rewritten by the SIS mid-run\n")
        assert (drop.path / "users.csv").read_text() == written["users.csv"]
        first = drop.fingerprint
        assert str(folder) in drop.source_description
    assert not drop.path.exists()

    with source.fetch(ONEROSTER_CSV_REQUIRED) as again:
        assert again.fingerprint != first  # users.csv changed
    oneroster_drop(folder)
    with source.fetch(ONEROSTER_CSV_REQUIRED) as restored:
        assert restored.fingerprint == first  # same bytes, same fingerprint


def test_a_missing_folder_is_a_configuration_error(tmp_path):
    with pytest.raises(DropFolderMissing, match="does not exist") as info:
        with LocalFolderSource(tmp_path / "nope").fetch():
            pass
    assert isinstance(info.value, DropConfigError) and not info.value.retry_later
    assert "nope" in str(info.value)


def test_manifest_naming_a_missing_file_is_incomplete(tmp_path, oneroster_drop):
    oneroster_drop(tmp_path / "drop", enrollments__csv=None)
    with pytest.raises(IncompleteDrop, match=r"missing enrollments\.csv \(listed in manifest\.csv as bulk\)"):
        with LocalFolderSource(tmp_path / "drop").fetch(ONEROSTER_CSV_REQUIRED):
            pass


def test_a_manifest_with_a_byte_order_mark_still_counts(tmp_path, oneroster_drop):
    # Excel on Windows writes UTF-8 with a BOM; the first row must still be read as a row.
    manifest = "\ufeffpropertyName,value\nfile.users,bulk\nfile.orgs,bulk\n"
    oneroster_drop(tmp_path / "drop", manifest__csv=manifest.encode("utf-8"), orgs__csv=None)
    with pytest.raises(IncompleteDrop, match=r"orgs\.csv"):
        with LocalFolderSource(tmp_path / "drop").fetch(ONEROSTER_CSV_REQUIRED):
            pass


def test_a_file_rewritten_while_being_copied_makes_the_drop_incomplete(tmp_path, oneroster_drop):
    folder = tmp_path / "drop"
    oneroster_drop(folder)

    def required(copied):
        # Called once every file is copied and before the folder is listed again: the moment an SIS
        # export that is still writing would change a file under us.
        with open(folder / "users.csv", "a") as f:
            f.write("late,row\n")
        return ONEROSTER_CSV_REQUIRED

    with pytest.raises(IncompleteDrop, match="try again later") as info:
        with LocalFolderSource(folder).fetch(required):
            pass
    assert set(info.value.changed) == {"users.csv"}


def test_links_odd_names_and_other_files_are_ignored_and_reported(tmp_path, oneroster_drop):
    folder = tmp_path / "drop"
    oneroster_drop(folder)
    secret = tmp_path / "secret.csv"
    secret.write_text("not part of the drop\n")
    (folder / "linked.csv").symlink_to(secret)
    (folder / "tab\there.csv").write_text("x\n")
    (folder / "export.zip").write_bytes(b"PK")
    with LocalFolderSource(folder).fetch(ONEROSTER_CSV_REQUIRED) as drop:
        assert {item.name: item.reason for item in drop.ignored} == {
            "linked.csv": "not a regular file",
            "tab\there.csv": "contains control characters",
            "export.zip": "not a CSV file",
        }
        assert "linked.csv" not in os.listdir(drop.path)


def test_a_clever_name_in_the_wrong_case_is_pointed_out(tmp_path):
    folder = tmp_path / "clever"
    folder.mkdir()
    for name in ("schools.csv", "Students.csv", "sections.csv", "enrollments.csv", "teachers.csv"):
        (folder / name).write_text("x\n")
    with pytest.raises(IncompleteDrop) as info:
        with LocalFolderSource(folder).fetch(CLEVER_CSV_REQUIRED):
            pass
    assert "students.csv (required for this format; found 'Students.csv', but names are case-sensitive)" in str(info.value)


def test_a_callable_can_pick_the_format_from_the_files(tmp_path, oneroster_drop):
    def by_format(copied):
        return ONEROSTER_CSV_REQUIRED if (copied / "manifest.csv").exists() else CLEVER_CSV_REQUIRED

    oneroster_drop(tmp_path / "oneroster")
    with LocalFolderSource(tmp_path / "oneroster").fetch(by_format) as drop:
        assert "users.csv" in drop.files

    (tmp_path / "clever").mkdir()
    (tmp_path / "clever" / "students.csv").write_text("x\n")
    with pytest.raises(IncompleteDrop, match=r"schools\.csv"):
        with LocalFolderSource(tmp_path / "clever").fetch(by_format):
            pass


@pytest.mark.parametrize("sample", ["Test_full_data_set", "oneroster_test_data", "v1p2_full_dataset"])
def test_the_public_oneroster_samples_are_whole_drops(samples_dir, sample):
    folder = samples_dir / "moodle-enrol_oneroster" / sample
    listed = manifest_required_files((folder / "manifest.csv").read_text(encoding="utf-8-sig"))
    with LocalFolderSource(folder).fetch(ONEROSTER_CSV_REQUIRED) as drop:
        assert set(listed) <= set(drop.files)
        assert drop.ignored == ()


def test_a_copy_left_by_a_killed_process_is_removed_by_the_next_fetch(tmp_path, oneroster_drop):
    """A drop copy holds every family's contacts: one left behind by a process that was killed mid-run
    (see the crash matrix) must not stay on disk. A copy whose process still runs is left alone."""
    import subprocess
    import sys

    from connectors.sftp.drops import stale_copies

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    work = tmp_path / "work"
    dead_copy = work / f"rostersync-drop-{gone.pid}-k1ll3d"
    live_copy = work / f"rostersync-drop-{os.getpid()}-st1ll"
    for copy in (dead_copy, live_copy):
        copy.mkdir(parents=True)
        (copy / "users.csv").write_text("sourcedId,email\ng1,parent@example.org\n")
    (work / "unrelated").mkdir()

    folder = tmp_path / "drop"
    oneroster_drop(folder)
    with LocalFolderSource(folder).fetch(ONEROSTER_CSV_REQUIRED, workdir=work) as drop:
        assert drop.path.parent == work and drop.path.name.startswith(f"rostersync-drop-{os.getpid()}-")
    assert not dead_copy.exists()
    assert live_copy.exists() and (work / "unrelated").exists()
    assert sorted(p.name for p in work.iterdir()) == sorted([live_copy.name, "unrelated"])

    # the rule itself: only names of drop copies, and only those whose process is gone
    names = ["rostersync-drop-12-abc", "rostersync-drop-13-x", "other", "rostersync-drop-abc"]
    assert stale_copies(names, alive=lambda pid: pid == 13) == ["rostersync-drop-12-abc"]
