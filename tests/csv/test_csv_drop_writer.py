"""The drop writer: spec-shaped files (checked against the public samples' own headers and manifests)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from connectors.records import GuardianLink, GuardianRecord, RosterBatch, SchoolRecord, StudentRecord, TeacherRecord
from connectors.sftp.drop_writer import guardian_id, write_oneroster_drop


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def manifest(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return {row["propertyName"]: row["value"] for row in csv.DictReader(fh)}


def small_batch() -> RosterBatch:
    b = RosterBatch(source="test")
    b.schools = [SchoolRecord("sch-1", "North")]
    b.students = [StudentRecord("s-1", "sch-1", "Ann", "Lee", birth_date="2014-02-28")]
    b.guardians = [GuardianRecord("g-1", "Pat", "Lee", links=(GuardianLink("s-1", "mother", "parent"),))]
    return b


@pytest.mark.parametrize("version,sample,files", [
    ("1.1", "Test_full_data_set", ["orgs", "academicSessions", "classes", "enrollments", "users"]),
    ("1.2", "oneroster_test_data", ["orgs", "academicSessions", "courses", "classes", "enrollments", "users",
                                    "roles", "demographics"]),
])
def test_headers_and_manifest_match_the_public_samples(samples_dir, tmp_path, version, sample, files):
    write_oneroster_drop(small_batch(), tmp_path, version)
    reference = samples_dir / "moodle-enrol_oneroster" / sample
    for stem in files:
        assert header(tmp_path / f"{stem}.csv") == header(reference / f"{stem}.csv"), stem
    ours, theirs = manifest(tmp_path / "manifest.csv"), manifest(reference / "manifest.csv")
    assert set(ours) == set(theirs)
    assert ours["oneroster.version"] == version
    written = {p.stem for p in tmp_path.glob("*.csv")} - {"manifest"}
    assert {k[5:] for k, v in ours.items() if k.startswith("file.") and v == "bulk"} == written
    assert all(v == "absent" for k, v in ours.items() if k.startswith("file.") and k[5:] not in written)


def test_files_are_utf8_without_bom_or_carriage_returns(tmp_path):
    batch = small_batch()
    batch.schools = [SchoolRecord("sch-1", "Nørth\r\nSide, \"Elm\"")]
    write_oneroster_drop(batch, tmp_path, "1.2")
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data, path.name
        data.decode("utf-8")
    assert b'"N\xc3\xb8rth\nSide, ""Elm"""' in (tmp_path / "orgs.csv").read_bytes()


def test_bulk_leaves_status_blank_and_delta_stamps_every_row(tmp_path):
    batch = small_batch()
    batch.students.append(StudentRecord("s-2", "sch-1", "Bo", "Ng", deleted=True))
    write_oneroster_drop(batch, tmp_path / "bulk", "1.1")
    write_oneroster_drop(batch, tmp_path / "delta", "1.1", "delta", date_last_modified="2025-01-02T03:04:05.000Z")
    with (tmp_path / "bulk" / "users.csv").open(encoding="utf-8", newline="") as fh:
        bulk = {r["sourcedId"]: (r["status"], r["dateLastModified"]) for r in csv.DictReader(fh)}
    with (tmp_path / "delta" / "users.csv").open(encoding="utf-8", newline="") as fh:
        delta = {r["sourcedId"]: (r["status"], r["dateLastModified"]) for r in csv.DictReader(fh)}
    assert bulk == {"s-1": ("", ""), "s-2": ("tobedeleted", ""), "g-1": ("", "")}
    stamp = "2025-01-02T03:04:05.000Z"
    assert delta == {"s-1": ("active", stamp), "s-2": ("tobedeleted", stamp), "g-1": ("active", stamp)}
    assert manifest(tmp_path / "delta" / "manifest.csv")["file.users"] == "delta"


def test_guardian_row_names_its_students_and_their_schools(tmp_path):
    write_oneroster_drop(small_batch(), tmp_path, "1.1")
    with (tmp_path / "users.csv").open(encoding="utf-8", newline="") as fh:
        pat = next(r for r in csv.DictReader(fh) if r["sourcedId"] == "g-1")
    assert (pat["role"], pat["agentSourcedIds"], pat["orgSourcedIds"]) == ("parent", "s-1", "sch-1")


def test_guardian_id_is_stable_and_keyed_by_what_identifies_the_contact():
    a = GuardianRecord(None, "Pat", "Lee", email=" Pat@X.org ")
    b = GuardianRecord(None, "Patricia", "Lee", email="pat@x.org", phone="1")
    assert guardian_id(a) == guardian_id(b)
    assert guardian_id(GuardianRecord(None, "P", "L", phone="+1 (555) 0100")) == \
        guardian_id(GuardianRecord(None, "Q", "M", phone="15550100"))
    assert guardian_id(GuardianRecord("own", "P", "L", email="pat@x.org")) == "own"


def test_bad_arguments_and_a_user_with_two_kinds_in_v11_are_refused(tmp_path):
    with pytest.raises(ValueError):
        write_oneroster_drop(small_batch(), tmp_path, "1.0")
    with pytest.raises(ValueError):
        write_oneroster_drop(small_batch(), tmp_path, "1.1", "full")
    batch = small_batch()
    batch.teachers = [TeacherRecord("g-1", "Pat", "Lee")]
    with pytest.raises(ValueError, match="g-1"):
        write_oneroster_drop(batch, tmp_path / "v11", "1.1")
    write_oneroster_drop(batch, tmp_path / "v12", "1.2")  # 1.2 gives one user several roles
    with (tmp_path / "v12" / "roles.csv").open(encoding="utf-8", newline="") as fh:
        roles = [(r["userSourcedId"], r["roleType"], r["role"]) for r in csv.DictReader(fh)]
    assert ("g-1", "primary", "teacher") in roles and ("g-1", "secondary", "parent") in roles
