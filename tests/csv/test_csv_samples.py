"""Conformance against the public OneRoster sample drops in ../shared/samples (read in place, never copied
into the project; a test that must alter one copies it to its own temporary folder first)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connectors.records import EnrollmentRecord, GuardianLink
from connectors.sftp.csv_reader import CsvFormatError
from connectors.sftp.oneroster_csv import DropError, read_oneroster_drop

ALL_KINDS = frozenset({"schools", "teachers", "classrooms", "students", "guardians", "enrollments"})


@pytest.fixture
def moodle(samples_dir: Path) -> Path:
    return samples_dir / "moodle-enrol_oneroster"


def problems(batch, code=None):
    return [(p.code, p.severity, p.file, p.line, p.record, p.field) for p in batch.problems
            if code is None or p.code == code]


def copy_of(src: Path, dst: Path, **replace: tuple[str, str]) -> Path:
    """A copy of a sample folder with one text replacement per file (file name -> (old, new))."""
    shutil.copytree(src, dst)
    for name, (old, new) in replace.items():
        path = dst / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"sample changed: {old!r} not in {name}"
        path.write_text(text.replace(old, new), encoding="utf-8", newline="")
    return dst


def test_full_data_set_has_no_school_so_no_student_is_taken(moodle):
    """Its only org is a department whose parent is not in the drop: nothing can place the students."""
    batch = read_oneroster_drop(moodle / "Test_full_data_set")
    assert batch.mode == "full" and batch.complete == ALL_KINDS
    assert batch.schools == [] and batch.students == []
    assert [(t.external_id, t.role, t.school_ids) for t in batch.teachers] == [
        ("usr-222-123456", "teacher", ()), ("usr-222-987654", "teacher", ())]
    [thomas] = batch.guardians
    assert (thomas.external_id, thomas.email, thomas.phone, thomas.links) == (
        "usr-222-1234561", "thomas.jones@testemail.com", "6039876543", ())
    # the tobedeleted class needs no school to be deleted; the active one cannot be placed
    assert [(c.external_id, c.deleted) for c in batch.classrooms] == [("cls-222-123478", True)]
    assert batch.enrollments == [EnrollmentRecord("cls-222-123478", "usr-222-123456", "teacher",
                                                  "enr-t-222-12345-123232")]
    assert problems(batch, "no_school") == [
        ("no_school", "error", "classes.csv", 2, "cls-222-123456", "schoolSourcedId"),
        ("no_school", "warning", "users.csv", 2, "usr-222-123456", "orgSourcedIds"),
        ("no_school", "error", "users.csv", 3, "usr-222-66778899", "orgSourcedIds"),
        ("no_school", "warning", "users.csv", 5, "usr-222-987654", "orgSourcedIds"),
        ("no_school", "error", "users.csv", 6, "usr-222-1234561232", "orgSourcedIds"),
        ("no_school", "error", "users.csv", 7, "usr-222-567891", "orgSourcedIds"),
    ]
    assert "org-sch-222-456 is a department" in batch.problems[2].message
    # the 1.0-era "inactive" status is refused for its row only
    assert problems(batch, "invalid_status") == [
        ("invalid_status", "error", "academicSessions.csv", 4, "as-grp-222-2345", "status")]
    assert problems(batch, "unknown_reference") == [
        ("unknown_reference", "warning", "orgs.csv", 2, "org-sch-222-456", "parentSourcedId")]


def test_full_data_set_with_its_department_made_a_school_is_the_happy_path(moodle, tmp_path):
    folder = copy_of(moodle / "Test_full_data_set", tmp_path / "drop",
                     **{"orgs.csv": (",department,", ",school,")})
    batch = read_oneroster_drop(folder)
    [school] = batch.schools
    assert (school.external_id, school.name, school.school_number) == (
        "org-sch-222-456", "History Department", "History")
    assert [(s.external_id, s.given_name, s.student_number, s.grade) for s in batch.students] == [
        ("usr-222-66778899", "Mary", "mary.jones", "12"),     # blank status in bulk: active
        ("usr-222-1234561232", "mmichel", "mmichel.jones", "12"),
        ("usr-222-567891", "Anna", "anna.brown", "11")]
    # the parent names Mary in agentSourcedIds
    [thomas] = batch.guardians
    assert thomas.links == (GuardianLink("usr-222-66778899", "parent", "parent"),)
    # students' agentSourcedIds name teachers: not family, so no link, a warning each
    assert problems(batch, "agent_not_guardian") == [
        ("agent_not_guardian", "warning", "users.csv", 3, "usr-222-66778899", "agentSourcedIds"),
        ("agent_not_guardian", "warning", "users.csv", 6, "usr-222-1234561232", "agentSourcedIds"),
        ("agent_not_guardian", "warning", "users.csv", 7, "usr-222-567891", "agentSourcedIds")]
    assert [(c.external_id, c.name, c.deleted) for c in batch.classrooms] == [
        ("cls-222-123456", "Introduction to Physics", False), ("cls-222-123478", "History - 2", True)]
    assert [e.external_id for e in batch.enrollments] == [
        "enr-t-222-12345-123456", "enr-s-222-12345-987655", "enr-t-222-12345-123232", "enr-s-222-12345-985321"]
    # two "student" enrollments name Jim Smith, who users.csv says is a teacher
    assert problems(batch, "role_mismatch") == [
        ("role_mismatch", "error", "enrollments.csv", 3, "enr-s-222-12345-987654", "role"),
        ("role_mismatch", "error", "enrollments.csv", 6, "enr-s-222-12345-987532", "role")]


def test_minimal_data_set_reads_blank_optional_columns_as_nothing(moodle):
    batch = read_oneroster_drop(moodle / "Test_minimal_data_set")
    assert batch.complete == ALL_KINDS
    assert [(t.external_id, t.email) for t in batch.teachers] == [("usr-222-123456", None), ("usr-222-987654", None)]
    [thomas] = batch.guardians
    assert (thomas.email, thomas.phone, thomas.phone_type) == (None, None, None)
    assert problems(batch, "invalid_status") == [] and problems(batch, "invalid_date") == []
    assert batch.classrooms == [] and batch.students == []
    assert {p.record for p in batch.problems if p.code == "no_school" and p.severity == "error"} == {
        "cls-222-123456", "cls-222-123478", "usr-222-66778899", "usr-222-1234561232", "usr-222-567891"}


def test_v12_delta_set_reads_roles_demographics_and_delta_semantics(moodle):
    batch = read_oneroster_drop(moodle / "oneroster_test_data")
    assert batch.mode == "delta" and batch.complete == frozenset()
    assert [(s.external_id, s.name) for s in batch.schools] == [("ORG_1", "Gotham High School")]
    [bruce] = batch.students
    assert (bruce.external_id, bruce.school_id, bruce.given_name, bruce.family_name, bruce.student_number,
            bruce.birth_date) == ("USER_0", "ORG_1", "Bruce", "Wayne", "bruce.wayne", "2010-04-17")
    assert [(c.external_id, c.school_id, c.name) for c in batch.classrooms] == [
        ("CLASS_001", "ORG_1", "Basic Detection")]
    assert batch.enrollments == [EnrollmentRecord("CLASS_001", "USER_0", "student", "ENROLLMENT_001")]
    assert batch.problems == []


def test_v12_defective_set_gives_clear_row_errors_and_ignores_misspelt_optional_headers(moodle):
    """dataLastModified (roles.csv) and prefferedGivenName (users.csv) misspell optional columns of a bulk
    drop: ignored. Its other defects become per-row problems that name file, line, record and field."""
    batch = read_oneroster_drop(moodle / "v1p2_full_dataset")
    assert batch.complete == ALL_KINDS
    # John Doe: primary teacher and secondary guardian -> both records; Thomas: siteAdministrator -> staff
    assert [(t.external_id, t.role) for t in batch.teachers] == [
        ("usr-222-123456", "teacher"), ("usr-222-1234561", "staff"), ("usr-222-987654", "teacher")]
    assert [g.external_id for g in batch.guardians] == ["usr-222-123456"]
    assert batch.students == []  # the only org is a department, as in the 1.1 set
    assert problems(batch, "invalid_date") == [
        ("invalid_date", "warning", "users.csv", line, record, "dateLastModified")
        for line, record in [(2, "usr-222-123456"), (4, "usr-222-1234561"), (5, "usr-222-987654"),
                             (6, "usr-222-1234561232"), (7, "usr-222-567891")]]
    anna = next(p for p in batch.problems if p.code == "invalid_date" and p.record == "usr-222-567891")
    assert "'15/06/2023' is not an ISO 8601 date-time" in anna.message
    # blank file.* values in the manifest, for files this reader does not use: warnings, not a refusal
    assert problems(batch, "manifest_value") == [
        ("manifest_value", "warning", "manifest.csv", 21, None, "value"),
        ("manifest_value", "warning", "manifest.csv", 22, None, "value"),
        ("manifest_value", "warning", "manifest.csv", 23, None, "value")]


def test_v12_defective_set_as_a_delta_refuses_roles_without_date_last_modified(moodle, tmp_path):
    """In a delta dateLastModified is required: the misspelt header is then a clear refusal."""
    folder = copy_of(moodle / "v1p2_full_dataset", tmp_path / "drop",
                     **{"manifest.csv": ("file.roles,bulk", "file.roles,delta")})
    with pytest.raises(CsvFormatError) as err:
        read_oneroster_drop(folder)
    assert (err.value.file, err.value.line, err.value.column) == ("roles.csv", 1, "dateLastModified")


def test_oat_set_with_odd_headers_is_refused_naming_each_missing_required_column(samples_dir):
    with pytest.raises(DropError) as err:
        read_oneroster_drop(samples_dir / "oat-sa-oneroster-import" / "OneRosterv1p1BaseCSV")
    assert [(e.file, e.line, e.column) for e in err.value.errors] == [
        ("academicSessions.csv", 1, "schoolYear"),     # required in 1.1, absent from its header
        ("demographics.csv", 1, "sourcedId")]          # it says userSourcedId
    assert "missing required column 'schoolYear'" in str(err.value)


def test_oat_set_reads_by_header_name_ignoring_ext_and_metadata_columns(samples_dir, tmp_path):
    folder = copy_of(samples_dir / "oat-sa-oneroster-import" / "OneRosterv1p1BaseCSV", tmp_path / "drop",
                     **{"manifest.csv": ("file.academicSessions,bulk", "file.academicSessions,absent")})
    text = (folder / "manifest.csv").read_text()
    (folder / "manifest.csv").write_text(text.replace("file.demographics,bulk", "file.demographics,absent"))
    batch = read_oneroster_drop(folder)
    assert [(s.external_id, s.name, s.school_number) for s in batch.schools] == [
        ("12345", "School 1", "my identifier"), ("54321", "School 2", "my identifier 2")]
    assert [(c.external_id, c.school_id) for c in batch.classrooms] == [
        ("class1", "12345"), ("class2", "12345"), ("class3", "54321")]
    # users.csv puts enabledUser before status and adds ext_* columns: read by name all the same
    assert [(s.external_id, s.school_id, s.given_name, s.family_name, s.student_number) for s in batch.students] == [
        ("user1", "12345", "ionut", "padurariu", "user identifier"),
        ("user2", "54321", "ionut2", "padurariu", "user identifier 2")]
    # enrollments.csv has status and dateLastModified after the ids
    assert [(e.external_id, e.classroom_id, e.user_id) for e in batch.enrollments] == [
        ("enrol1", "class1", "user1"), ("enrol2", "class2", "user1"), ("enrol3", "class3", "user2")]
    assert [(p.code, p.file) for p in batch.problems] == [
        ("file_ignored", "academicSessions.csv"), ("file_ignored", "demographics.csv")]
