"""Clever v3.0 JSON -> records, field by field, on objects shaped as the spec defines them (and checked
against it), plus the per-record problems a school leader would read in the report."""

from __future__ import annotations

import copy

import pytest

from clever_spec import definitions, strict
from connectors.clever.mapping import full_batch, map_school, map_section, map_user
from connectors.records import (ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord, SchoolRecord,
                                StudentRecord, TeacherRecord)

DISTRICT = "4fd43cc56d11340000000005"
HIGH, MIDDLE = "530e595026403103360ff9fe", "530e595026403103360ff9ff"
STAMP = "2024-08-12T17:32:10.123Z"

SCHOOL = {
    "id": HIGH, "district": DISTRICT, "name": "Clever Academy High", "school_number": "02", "sis_id": "SCH02",
    "state_id": "712", "nces_id": "94755881", "mdr_number": "22222", "low_grade": "9", "high_grade": "12",
    "phone": "(555) 555-1234", "principal": {"name": "Rockman Adams", "email": "principal@example.edu"},
    "location": {"address": "1 Main St", "city": "Springfield", "state": "OR", "zip": "97477", "lat": None,
                 "lon": None},
    "created": STAMP, "last_modified": STAMP, "ext": {"district_code": "x"},
}
STUDENT = {
    "id": "530e5960049e75a9262cff1d", "district": DISTRICT, "email": "bryan.hirthe@students.example.edu",
    "name": {"first": "Bryan", "middle": "K", "last": "Hirthe"}, "created": STAMP, "last_modified": STAMP,
    "roles": {"student": {
        "school": HIGH, "schools": [MIDDLE, HIGH], "student_number": "21002", "sis_id": "SIS21002",
        "state_id": "1024", "dob": "1/5/2008", "grade": "9", "gender": "M", "race": "Asian",
        "hispanic_ethnicity": "N", "ell_status": "N", "graduation_year": "2026", "legacy_id": "x1",
        "enrollments": [{"school": HIGH, "start_date": STAMP, "end_date": STAMP}],
        "location": {"address": None, "city": None, "state": None, "zip": "97477", "lat": None, "lon": None},
        "credentials": {"district_username": "bhirthe"}, "created": STAMP, "last_modified": STAMP, "ext": {}}},
}
TEACHER = {
    "id": "5a5f3c8e1b2c3d4e5f607182", "district": DISTRICT, "email": "j.lopez@example.edu",
    "name": {"first": "Julia", "middle": None, "last": "Lopez"}, "created": STAMP, "last_modified": STAMP,
    "roles": {"teacher": {"school": MIDDLE, "schools": [MIDDLE, HIGH], "sis_id": "T88", "teacher_number": "88",
                          "title": "Ms.", "district": DISTRICT, "legacy_id": "t88", "state_id": None,
                          "credentials": {"district_username": "jlopez"}, "created": STAMP,
                          "last_modified": STAMP}},
}
STAFF = {
    "id": "5a5f3c8e1b2c3d4e5f607183", "district": DISTRICT, "email": "nurse@example.edu",
    "name": {"first": "Sam", "middle": None, "last": "Okafor"},
    "roles": {"staff": {"schools": [HIGH], "staff_id": "S12", "title": "Nurse", "department": "Health",
                        "roles": [], "legacy_id": "s12", "credentials": {"district_username": "sokafor"}}},
}
CONTACT = {
    "id": "5b1e2f3a4c5d6e7f80912345", "district": DISTRICT, "email": "maria.hirthe@example.com",
    "name": {"first": "Maria", "middle": None, "last": "Hirthe"}, "created": STAMP, "last_modified": STAMP,
    "roles": {"contact": {"phone": "(541) 555-0187", "phone_type": "Cell", "sis_id": "C501", "legacy_id": "c501",
                          "student_relationships": [
                              {"student": "530e5960049e75a9262cff1d", "relationship": "Parent",
                               "type": "Parent/Guardian"},
                              {"student": "530e5960049e75a9262cff1e", "relationship": "Aunt/Uncle",
                               "type": "Emergency"}]}},
}
SECTION = {
    "id": "5c2d3e4f5a6b7c8d9e0f1a2b", "district": DISTRICT, "school": HIGH, "name": "Algebra I - Period 2",
    "teacher": "5a5f3c8e1b2c3d4e5f607182", "teachers": ["5a5f3c8e1b2c3d4e5f607182", "5a5f3c8e1b2c3d4e5f607184"],
    "students": ["530e5960049e75a9262cff1d", "530e5960049e75a9262cff1e"], "sis_id": "SEC9", "section_number": "9",
    "period": "2", "subject": "math", "grade": "9", "course": "5d3e4f5a6b7c8d9e0f1a2b3c", "term_id": None,
    "created": STAMP, "last_modified": STAMP, "ext": {},
}


@pytest.mark.parametrize("name, obj", [("School", SCHOOL), ("User", STUDENT), ("User", TEACHER), ("User", STAFF),
                                       ("User", CONTACT), ("Section", SECTION)])
def test_the_objects_here_are_what_the_spec_defines(samples_dir, name, obj):
    import jsonschema

    defs = definitions(samples_dir)
    jsonschema.Draft4Validator(strict(defs, defs[name])).validate(obj)


def test_school_fields():
    assert map_school(SCHOOL, []) == SchoolRecord(external_id=HIGH, name="Clever Academy High", school_number="02")


def test_student_fields_primary_school_iso_birth_date():
    problems = []
    assert map_user(STUDENT, problems) == [StudentRecord(
        external_id="530e5960049e75a9262cff1d", school_id=HIGH, given_name="Bryan", family_name="Hirthe",
        student_number="21002", birth_date="2008-01-05", grade="9")]
    assert problems == []


def test_teacher_keeps_all_schools_primary_first_and_user_email():
    assert map_user(TEACHER, []) == [TeacherRecord(
        external_id="5a5f3c8e1b2c3d4e5f607182", given_name="Julia", family_name="Lopez", email="j.lopez@example.edu",
        school_ids=(MIDDLE, HIGH), role="teacher")]


def test_staff_is_a_teacher_record_with_role_staff():
    assert map_user(STAFF, []) == [TeacherRecord(
        external_id="5a5f3c8e1b2c3d4e5f607183", given_name="Sam", family_name="Okafor", email="nurse@example.edu",
        school_ids=(HIGH,), role="staff")]


def test_contact_fields_and_links_in_the_csv_readers_vocabulary():
    assert map_user(CONTACT, []) == [GuardianRecord(
        external_id="5b1e2f3a4c5d6e7f80912345", given_name="Maria", family_name="Hirthe",
        email="maria.hirthe@example.com", phone="(541) 555-0187", phone_type="cell",
        links=(GuardianLink("530e5960049e75a9262cff1d", "Parent", "parent/guardian"),
               GuardianLink("530e5960049e75a9262cff1e", "Aunt/Uncle", "emergency")))]


def test_section_teachers_on_the_classroom_students_as_enrollments():
    problems = []
    classroom, enrollments = map_section(SECTION, problems)
    assert classroom == ClassroomRecord(external_id="5c2d3e4f5a6b7c8d9e0f1a2b", school_id=HIGH,
                                        name="Algebra I - Period 2",
                                        teacher_ids=("5a5f3c8e1b2c3d4e5f607182", "5a5f3c8e1b2c3d4e5f607184"))
    assert enrollments == [EnrollmentRecord("5c2d3e4f5a6b7c8d9e0f1a2b", s, "student")
                           for s in ("530e5960049e75a9262cff1d", "530e5960049e75a9262cff1e")]
    assert problems == []


def test_a_user_with_several_roles_gives_a_record_per_role():
    user = copy.deepcopy(TEACHER)
    user["roles"]["staff"] = copy.deepcopy(STAFF["roles"]["staff"])
    user["roles"]["contact"] = copy.deepcopy(CONTACT["roles"]["contact"])
    records = map_user(user, [])
    assert [type(r).__name__ for r in records] == ["TeacherRecord", "GuardianRecord"]
    teacher = records[0]
    assert teacher.role == "teacher" and teacher.school_ids == (MIDDLE, HIGH)  # staff's HIGH not repeated
    assert records[1].external_id == teacher.external_id and records[1].email == "j.lopez@example.edu"


def test_district_admins_are_not_synced():
    admin = {"id": "5f0c0e7a1d2b3c4d5e6f0001", "name": {"first": "Dana", "last": "W"},
             "roles": {"district_admin": {"title": "Superintendent"}}}
    assert map_user(admin, []) == []


def test_student_number_falls_back_to_sis_id_and_school_to_the_first_of_schools():
    user = copy.deepcopy(STUDENT)
    role = user["roles"]["student"]
    role["student_number"] = None
    del role["school"]
    [student] = map_user(user, [])
    assert student.student_number == "SIS21002" and student.school_id == MIDDLE


def test_student_without_a_school_is_a_problem_not_a_crash():
    user = copy.deepcopy(STUDENT)
    user["roles"]["student"].update(school=None, schools=[])
    problems = []
    assert map_user(user, problems) == []
    [p] = problems
    assert (p.code, p.severity, p.file, p.record, p.field) == (
        "missing_value", "error", None, "530e5960049e75a9262cff1d", "roles.student.school")


def test_bad_dob_is_a_warning_and_never_shows_the_value():
    user = copy.deepcopy(STUDENT)
    user["roles"]["student"]["dob"] = "13/45/2008"
    problems = []
    [student] = map_user(user, problems)
    assert student.birth_date is None
    [p] = problems
    assert p.severity == "warning" and p.field == "roles.student.dob" and "13/45" not in p.message


def test_nameless_student_or_teacher_is_skipped_but_a_nameless_contact_kept():
    problems = []
    nameless = {"first": None, "middle": None, "last": None}
    assert map_user({**STUDENT, "name": nameless}, problems) == []
    assert map_user({**TEACHER, "name": nameless}, problems) == []
    [contact] = map_user({**CONTACT, "name": nameless}, problems)
    assert (contact.given_name, contact.family_name) == ("", "")
    assert [p.record for p in problems] == [STUDENT["id"], TEACHER["id"]]


def test_full_batch_checks_every_reference():
    orphan_contact = copy.deepcopy(CONTACT)
    orphan_contact["id"] = "5b1e2f3a4c5d6e7f80999999"
    orphan_contact["roles"]["contact"]["student_relationships"] = [
        {"student": "000000000000000000000000", "relationship": "Parent", "type": "Parent/Guardian"}]
    stray = copy.deepcopy(STUDENT)
    stray["id"] = "530e5960049e75a9262cff99"
    stray["roles"]["student"]["school"] = "999999999999999999999999"
    batch = full_batch([SCHOOL, {**SCHOOL, "id": MIDDLE, "name": "Clever Middle"}],
                       [STUDENT, STUDENT, TEACHER, CONTACT, orphan_contact, stray], [SECTION])
    assert [s.external_id for s in batch.students] == [STUDENT["id"]]  # the duplicate and the stray are out
    assert batch.classrooms[0].teacher_ids == (TEACHER["id"],)  # the unknown co-teacher is dropped
    assert [e.user_id for e in batch.enrollments] == [STUDENT["id"]]  # ...cff1e is not a student here
    [guardian] = batch.guardians  # the contact of no known student is left out
    assert [link.student_id for link in guardian.links] == [STUDENT["id"]]
    found = {(p.code, p.record, p.field, p.severity) for p in batch.problems}
    assert found == {
        ("duplicate_id", STUDENT["id"], "id", "warning"),
        ("unknown_reference", stray["id"], "roles.student.school", "error"),
        ("unknown_reference", SECTION["id"], "teachers", "warning"),
        ("unknown_reference", f"{SECTION['id']}/530e5960049e75a9262cff1e", "students", "error"),
        ("unknown_reference", CONTACT["id"], "roles.contact.student_relationships", "warning"),
        ("unknown_reference", orphan_contact["id"], "roles.contact.student_relationships", "warning"),
        ("unlinked_contact", orphan_contact["id"], "roles.contact.student_relationships", "warning"),
    }
    assert all(p.file is None and p.line is None for p in batch.problems)


def test_a_student_skipped_for_its_own_error_is_named_so_in_its_enrollments():
    nameless = copy.deepcopy(STUDENT)
    nameless["name"] = {"first": "", "last": ""}
    batch = full_batch([SCHOOL], [nameless], [SECTION])
    codes = {(p.code, p.record) for p in batch.problems}
    assert ("rejected_reference", f"{SECTION['id']}/{STUDENT['id']}") in codes
