"""OneRoster CSV drops: round trips through the writer, per-row problems, and drops refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.records import (ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord,
                                RosterBatch, SchoolRecord, StudentRecord, TeacherRecord)
from connectors.sftp.csv_reader import CsvFormatError
from connectors.sftp.drop_writer import guardian_id, write_oneroster_drop
from connectors.sftp.oneroster_csv import DropError, read_oneroster_drop

ALL_KINDS = frozenset({"schools", "teachers", "classrooms", "students", "guardians", "enrollments"})

USERS_11 = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
            "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password")
ORGS = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId"
CLASSES = ("sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,"
           "schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods")
ENROLLMENTS = ("sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,"
               "beginDate,endDate")
DEMOGRAPHICS = "sourcedId,status,dateLastModified,birthDate,sex"


def make_drop(folder: Path, files: dict[str, str], version: str = "1.1", modes: dict | None = None,
              manifest: bool = True) -> Path:
    """A drop from {stem: csv text}; every given file is bulk unless ``modes`` says otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    modes = modes or {}
    for stem, text in files.items():
        (folder / f"{stem}.csv").write_text(text, encoding="utf-8", newline="")
    if manifest:
        stems = ["academicSessions", "classes", "courses", "demographics", "enrollments", "orgs", "users"]
        stems += ["roles"] if version == "1.2" else []
        lines = ["propertyName,value", "manifest.version,1.0", f"oneroster.version,{version}"]
        lines += [f"file.{s},{modes.get(s, 'bulk' if s in files else 'absent')}" for s in stems]
        (folder / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def school_rows(*ids: str) -> str:
    return ORGS + "\n" + "".join(f"{i},,,School {i},school,{i}-num,\n" for i in ids)


def full_batch() -> RosterBatch:
    """Every field filled, names with quoted commas and newlines, siblings sharing guardians, a guardian
    without an id of its own, a teacher at two schools and a staff member."""
    b = RosterBatch(source="test")
    b.schools = [SchoolRecord("sch-1", 'North "Elm", Elementary', "101"),
                 SchoolRecord("sch-2", "South\nHigh", None)]
    b.teachers = [TeacherRecord("t-1", "Ann", "Lee", "ann@x.org", ("sch-1", "sch-2")),
                  TeacherRecord("t-2", "Bo", "Ng, Jr.", None, ("sch-1",), role="staff")]
    b.classrooms = [ClassroomRecord("c-1", "sch-1", "Math, 1st\nperiod"),
                    ClassroomRecord("c-2", "sch-2", "Art")]
    b.students = [StudentRecord("s-1", "sch-1", "Mary Ann", "O'Neil, Smith", "N-1", "2014-02-28", "3"),
                  StudentRecord("s-2", "sch-1", "Joe", "O'Neil", "N-2", "2016-12-01", "KG"),
                  StudentRecord("s-3", "sch-2", "Zoë", "Ng", None, None, None)]
    b.guardians = [
        GuardianRecord("g-1", "Pat", "O'Neil", "pat@x.org", "+1 555 0100", "cell",
                       (GuardianLink("s-1", "parent", "parent"), GuardianLink("s-2", "parent", "parent"))),
        GuardianRecord(None, "Sam", "de la Cruz", "sam@x.org", "555-0101", None,
                       (GuardianLink("s-1", "relative", "relative"), GuardianLink("s-2", "relative", "relative"))),
        GuardianRecord("g-3", "Kim", "Ng", None, None, None, (GuardianLink("s-3", "guardian", "guardian"),)),
    ]
    b.enrollments = [EnrollmentRecord("c-1", "s-1", "student", "e-1"), EnrollmentRecord("c-1", "s-2", "student", "e-2"),
                     EnrollmentRecord("c-2", "s-3", "student", "e-3"), EnrollmentRecord("c-1", "t-1", "teacher", "e-4")]
    return b


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_bulk_round_trip_gives_back_the_same_records(tmp_path, version):
    batch = full_batch()
    write_oneroster_drop(batch, tmp_path, version)
    got = read_oneroster_drop(tmp_path)
    assert got.source == "oneroster-csv" and got.mode == "full" and got.complete == ALL_KINDS
    assert got.schools == batch.schools
    assert got.teachers == batch.teachers
    assert got.classrooms == batch.classrooms
    assert got.students == batch.students
    assert got.enrollments == batch.enrollments
    # a guardian without an id gets a stable one made from its email; all else comes back as it was
    minted = guardian_id(batch.guardians[1])
    assert minted.startswith("guardian-")
    expected = [batch.guardians[0], GuardianRecord(minted, *_fields(batch.guardians[1])), batch.guardians[2]]
    assert got.guardians == expected
    assert got.problems == []


def _fields(g: GuardianRecord):
    return (g.given_name, g.family_name, g.email, g.phone, g.phone_type, g.links, g.deleted)


def test_siblings_share_one_guardian_record_with_a_link_to_each(tmp_path):
    write_oneroster_drop(full_batch(), tmp_path, "1.1")
    got = read_oneroster_drop(tmp_path)
    pat = next(g for g in got.guardians if g.external_id == "g-1")
    assert [link.student_id for link in pat.links] == ["s-1", "s-2"]
    assert sum(1 for g in got.guardians if g.email == "pat@x.org") == 1


def test_class_teachers_are_written_as_teacher_enrollments(tmp_path):
    batch = full_batch()
    batch.classrooms[1] = ClassroomRecord("c-2", "sch-2", "Art", teacher_ids=("t-1",))
    write_oneroster_drop(batch, tmp_path, "1.2")
    got = read_oneroster_drop(tmp_path)
    assert EnrollmentRecord("c-2", "t-1", "teacher", "enr-c-2-t-1-teacher") in got.enrollments
    assert all(c.teacher_ids == () for c in got.classrooms)  # OneRoster names teachers by enrollment


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_delta_round_trip_marks_deletions_and_completes_nothing(tmp_path, version):
    batch = RosterBatch(source="test")
    batch.schools = [SchoolRecord("sch-1", "North")]
    batch.students = [StudentRecord("s-1", "sch-1", "Ann", "Lee"), StudentRecord("s-2", "sch-1", "Bo", "Ng", deleted=True)]
    batch.classrooms = [ClassroomRecord("c-1", "sch-1", "Math", deleted=True)]
    batch.enrollments = [EnrollmentRecord("c-1", "s-2", external_id="e-1", deleted=True)]
    write_oneroster_drop(batch, tmp_path, version, "delta", date_last_modified="2025-01-02T03:04:05.000Z")
    got = read_oneroster_drop(tmp_path)
    assert got.mode == "delta" and got.complete == frozenset()
    assert [(s.external_id, s.deleted) for s in got.students] == [("s-1", False), ("s-2", True)]
    assert got.classrooms == batch.classrooms and got.enrollments == batch.enrollments
    assert got.problems == []


def users(*rows: str) -> str:
    return USERS_11 + "\n" + "".join(r + "\n" for r in rows)


def user(sid, role, given="A", family="B", orgs="sch-1", status="", agents="", sms="", phone="", email="",
         identifier="", grades="", modified=""):
    return (f"{sid},{status},{modified},true,{orgs},{role},{sid},,{given},{family},,{identifier},{email},"
            f"{sms},{phone},{agents},{grades},")


def test_status_rules_give_deletions_and_row_problems(tmp_path):
    drop = make_drop(tmp_path, {"orgs": school_rows("sch-1"), "users": users(
        user("u1", "student", status="active"),
        user("u2", "student", status="tobedeleted"),
        user("u3", "student", status="inactive"),
        user("u4", "student"),                       # blank is fine in bulk
        user("u5", "student", status="Active"),      # case is forgiven
    )})
    got = read_oneroster_drop(drop)
    assert [(s.external_id, s.deleted) for s in got.students] == [
        ("u1", False), ("u2", True), ("u4", False), ("u5", False)]
    [p] = got.problems
    assert (p.code, p.severity, p.file, p.line, p.record, p.field) == (
        "invalid_status", "error", "users.csv", 4, "u3", "status")
    assert "'inactive'" in p.message


def test_blank_status_in_a_delta_file_is_an_error(tmp_path):
    drop = make_drop(tmp_path, {"users": users(user("u1", "student", modified="2024-01-01"),
                                               user("u2", "student", status="active",
                                                    modified="2024-01-01"))},
                     modes={"users": "delta"})
    got = read_oneroster_drop(drop)
    assert [s.external_id for s in got.students] == ["u2"]
    assert [(p.code, p.line, p.record, p.field) for p in got.problems] == [("invalid_status", 2, "u1", "status")]


def test_duplicate_sourced_id_keeps_the_first_row(tmp_path):
    drop = make_drop(tmp_path, {"orgs": school_rows("sch-1"), "users": users(
        user("u1", "student", given="First"), user("u2", "student"), user("u1", "student", given="Second"))})
    got = read_oneroster_drop(drop)
    assert [(s.external_id, s.given_name) for s in got.students] == [("u1", "First"), ("u2", "A")]
    [p] = got.problems
    assert (p.code, p.line, p.record, p.field) == ("duplicate_id", 4, "u1", "sourcedId")
    assert "line 2" in p.message


def test_bad_dates_are_problems_with_their_field_and_no_birth_date_leaks(tmp_path):
    drop = make_drop(tmp_path, {
        "orgs": school_rows("sch-1"),
        "users": users(user("u1", "student", modified="1/05/2023"), user("u2", "student")),
        "demographics": DEMOGRAPHICS + "\nu1,,,2014-02-28,\nu2,,,03/04/2015,\n"})
    got = read_oneroster_drop(drop)
    assert [(s.external_id, s.birth_date) for s in got.students] == [("u1", "2014-02-28"), ("u2", None)]
    got_problems = [(p.code, p.severity, p.file, p.line, p.record, p.field) for p in got.problems]
    assert got_problems == [
        ("invalid_date", "error", "demographics.csv", 3, "u2", "birthDate"),
        ("invalid_date", "warning", "users.csv", 2, "u1", "dateLastModified"),
    ]
    assert "03/04/2015" not in got.problems[0].message  # a birth date is personal
    assert "1/05/2023" in got.problems[1].message       # a timestamp is not


def test_line_numbers_stay_right_after_a_quoted_newline(tmp_path):
    drop = make_drop(tmp_path, {"orgs": school_rows("sch-1"), "users": users(
        user("u1", "student", given='"Ann\nMarie"'),  # lines 2-3
        user("u2", "student", status="gone"),          # line 4
    )})
    got = read_oneroster_drop(drop)
    assert got.students[0].given_name == "Ann\nMarie"
    assert [(p.line, p.record) for p in got.problems] == [(4, "u2")]


def test_agent_links_from_either_side_are_merged_once(tmp_path):
    drop = make_drop(tmp_path, {"orgs": school_rows("sch-1"), "users": users(
        user("s1", "student", agents='"p1,p2"'),
        user("s2", "student"),
        user("p1", "parent", agents='"s1,s2"', sms="555-0100", email="p1@x.org"),  # s1 named from both sides
        user("p2", "guardian", phone="555-0200"),
        user("r1", "relative", agents="s2"),
    )})
    got = read_oneroster_drop(drop)
    links = {g.external_id: [(link.student_id, link.relationship, link.contact_type) for link in g.links]
             for g in got.guardians}
    assert links == {"p1": [("s1", "parent", "parent"), ("s2", "parent", "parent")],
                     "p2": [("s1", "guardian", "guardian")],
                     "r1": [("s2", "relative", "relative")]}
    p1, p2 = got.guardians[0], got.guardians[1]
    assert (p1.email, p1.phone, p1.phone_type) == ("p1@x.org", "555-0100", "cell")  # sms is a mobile
    assert (p2.phone, p2.phone_type) == ("555-0200", None)
    assert got.problems == []


def test_agents_that_are_not_family_or_unknown_are_warnings(tmp_path):
    drop = make_drop(tmp_path, {"orgs": school_rows("sch-1"), "users": users(
        user("s1", "student", agents='"t1,nobody"'),
        user("t1", "teacher"),
        user("p1", "parent", agents="t1"),
    )})
    got = read_oneroster_drop(drop)
    assert got.guardians[0].links == ()
    assert [(p.code, p.severity, p.line, p.record, p.field) for p in got.problems] == [
        ("agent_not_guardian", "warning", 2, "s1", "agentSourcedIds"),
        ("unknown_reference", "warning", 2, "s1", "agentSourcedIds"),
        ("agent_not_student", "warning", 4, "p1", "agentSourcedIds"),
    ]


def test_references_to_unknown_classes_and_users_skip_only_those_rows(tmp_path):
    drop = make_drop(tmp_path, {
        "orgs": school_rows("sch-1"),
        "classes": CLASSES + "\nc1,,,Math,,crs,,scheduled,,sch-1,term,,,\nc2,,,Art,,crs,,scheduled,,sch-9,term,,,\n",
        "users": users(user("s1", "student"), user("t1", "teacher"), user("a1", "aide")),
        "enrollments": ENROLLMENTS + "\n" + "\n".join([
            "e1,,,c1,sch-1,s1,student,,,",
            "e2,,,c1,sch-1,ghost,student,,,",
            "e3,,,c9,sch-1,s1,student,,,",
            "e4,,,c2,sch-1,s1,student,,,",
            "e5,,,c1,sch-1,t1,teacher,,2024-09-01,",
            "e6,,,c1,sch-1,a1,aide,,,",
            "e7,,,c1,sch-1,t1,student,,2024-13-01,",
        ]) + "\n"})
    got = read_oneroster_drop(drop)
    assert [(e.external_id, e.role) for e in got.enrollments] == [("e1", "student"), ("e5", "teacher")]
    assert [c.external_id for c in got.classrooms] == ["c1"]
    assert [t.role for t in got.teachers] == ["teacher", "staff"]  # an aide is staff
    assert [(p.code, p.file, p.line, p.record, p.field) for p in got.problems] == [
        ("no_school", "classes.csv", 3, "c2", "schoolSourcedId"),
        ("unknown_reference", "enrollments.csv", 3, "e2", "userSourcedId"),
        ("unknown_reference", "enrollments.csv", 4, "e3", "classSourcedId"),
        ("rejected_reference", "enrollments.csv", 5, "e4", "classSourcedId"),
        ("role_mismatch", "enrollments.csv", 8, "e7", "role"),
    ]
    assert "classes.csv line 3" in got.problems[3].message


def test_references_pass_through_when_the_target_file_is_not_bulk(tmp_path):
    # a delta enrollment may name a class and a user the directory holds from an earlier drop
    drop = make_drop(tmp_path, {"enrollments": ENROLLMENTS + "\ne1,active,2024-01-01,c-old,sch-1,u-old,student,,,\n"},
                     modes={"enrollments": "delta"})
    got = read_oneroster_drop(drop)
    assert got.enrollments == [EnrollmentRecord("c-old", "u-old", "student", "e1")]
    assert got.mode == "delta" and got.problems == []


def test_a_department_resolves_to_the_school_above_it(tmp_path):
    orgs = ORGS + "\nd1,,,District,district,,\nsch-1,,,North,school,101,d1\ndep-1,,,Science,department,,sch-1\n"
    drop = make_drop(tmp_path, {"orgs": orgs, "users": users(user("s1", "student", orgs='"d1,dep-1"'),
                                                             user("s2", "student", orgs="d1"))})
    got = read_oneroster_drop(drop)
    assert [(s.external_id, s.school_id) for s in got.students] == [("s1", "sch-1")]
    assert [s.external_id for s in got.schools] == ["sch-1"]
    [p] = got.problems
    assert (p.code, p.line, p.record) == ("no_school", 3, "s2") and "d1 is a district" in p.message


def test_missing_manifest_refuses_the_drop(tmp_path):
    make_drop(tmp_path, {"users": users(user("u1", "student"))}, manifest=False)
    with pytest.raises(DropError) as err:
        read_oneroster_drop(tmp_path)
    assert err.value.file == "manifest.csv" and "missing" in str(err.value)


def test_a_declared_file_that_is_missing_refuses_the_drop(tmp_path):
    make_drop(tmp_path, {"users": users(user("u1", "student"))}, modes={"enrollments": "bulk"})
    with pytest.raises(DropError) as err:
        read_oneroster_drop(tmp_path)
    assert err.value.file == "enrollments.csv" and "enrollments.csv (bulk)" in str(err.value)


def test_missing_required_column_refuses_the_drop_naming_file_and_column(tmp_path):
    make_drop(tmp_path, {"users": USERS_11.replace("familyName", "famliyName") + "\n"})
    with pytest.raises(CsvFormatError) as err:
        read_oneroster_drop(tmp_path)
    assert (err.value.file, err.value.line, err.value.column) == ("users.csv", 1, "familyName")


def test_status_columns_are_required_in_a_delta_but_not_in_bulk(tmp_path):
    header = USERS_11.replace("dateLastModified", "dataLastModified")
    make_drop(tmp_path / "bulk", {"users": header + "\n"})
    assert read_oneroster_drop(tmp_path / "bulk").students == []
    make_drop(tmp_path / "delta", {"users": header + "\n"}, modes={"users": "delta"})
    with pytest.raises(CsvFormatError) as err:
        read_oneroster_drop(tmp_path / "delta")
    assert (err.value.file, err.value.column) == ("users.csv", "dateLastModified")


def test_bad_manifest_values_refuse_the_drop(tmp_path):
    make_drop(tmp_path / "v", {}, version="1.0")
    with pytest.raises(DropError, match="oneroster.version is '1.0'"):
        read_oneroster_drop(tmp_path / "v")
    make_drop(tmp_path / "m", {"users": users()}, modes={"users": "full"})
    with pytest.raises(DropError, match="file.users is 'full'") as err:
        read_oneroster_drop(tmp_path / "m")
    assert err.value.file == "manifest.csv" and err.value.line is not None


def test_a_v12_drop_with_users_but_no_roles_is_refused(tmp_path):
    make_drop(tmp_path, {"users": "sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName\n"},
              version="1.2", modes={"roles": "absent"})
    with pytest.raises(DropError) as err:
        read_oneroster_drop(tmp_path)
    assert err.value.file == "roles.csv"


def test_v12_roles_decide_kinds_and_schools(tmp_path):
    users12 = ("sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName,identifier,"
               "primaryOrgSourcedId\n"
               "u1,,,true,u1,Ann,Lee,N-1,\nu2,,,true,u2,Bo,Ng,,\nu3,,,true,u3,Cy,Oh,,\nu4,,,true,u4,Di,Po,,\n")
    roles = ("sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId\n"
             "r1,,,u1,primary,student,,,sch-2\n"
             "r2,,,u2,primary,teacher,,,sch-1\nr3,,,u2,secondary,teacher,,,sch-2\nr4,,,u2,secondary,parent,,,sch-1\n"
             "r5,,,u3,primary,systemAdministrator,,,sch-1\n"
             "r6,,,ghost,primary,student,,,sch-1\n")
    drop = make_drop(tmp_path, {"orgs": school_rows("sch-1", "sch-2"), "users": users12, "roles": roles},
                     version="1.2")
    got = read_oneroster_drop(drop)
    assert [(s.external_id, s.school_id, s.student_number) for s in got.students] == [("u1", "sch-2", "N-1")]
    assert [(t.external_id, t.school_ids, t.role) for t in got.teachers] == [("u2", ("sch-1", "sch-2"), "teacher")]
    assert [g.external_id for g in got.guardians] == ["u2"]  # teacher and parent: two records, one id
    assert [(p.code, p.file, p.line, p.record) for p in got.problems] == [
        ("unknown_reference", "roles.csv", 7, "ghost"),
        ("no_role", "users.csv", 5, "u4"),
    ]


def test_v12_delta_deletions_follow_the_roles_or_cover_every_kind(tmp_path):
    users12 = ("sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName\n"
               "u1,tobedeleted,2025-01-01,true,u1,Ann,Lee\n"
               "u2,tobedeleted,2025-01-01,true,u2,,\n"
               "u3,active,2025-01-01,true,u3,Cy,Oh\n")
    roles = ("sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId\n"
             "r1,tobedeleted,2025-01-01,u1,primary,student,,,sch-1\n"
             "r3,tobedeleted,2025-01-01,u3,primary,teacher,,,sch-1\n")
    drop = make_drop(tmp_path, {"users": users12, "roles": roles}, version="1.2",
                     modes={"users": "delta", "roles": "delta"})
    got = read_oneroster_drop(drop)
    # u1 leaves with its student role; u2 leaves with no role given, so every kind is told it left
    assert [(s.external_id, s.deleted) for s in got.students] == [("u1", True), ("u2", True)]
    assert [(t.external_id, t.deleted) for t in got.teachers] == [("u2", True)]
    assert [(g.external_id, g.deleted) for g in got.guardians] == [("u2", True)]
    # u3 stays but loses its only role: what it is now cannot be known
    assert [(p.code, p.severity, p.line, p.record) for p in got.problems] == [
        ("no_role", "warning", 3, "u2"), ("no_role", "error", 4, "u3")]
