"""A Clever SFTP CSV drop in a local folder -> one RosterBatch. No I/O but reading.

Facts relied on (Clever's "SFTP Instructions" v2.x and its help pages, and the Clever v3.0 API spec in
../shared/samples for the contact vocabulary):
- Files: schools.csv, students.csv, teachers.csv, sections.csv, enrollments.csv (required) and staff.csv
  (optional); lower-case names. Headers must match the names exactly; the column order is free.
- schools.csv: School_id, School_name, School_number, ... ; teachers.csv: School_id, Teacher_id,
  Teacher_number, Teacher_email, First_name, Last_name, ... ; a teacher at several schools is one row per
  school. staff.csv: School_id, Staff_id, Staff_email, First_name, Last_name, Department, Title, ...
- students.csv: School_id, Student_id, Student_number, Last_name, First_name, Grade, DOB (MM/DD/YYYY),
  ... and one contact per row: Contact_type, Contact_name, Contact_relationship, Contact_phone,
  Contact_phone_type, Contact_email, Contact_sis_id; a student with several contacts has several rows.
- Contact types in Clever's data: Parent/Guardian, Emergency, Primary, Secondary, Family, Other; phone
  types Cell, Home, Work, Other; relationships Parent, Grandparent, Aunt/Uncle, Sibling, Other, ...
- sections.csv: School_id, Section_id, Teacher_id, Teacher_2_id ... Teacher_10_id, Name (the section's
  name), Course_name, Period, ... ; enrollments.csv: School_id, Section_id, Student_id.
- A drop is a full snapshot: whatever is not in it has left.

Decisions:
- Required columns are those without which no record can be built (ids, school, names). Clever's
  instructions ask for more (School_number, Student_number ...), but refusing a whole district's drop for
  a column the directory can do without helps nobody. Every other column is read when present.
- Contact_type and Contact_phone_type are lower-cased (they are vocabularies: "emergency", "cell");
  Contact_relationship is kept as the source wrote it.
- A contact without Contact_sis_id has external_id None and is the same guardian wherever the same
  email (else phone digits) appears, so siblings share one GuardianRecord; a contact with neither id,
  email nor phone can be neither matched next time nor messaged: a warning, and it is left out.
- Contact_name is one cell: "Family, Given" is split at the comma; otherwise the last word is the
  family name, with "de la Cruz"-style particles and Jr/Sr/II/III suffixes kept with it.
- DOB that is not a real MM/DD/YYYY (or YYYY-MM-DD) date: a warning, and the student keeps no birth date.
- A student on several rows takes its own fields from the first; a later row that disagrees only adds its
  contact (a warning says so). A section teacher not in teachers.csv or staff.csv is dropped with a
  warning; an enrollment of an unknown section or student is an error and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from connectors.records import (ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord, Problem,
                                RosterBatch, SchoolRecord, StudentRecord, TeacherRecord)
from connectors.fit import fit_batch
from connectors.sftp.csv_reader import DropError, Table, find_file, open_table, open_tables, paused_gc

__all__ = ["DropError", "read_clever_drop", "split_contact_name"]

SOURCE = "clever-csv"
REQUIRED_FILES = ("schools", "students", "teachers", "sections", "enrollments")
OPTIONAL_FILES = ("staff",)

# Per file: (required columns, optional columns read), in the order each row's values come.
_COLUMNS = {
    "schools": (("School_id", "School_name"), ("School_number",)),
    "students": (("School_id", "Student_id", "Last_name", "First_name"),
                 ("Student_number", "Grade", "DOB", "Contact_type", "Contact_name", "Contact_relationship",
                  "Contact_phone", "Contact_phone_type", "Contact_email", "Contact_sis_id")),
    "teachers": (("School_id", "Teacher_id", "Last_name", "First_name"), ("Teacher_email",)),
    "staff": (("School_id", "Staff_id", "Last_name", "First_name"), ("Staff_email",)),
    "sections": (("School_id", "Section_id"), ("Name", "Section_name", "Course_name")),
    "enrollments": (("School_id", "Section_id", "Student_id"), ()),
}
_TEACHER_N = re.compile(r"Teacher_(\d+)_id\Z")
_DOB = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\Z")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "v"}
_PARTICLES = {"de", "del", "della", "der", "den", "di", "da", "das", "do", "dos", "du", "la", "le", "van",
              "von", "ten", "ter", "bin", "ibn", "al", "el", "st.", "st", "mac", "y"}


def split_contact_name(name: str) -> tuple[str, str]:
    """(given, family) of one free-text contact name."""
    name = " ".join(name.split())
    if not name:
        return "", ""
    if "," in name:
        before, after = (part.strip() for part in name.rsplit(",", 1))
        if after.lower() not in _SUFFIXES:  # "Family, Given"
            return after, before
        given, family = split_contact_name(before)  # "Given Family, Jr."
        return given, f"{family}, {after}" if family else after
    words = name.split(" ")
    if len(words) == 1:
        return words[0], ""
    end = len(words) - 1
    if words[end].lower() in _SUFFIXES and end > 1:
        end -= 1  # "John Smith Jr" -> family "Smith Jr"
    start = end
    while start > 1 and words[start - 1].lower() in _PARTICLES:
        start -= 1  # "Maria de la Cruz" -> family "de la Cruz"
    return " ".join(words[:start]), " ".join(words[start:])


def clever_dob(value: str) -> str | None:
    """ISO date of a Clever DOB (MM/DD/YYYY, M/D/YYYY; YYYY-MM-DD also taken), or None if not a date."""
    value = value.strip()
    if len(value) == 10 and value[2] == "/" and value[5] == "/":  # the common MM/DD/YYYY, kept cheap
        try:
            return date.fromisoformat(f"{value[6:]}-{value[:2]}-{value[3:5]}").isoformat()
        except ValueError:
            return None
    m = _DOB.match(value)
    if m:
        month, day, year = (int(g) for g in m.groups())
    else:
        m = _ISO.match(value)
        if not m:
            return None
        year, month, day = (int(g) for g in m.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


@dataclass(slots=True)
class _Drop:
    problems: list[Problem] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    schools: set[str] = field(default_factory=set)
    teachers: dict[str, str] = field(default_factory=dict)  # teacher or staff id -> role
    students: dict[str, int] = field(default_factory=dict)  # id -> line of its first row
    rejected_students: dict[str, int] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)  # id -> school
    batch: RosterBatch = field(default_factory=lambda: RosterBatch(source=SOURCE))

    def problem(self, code: str, message: str, *, stem: str, line: int | None = None,
                record: str | None = None, field: str | None = None, severity: str = "error") -> None:
        self.problems.append(Problem(code=code, message=message, severity=severity,
                                     file=self.files.get(stem, f"{stem}.csv"), line=line, record=record,
                                     field=field))


def _blank(drop: _Drop, stem: str, line: int, record: str | None, **values: str) -> bool:
    """True (and one error) when a needed value is blank."""
    for name, value in values.items():
        if not value.strip():
            drop.problem("missing_value", f"{name} is blank; the row is skipped", stem=stem, line=line,
                         record=record or None, field=name)
            return True
    return False


def _read_schools(drop: _Drop, table: Table) -> None:
    seen: dict[str, int] = {}
    for line, (sid, name, number) in table.rows:
        sid = sid.strip()
        if _blank(drop, "schools", line, sid, School_id=sid, School_name=name):
            continue
        if sid in seen:
            drop.problem("duplicate_id", f"School_id {sid} is also on line {seen[sid]}; this row is skipped",
                         stem="schools", line=line, record=sid, field="School_id")
            continue
        seen[sid] = line
        drop.schools.add(sid)
        drop.batch.schools.append(SchoolRecord(external_id=sid, name=name.strip(),
                                               school_number=number.strip() or None))


def _read_staff(drop: _Drop, table: Table, stem: str) -> None:
    """teachers.csv and staff.csv: one row per (person, school); a person's schools gather on one record,
    whose other fields come from its first row."""
    id_col = "Teacher_id" if stem == "teachers" else "Staff_id"
    who = "teacher" if stem == "teachers" else "staff member"
    people: dict[str, tuple[str, str, str | None, list[str]]] = {}
    for line, (school, pid, family, given, email) in table.rows:
        pid, school = pid.strip(), school.strip()
        if _blank(drop, stem, line, pid, **{id_col: pid, "First_name": given, "Last_name": family}):
            continue
        if pid in drop.teachers:  # a staff.csv row for someone teachers.csv already has
            drop.problem("duplicate_id", f"{id_col} {pid} is also in teachers.csv; kept as a teacher",
                         stem=stem, line=line, record=pid, field=id_col, severity="warning")
            continue
        if pid not in people:
            people[pid] = (given.strip(), family.strip(), email.strip() or None, [])
        schools = people[pid][3]
        if school and school not in drop.schools:
            drop.problem("unknown_reference", f"School_id {school} is not in schools.csv; the {who} is "
                         f"kept without it", stem=stem, line=line, record=pid, field="School_id",
                         severity="warning")
        elif school and school not in schools:
            schools.append(school)
    role = "teacher" if stem == "teachers" else "staff"
    for pid, (given, family, email, schools) in people.items():
        drop.teachers[pid] = role
        drop.batch.teachers.append(TeacherRecord(external_id=pid, given_name=given, family_name=family,
                                                 email=email, school_ids=tuple(schools), role=role))


@dataclass(slots=True)
class _Guardian:
    external_id: str | None
    given: str
    family: str
    email: str | None
    phone: str | None
    phone_type: str | None
    links: dict[str, GuardianLink] = field(default_factory=dict)


def _read_students(drop: _Drop, table: Table) -> None:
    guardians: dict[tuple[str, str], _Guardian] = {}
    firsts: dict[str, tuple[int, tuple[str, ...]]] = {}
    for line, values in table.rows:
        (school, sid, family, given, number, grade, dob,
         c_type, c_name, c_rel, c_phone, c_phone_type, c_email, c_sis) = values
        sid, school = sid.strip(), school.strip()
        if not sid:
            _blank(drop, "students", line, None, Student_id=sid)
            continue
        own = (school, family, given, number, grade, dob)
        if sid in firsts:
            first_line, first_own = firsts[sid]
            if own != first_own:
                drop.problem("inconsistent_rows", f"student {sid} has other student fields on line "
                             f"{first_line}; those are kept, this row only adds its contact",
                             stem="students", line=line, record=sid, severity="warning")
            if sid in drop.rejected_students:
                continue
        else:
            firsts[sid] = (line, own)
            if not _student(drop, line, sid, school, given, family, number, grade, dob):
                continue
        if c_name.strip() or c_email.strip() or c_phone.strip() or c_sis.strip():
            _contact(drop, guardians, line, sid, c_type, c_name, c_rel, c_phone, c_phone_type, c_email, c_sis)
    drop.batch.guardians.extend(
        GuardianRecord(external_id=g.external_id, given_name=g.given, family_name=g.family, email=g.email,
                       phone=g.phone, phone_type=g.phone_type, links=tuple(g.links.values()))
        for g in guardians.values())


def _student(drop: _Drop, line: int, sid: str, school: str, given: str, family: str, number: str,
             grade: str, dob: str) -> bool:
    given, family = given.strip(), family.strip()
    if not (school and given and family) and _blank(drop, "students", line, sid, Student_id=sid,
                                                    School_id=school, First_name=given, Last_name=family):
        drop.rejected_students[sid] = line
        return False
    if school not in drop.schools:
        drop.problem("unknown_reference", f"School_id {school} is not in schools.csv; the student is "
                     f"skipped", stem="students", line=line, record=sid, field="School_id")
        drop.rejected_students[sid] = line
        return False
    birth = clever_dob(dob) if dob.strip() else None
    if dob.strip() and birth is None:
        # the value is a birth date: it stays out of the message
        drop.problem("invalid_date", "DOB is not a MM/DD/YYYY date; the student is kept without a birth "
                     "date", stem="students", line=line, record=sid, field="DOB", severity="warning")
    drop.students[sid] = line
    drop.batch.students.append(StudentRecord(
        external_id=sid, school_id=school, given_name=given, family_name=family,
        student_number=number.strip() or None, birth_date=birth, grade=grade.strip() or None))
    return True


def _contact(drop: _Drop, guardians: dict, line: int, student: str, c_type: str, c_name: str, c_rel: str,
             c_phone: str, c_phone_type: str, c_email: str, c_sis: str) -> None:
    sis, email, phone = c_sis.strip(), c_email.strip(), c_phone.strip()
    if sis:
        key = ("id", sis)
    elif email:
        key = ("email", email.lower())
    elif any(ch.isdigit() for ch in phone):
        key = ("phone", "".join(ch for ch in phone if ch.isdigit()))
    else:
        drop.problem("unkeyed_contact", "the contact has no Contact_sis_id, Contact_email or Contact_phone, "
                     "so it can be neither matched next time nor messaged; it is left out",
                     stem="students", line=line, record=student, field="Contact_sis_id", severity="warning")
        return
    guardian = guardians.get(key)
    if guardian is None:
        given, family = split_contact_name(c_name)
        guardian = guardians[key] = _Guardian(
            external_id=sis or None, given=given, family=family, email=email or None, phone=phone or None,
            phone_type=c_phone_type.strip().lower() or None)
    if student not in guardian.links:
        guardian.links[student] = GuardianLink(student_id=student, relationship=c_rel.strip() or None,
                                               contact_type=c_type.strip().lower() or None)


def _read_sections(drop: _Drop, table: Table, teacher_columns: list[str]) -> None:
    seen: dict[str, int] = {}
    for line, values in table.rows:
        school, sid, name, section_name, course_name = (v.strip() for v in values[:5])
        if _blank(drop, "sections", line, sid, Section_id=sid, School_id=school):
            continue
        if sid in seen:
            drop.problem("duplicate_id", f"Section_id {sid} is also on line {seen[sid]}; this row is "
                         f"skipped", stem="sections", line=line, record=sid, field="Section_id")
            continue
        seen[sid] = line
        if school not in drop.schools:
            drop.problem("unknown_reference", f"School_id {school} is not in schools.csv; the section is "
                         f"skipped", stem="sections", line=line, record=sid, field="School_id")
            continue
        teachers = []
        for column, teacher in zip(teacher_columns, values[5:]):
            teacher = teacher.strip()
            if not teacher or teacher in teachers:
                continue
            if teacher not in drop.teachers:
                drop.problem("unknown_reference", f"{column} {teacher} is not in teachers.csv or staff.csv; "
                             f"the section is kept without that teacher", stem="sections", line=line,
                             record=sid, field=column, severity="warning")
                continue
            teachers.append(teacher)
        drop.sections[sid] = school
        drop.batch.classrooms.append(ClassroomRecord(
            external_id=sid, school_id=school, name=name or section_name or course_name or sid,
            teacher_ids=tuple(teachers)))


def _read_enrollments(drop: _Drop, table: Table) -> None:
    seen: dict[tuple[str, str], int] = {}
    for line, (school, section, student) in table.rows:
        section, student = section.strip(), student.strip()
        record = f"{section}/{student}"
        if _blank(drop, "enrollments", line, record, Section_id=section, Student_id=student):
            continue
        if (section, student) in seen:
            drop.problem("duplicate_id", f"the same enrollment is on line {seen[(section, student)]}; this "
                         f"row is skipped", stem="enrollments", line=line, record=record,
                         severity="warning")
            continue
        seen[(section, student)] = line
        if section not in drop.sections:
            drop.problem("unknown_reference", f"Section_id {section} is not in sections.csv (or was not "
                         f"taken); the enrollment is skipped", stem="enrollments", line=line, record=record,
                         field="Section_id")
            continue
        if student not in drop.students:
            taken = student in drop.rejected_students
            drop.problem("rejected_reference" if taken else "unknown_reference",
                         f"student {student} " + (f"was not taken (students.csv line "
                                                  f"{drop.rejected_students[student]})" if taken
                                                  else "is not in students.csv") +
                         "; the enrollment is skipped", stem="enrollments", line=line, record=record,
                         field="Student_id")
            continue
        drop.batch.enrollments.append(EnrollmentRecord(classroom_id=section, user_id=student, role="student"))


def read_clever_drop(folder: Path, digests: dict[str, bytes] | None = None) -> RosterBatch:
    """Read a Clever SFTP CSV drop. Raises ``DropError`` when a required file is missing or a file cannot
    be read (bad encoding, truncated, a header without a required column); the rest becomes Problems.
    ``digests`` is left as it is: Clever's files have no volatile column, so their content key is their
    bytes' hash (connectors/sftp/content_key.py), which the reader's parse cannot give."""
    with paused_gc():
        return fit_batch(_read(Path(folder)), {"schools": "schools.csv", "classrooms": "sections.csv",
                                               "teachers": "teachers.csv", "students": "students.csv",
                                               "guardians": "students.csv"})


def _read(folder: Path) -> RosterBatch:
    paths = {stem: find_file(folder, f"{stem}.csv") for stem in REQUIRED_FILES + OPTIONAL_FILES}
    missing = [f"{stem}.csv" for stem in REQUIRED_FILES if paths[stem] is None]
    if missing:
        raise DropError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: a Clever drop "
                        f"needs {', '.join(s + '.csv' for s in REQUIRED_FILES)}", file=missing[0])
    present = [stem for stem in REQUIRED_FILES + OPTIONAL_FILES if paths[stem] is not None]

    # sections.csv names its teachers in Teacher_id, Teacher_2_id ...: take whichever its header has
    try:
        header = open_table(paths["sections"], ()).header
    except DropError:
        header = ()  # open_tables below reports it together with any other broken file
    numbered = sorted((int(m.group(1)), h) for h in header if (m := _TEACHER_N.match(h)))
    teacher_columns = ["Teacher_id"] * ("Teacher_id" in header) + [h for _, h in numbered]

    specs = []
    for stem in present:
        required, optional = _COLUMNS[stem]
        extra = tuple(teacher_columns) if stem == "sections" else ()
        specs.append((paths[stem], required + optional + extra, set(optional) | set(extra)))
    tables = dict(zip(present, open_tables(specs)))

    drop = _Drop()
    drop.files = {stem: t.file for stem, t in tables.items()}
    _read_schools(drop, tables["schools"])
    _read_staff(drop, tables["teachers"], "teachers")
    if "staff" in tables:
        _read_staff(drop, tables["staff"], "staff")
    _read_students(drop, tables["students"])
    _read_sections(drop, tables["sections"], teacher_columns)
    _read_enrollments(drop, tables["enrollments"])
    for table in tables.values():
        drop.problems.extend(table.problems)

    batch = drop.batch
    batch.mode = "full"
    kinds = {"schools": ("schools",), "students": ("students", "guardians"), "teachers": ("teachers",),
             "sections": ("classrooms",), "enrollments": ("enrollments",)}
    batch.complete = frozenset(kind for stem in present for kind in kinds.get(stem, ()))
    order = {f"{stem}.csv": i for i, stem in enumerate(REQUIRED_FILES + OPTIONAL_FILES)}
    batch.problems = sorted(drop.problems, key=lambda p: (order.get((p.file or "").lower(), 99), p.line or 0))
    return batch
