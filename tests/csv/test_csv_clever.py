"""Clever SFTP CSV drops: round trips, contacts spread over student rows, and drops refused whole."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from connectors.records import (ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord,
                                RosterBatch, SchoolRecord, StudentRecord, TeacherRecord)
from connectors.sftp.clever_csv import DropError, clever_dob, read_clever_drop, split_contact_name
from connectors.sftp.csv_reader import CsvFormatError
from connectors.sftp.drop_writer import write_clever_drop

ALL_KINDS = frozenset({"schools", "teachers", "classrooms", "students", "guardians", "enrollments"})

STUDENTS = ("School_id,Student_id,Student_number,Last_name,First_name,Grade,DOB,Contact_type,Contact_name,"
            "Contact_relationship,Contact_phone,Contact_phone_type,Contact_email,Contact_sis_id")
DEFAULTS = {
    "schools": "School_id,School_name,School_number\nsch-1,North,101\n",
    "students": STUDENTS + "\n",
    "teachers": "School_id,Teacher_id,Teacher_email,First_name,Last_name\nsch-1,t-1,t1@x.org,Ann,Lee\n",
    "sections": "School_id,Section_id,Teacher_id,Name\n",
    "enrollments": "School_id,Section_id,Student_id\n",
}


def clever_drop(folder: Path, **files: str | None) -> Path:
    """A drop of the five required files (small defaults) plus what is given; None leaves a file out."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in {**DEFAULTS, **files}.items():
        if text is not None:
            (folder / f"{stem}.csv").write_text(text, encoding="utf-8", newline="")
    return folder


def problems(batch):
    return [(p.code, p.severity, p.file, p.line, p.record, p.field) for p in batch.problems]


def clever_batch() -> RosterBatch:
    """Every field Clever carries, names with quoted commas and newlines, siblings sharing a guardian with
    an id and one without, a teacher at two schools, a staff member, a section with two teachers."""
    b = RosterBatch(source="test")
    b.schools = [SchoolRecord("sch-1", 'North "Elm", Elementary', "101"), SchoolRecord("sch-2", "South\nHigh", None)]
    b.teachers = [TeacherRecord("t-1", "Ann", "Lee", "ann@x.org", ("sch-1", "sch-2")),
                  TeacherRecord("t-2", "Bo", "Ng", None, ("sch-1",)),
                  TeacherRecord("st-1", "Cy", "Oh, Jr.", "cy@x.org", ("sch-2",), role="staff")]
    b.classrooms = [ClassroomRecord("c-1", "sch-1", "Math, 1st\nperiod", ("t-1", "t-2")),
                    ClassroomRecord("c-2", "sch-2", "Art", ("t-1",))]
    b.students = [StudentRecord("s-1", "sch-1", "Mary Ann", "O'Neil, Smith", "N-1", "2014-02-28", "3"),
                  StudentRecord("s-2", "sch-1", "Joe", "O'Neil", "N-2", "2016-12-01", "Kindergarten"),
                  StudentRecord("s-3", "sch-2", "Zoë", "Ng", None, None, None)]
    b.guardians = [
        GuardianRecord("g-1", "Pat", "O'Neil", "pat@x.org", "+1 555 0100", "cell",
                       (GuardianLink("s-1", "Parent", "parent/guardian"),
                        GuardianLink("s-2", "Parent", "parent/guardian"))),
        GuardianRecord(None, "Sam", "de la Cruz", "Sam@X.org", "555-0101", "home",
                       (GuardianLink("s-1", "Grandparent", "emergency"),
                        GuardianLink("s-2", "Grandparent", "emergency"))),
        GuardianRecord(None, "Kim", "Ng, Jr.", None, "(555) 0102", None, (GuardianLink("s-3", None, None),)),
    ]
    b.enrollments = [EnrollmentRecord("c-1", "s-1"), EnrollmentRecord("c-1", "s-2"), EnrollmentRecord("c-2", "s-3")]
    return b


def test_round_trip_gives_back_the_same_records(tmp_path):
    batch = clever_batch()
    write_clever_drop(batch, tmp_path)
    got = read_clever_drop(tmp_path)
    assert got.source == "clever-csv" and got.mode == "full" and got.complete == ALL_KINDS
    assert got.schools == batch.schools
    assert got.teachers == batch.teachers
    assert got.classrooms == batch.classrooms
    assert got.students == batch.students
    assert got.guardians == batch.guardians
    assert got.enrollments == batch.enrollments
    assert got.problems == []


def test_siblings_share_one_guardian_even_without_contact_sis_id(tmp_path):
    write_clever_drop(clever_batch(), tmp_path)
    with (tmp_path / "students.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(1 for r in rows if r["Contact_email"] == "Sam@X.org") == 2  # one row per student
    got = read_clever_drop(tmp_path)
    sam = [g for g in got.guardians if g.email == "Sam@X.org"]
    assert len(sam) == 1 and sam[0].external_id is None
    assert [link.student_id for link in sam[0].links] == ["s-1", "s-2"]


def test_teacher_enrollments_become_section_teachers(tmp_path):
    batch = clever_batch()
    batch.classrooms[1] = ClassroomRecord("c-2", "sch-2", "Art")
    batch.enrollments.append(EnrollmentRecord("c-2", "t-2", "teacher"))
    write_clever_drop(batch, tmp_path)
    got = read_clever_drop(tmp_path)
    assert next(c for c in got.classrooms if c.external_id == "c-2").teacher_ids == ("t-2",)
    assert all(e.role == "student" for e in got.enrollments)


def test_written_files_have_lf_ends_and_no_bom(tmp_path):
    write_clever_drop(clever_batch(), tmp_path)
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert b"\r" not in data and not data.startswith(b"\xef\xbb\xbf"), path.name
    assert (tmp_path / "sections.csv").read_text().splitlines()[0] == "School_id,Section_id,Teacher_id,Teacher_2_id,Name"


@pytest.mark.parametrize("name,expected", [
    ("Jones, Thomas", ("Thomas", "Jones")),
    ("Thomas Jones", ("Thomas", "Jones")),
    ("  Mary   Ann  Smith ", ("Mary Ann", "Smith")),
    ("Maria de la Cruz", ("Maria", "de la Cruz")),
    ("Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
    ("John Smith Jr.", ("John", "Smith Jr.")),
    ("John Smith, Jr.", ("John", "Smith, Jr.")),
    ("Smith, Jr., John", ("John", "Smith, Jr.")),
    ("Cher", ("Cher", "")),
    ("", ("", "")),
])
def test_contact_name_is_split_sensibly(name, expected):
    assert split_contact_name(name) == expected


@pytest.mark.parametrize("value,expected", [
    ("02/28/2014", "2014-02-28"), ("2/3/2014", "2014-02-03"), ("2014-02-03", "2014-02-03"),
    ("02/30/2014", None), ("28/02/2014", None), ("2014/02/28", None), ("soon", None),
])
def test_dob_is_mm_dd_yyyy(value, expected):
    assert clever_dob(value) == expected


def test_contacts_on_several_rows_with_types_lowered_and_relationship_kept(tmp_path):
    students = STUDENTS + "\n" + "\n".join([
        "sch-1,s-1,N1,Lee,Ann,3,02/28/2014,Parent/Guardian,\"Lee, Kim\",Mother,555-0100,Cell,kim@x.org,c-9",
        "sch-1,s-1,N1,Lee,Ann,3,02/28/2014,Emergency,Bo Lee,Aunt/Uncle,555-0200,Home,,",
        "sch-1,s-2,N2,Lee,Cy,5,,Parent/Guardian,Kim Lee,Mother,,,KIM@x.org,c-9",
        "sch-1,s-3,N3,Oh,Di,1,,,,,,,,",
    ]) + "\n"
    got = read_clever_drop(clever_drop(tmp_path, students=students))
    assert [(s.external_id, s.birth_date) for s in got.students] == [("s-1", "2014-02-28"), ("s-2", None), ("s-3", None)]
    kim, bo = got.guardians
    assert (kim.external_id, kim.given_name, kim.family_name, kim.email, kim.phone_type) == (
        "c-9", "Kim", "Lee", "kim@x.org", "cell")
    assert kim.links == (GuardianLink("s-1", "Mother", "parent/guardian"), GuardianLink("s-2", "Mother", "parent/guardian"))
    assert (bo.external_id, bo.given_name, bo.family_name, bo.phone, bo.phone_type) == (None, "Bo", "Lee", "555-0200", "home")
    assert bo.links == (GuardianLink("s-1", "Aunt/Uncle", "emergency"),)
    assert got.problems == []


def test_row_problems_name_file_line_record_and_field(tmp_path):
    students = STUDENTS + "\n" + "\n".join([
        "sch-1,s-1,N1,Lee,Ann,3,13/01/2014,Emergency,Bo Lee,Uncle,,,,",     # 2: bad DOB, contact unkeyed
        "sch-9,s-2,N2,Ng,Bo,3,,,,,,,,",                                     # 3: unknown school
        "sch-1,s-1,N1,Lee,Annie,3,13/01/2014,Parent/Guardian,Kim,Mother,,,k@x.org,",  # 4: other student fields
        "sch-1,s-3,N3,,Cy,3,,,,,,,,",                                       # 5: blank Last_name
    ]) + "\n"
    sections = ("School_id,Section_id,Teacher_id,Teacher_2_id,Name\n"
                "sch-1,c-1,t-1,t-404,Math\nsch-1,c-1,t-1,,Again\nsch-2,c-2,t-1,,Art\n")
    enrollments = ("School_id,Section_id,Student_id\nsch-1,c-1,s-1\nsch-1,c-1,s-2\nsch-1,c-1,s-404\n"
                   "sch-1,c-404,s-1\nsch-1,c-1,s-1\n")
    schools = "School_id,School_name,School_number\nsch-1,North,101\nsch-1,Dup,102\n"
    got = read_clever_drop(clever_drop(tmp_path, schools=schools, students=students, sections=sections,
                                       enrollments=enrollments))
    assert [s.external_id for s in got.students] == ["s-1"]
    assert got.students[0].birth_date is None and got.students[0].given_name == "Ann"
    assert [(g.email, [link.student_id for link in g.links]) for g in got.guardians] == [("k@x.org", ["s-1"])]
    assert [(c.external_id, c.teacher_ids) for c in got.classrooms] == [("c-1", ("t-1",))]
    assert got.enrollments == [EnrollmentRecord("c-1", "s-1")]
    assert problems(got) == [
        ("duplicate_id", "error", "schools.csv", 3, "sch-1", "School_id"),
        ("invalid_date", "warning", "students.csv", 2, "s-1", "DOB"),
        ("unkeyed_contact", "warning", "students.csv", 2, "s-1", "Contact_sis_id"),
        ("unknown_reference", "error", "students.csv", 3, "s-2", "School_id"),
        ("inconsistent_rows", "warning", "students.csv", 4, "s-1", None),
        ("missing_value", "error", "students.csv", 5, "s-3", "Last_name"),
        ("unknown_reference", "warning", "sections.csv", 2, "c-1", "Teacher_2_id"),
        ("duplicate_id", "error", "sections.csv", 3, "c-1", "Section_id"),
        ("unknown_reference", "error", "sections.csv", 4, "c-2", "School_id"),
        ("rejected_reference", "error", "enrollments.csv", 3, "c-1/s-2", "Student_id"),
        ("unknown_reference", "error", "enrollments.csv", 4, "c-1/s-404", "Student_id"),
        ("unknown_reference", "error", "enrollments.csv", 5, "c-404/s-1", "Section_id"),
        ("duplicate_id", "warning", "enrollments.csv", 6, "c-1/s-1", None),
    ]
    assert "13/01/2014" not in got.problems[1].message  # a birth date is personal


def test_teacher_at_several_schools_and_staff_also_in_teachers(tmp_path):
    teachers = ("School_id,Teacher_id,Teacher_email,First_name,Last_name\n"
                "sch-1,t-1,a@x.org,Ann,Lee\nsch-2,t-1,a@x.org,Ann,Lee\nsch-9,t-1,a@x.org,Ann,Lee\n")
    staff = "School_id,Staff_id,Staff_email,First_name,Last_name,Title\nsch-1,s-9,s@x.org,Di,Po,Nurse\nsch-1,t-1,,Ann,Lee,\n"
    schools = "School_id,School_name,School_number\nsch-1,North,1\nsch-2,South,2\n"
    got = read_clever_drop(clever_drop(tmp_path, schools=schools, teachers=teachers, staff=staff))
    assert [(t.external_id, t.school_ids, t.role, t.email) for t in got.teachers] == [
        ("t-1", ("sch-1", "sch-2"), "teacher", "a@x.org"), ("s-9", ("sch-1",), "staff", "s@x.org")]
    assert [(p.code, p.file, p.line, p.record) for p in got.problems] == [
        ("unknown_reference", "teachers.csv", 4, "t-1"), ("duplicate_id", "staff.csv", 3, "t-1")]


def test_staff_csv_is_optional(tmp_path):
    got = read_clever_drop(clever_drop(tmp_path))
    assert [t.external_id for t in got.teachers] == ["t-1"] and got.complete == ALL_KINDS


def test_a_missing_required_file_refuses_the_drop(tmp_path):
    with pytest.raises(DropError) as err:
        read_clever_drop(clever_drop(tmp_path, sections=None, enrollments=None))
    assert err.value.file == "sections.csv"
    assert str(err.value).startswith("sections.csv: sections.csv, enrollments.csv are missing")


def test_headers_are_exact_a_missing_required_column_names_file_and_column(tmp_path):
    students = STUDENTS.replace("Student_id", "student_id") + "\n"
    with pytest.raises(CsvFormatError) as err:
        read_clever_drop(clever_drop(tmp_path, students=students))
    assert (err.value.file, err.value.line, err.value.column) == ("students.csv", 1, "Student_id")


def test_column_order_is_free_and_unknown_columns_are_ignored(tmp_path):
    students = ("Contact_email,Gender,First_name,Student_id,Last_name,School_id,Contact_sis_id\n"
                "p@x.org,F,Ann,s-1,Lee,sch-1,c-1\n")
    got = read_clever_drop(clever_drop(tmp_path, students=students))
    assert [(s.external_id, s.given_name, s.family_name, s.student_number) for s in got.students] == [
        ("s-1", "Ann", "Lee", None)]
    assert got.guardians == [GuardianRecord("c-1", "", "", "p@x.org", None, None, (GuardianLink("s-1"),))]


def test_written_contact_vocabulary_is_clevers_own(samples_dir, tmp_path):
    """Contact_type and Contact_phone_type as written are values of Clever's own API enums."""
    import yaml  # a test dependency (pyproject [test]); CI must not skip this
    spec = yaml.safe_load((samples_dir / "clever-swagger-api" / "v3.0.yml").read_text(encoding="utf-8"))
    types = set(spec["definitions"]["StudentRelationship"]["properties"]["type"]["enum"])
    phone_types = {value for name, schema in spec["definitions"].items()
                   for value in schema.get("properties", {}).get("phone_type", {}).get("enum", [])}
    assert {"Parent/Guardian", "Emergency"} <= types and "Cell" in phone_types
    batch = clever_batch()
    write_clever_drop(batch, tmp_path)
    with (tmp_path / "students.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["Contact_type"] for r in rows} <= types
    assert {r["Contact_phone_type"] for r in rows} <= phone_types
