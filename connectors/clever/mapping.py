"""Clever v3.0 JSON objects -> normalized records. Pure: no I/O, no clock.

Field names are those of the v3.0 spec (../shared/samples/clever-swagger-api/v3.0.yml, ``definitions``):
- School: ``id``, ``name``, ``school_number``.
- User: ``id``, ``email``, ``name{first, middle, last}``, ``roles{student, teacher, staff, contact,
  district_admin}``. ``roles.student``: ``school`` (the primary one), ``schools``, ``student_number``,
  ``sis_id``, ``dob`` (MM/DD/YYYY), ``grade``. ``roles.teacher``: ``school``, ``schools``.
  ``roles.staff``: ``schools``. ``roles.contact``: ``phone``, ``phone_type`` (Cell|Home|Work|Other),
  ``sis_id``, ``student_relationships[{student, relationship, type}]``. Every role's email is ``User.email``.
- Section: ``id``, ``school``, ``name``, ``teacher`` (the primary one), ``teachers``, ``students``.

Decisions, the same as the Clever CSV reader's wherever both carry a value, so that the API and a CSV drop
of one district reach the same directory:
- A student's school is ``roles.student.school``, else the first of ``schools``; with neither it is an
  error and the student is skipped. ``student_number`` falls back to ``sis_id``. A ``dob`` that is not a
  date is a warning; the student keeps no birth date. ``grade`` is kept as Clever says it ("Kindergarten").
- A student or teacher without a first or last name is an error and skipped; a contact may have none.
- Contact ``type`` and ``phone_type`` are lower-cased (vocabularies: "parent/guardian", "cell");
  ``relationship`` is kept as written ("Parent").
- One user may hold several roles: a teacher who is also a parent gives a TeacherRecord and a
  GuardianRecord with the same id. Teacher and staff at once is one TeacherRecord, role teacher (as the
  CSV reader keeps a person in both files), with the schools of both. District admins are not synced.
- A section's teachers are ``teacher`` then ``teachers`` (on the ClassroomRecord, as Clever names them on
  the section); its ``students`` become student enrollments. A section without a name is named by its id.
- References (a student's school, a section's teachers and students, a contact's students) are checked in
  ``full_batch`` only: a delta may name objects the directory already has.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from connectors.clever.references import check_references
from connectors.records import (ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord, Problem,
                                RosterBatch, SchoolRecord, StudentRecord, TeacherRecord)
from connectors.sftp.clever_csv import clever_dob

SOURCE = "clever"
Record = SchoolRecord | TeacherRecord | StudentRecord | GuardianRecord


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _problem(code: str, message: str, record: str | None, field: str | None,
             severity: str = "error") -> Problem:
    return Problem(code=code, message=message, severity=severity, file=None, line=None, record=record or None,
                   field=field)


def _ids(*values: Any) -> tuple[str, ...]:
    """The non-blank ids among single values and lists, first occurrence first."""
    out: list[str] = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            item = _text(item)
            if item and item not in out:
                out.append(item)
    return tuple(out)


def map_school(obj: dict, problems: list[Problem]) -> SchoolRecord | None:
    sid, name = _text(obj.get("id")), _text(obj.get("name"))
    if not sid or not name:
        problems.append(_problem("missing_value", f"school without {'id' if not sid else 'name'}; skipped",
                                 sid, "id" if not sid else "name"))
        return None
    return SchoolRecord(external_id=sid, name=name, school_number=_text(obj.get("school_number")) or None)


def _roles(obj: dict) -> dict[str, dict]:
    roles = obj.get("roles")
    return {k: v for k, v in roles.items() if isinstance(v, dict)} if isinstance(roles, dict) else {}


def user_kinds(obj: dict) -> set[str]:
    """The record kinds a user gives (students, teachers, guardians), from which roles it holds."""
    roles = _roles(obj)
    return ({"students"} if "student" in roles else set()) | \
        ({"teachers"} if "teacher" in roles or "staff" in roles else set()) | \
        ({"guardians"} if "contact" in roles else set())


def map_user(obj: dict, problems: list[Problem]) -> list[Record]:
    """The records of one user: one per role it holds (district admins give none)."""
    uid = _text(obj.get("id"))
    if not uid:
        problems.append(_problem("missing_value", "user without id; skipped", None, "id"))
        return []
    name = obj.get("name") if isinstance(obj.get("name"), dict) else {}
    given, family = _text(name.get("first")), _text(name.get("last"))
    email = _text(obj.get("email")) or None
    roles = _roles(obj)
    out: list[Record] = []
    if "student" in roles:
        student = _student(uid, given, family, roles["student"], problems)
        if student:
            out.append(student)
    if "teacher" in roles or "staff" in roles:
        if not given or not family:
            problems.append(_problem("missing_value", "teacher or staff member without a first or last name; "
                                     "skipped", uid, "name.first" if not given else "name.last"))
        else:
            teacher, staff = roles.get("teacher"), roles.get("staff")
            schools = _ids(*(((teacher.get("school"), teacher.get("schools")) if teacher else ()) +
                             ((staff.get("schools"),) if staff else ())))
            out.append(TeacherRecord(external_id=uid, given_name=given, family_name=family, email=email,
                                     school_ids=schools, role="teacher" if teacher else "staff"))
    if "contact" in roles:
        out.append(_contact(uid, given, family, email, roles["contact"], problems))
    return out


def _student(uid: str, given: str, family: str, role: dict, problems: list[Problem]) -> StudentRecord | None:
    school = (_ids(role.get("school"), role.get("schools")) or ("",))[0]
    if not school:
        problems.append(_problem("missing_value", "student without a school (roles.student.school); skipped",
                                 uid, "roles.student.school"))
        return None
    if not given or not family:
        problems.append(_problem("missing_value", "student without a first or last name; skipped", uid,
                                 "name.first" if not given else "name.last"))
        return None
    dob = _text(role.get("dob"))
    birth = clever_dob(dob) if dob else None
    if dob and birth is None:
        # the value is a birth date: it stays out of the message
        problems.append(_problem("invalid_date", "dob is not a MM/DD/YYYY date; the student is kept without a "
                                 "birth date", uid, "roles.student.dob", "warning"))
    return StudentRecord(external_id=uid, school_id=school, given_name=given, family_name=family,
                         student_number=_text(role.get("student_number")) or _text(role.get("sis_id")) or None,
                         birth_date=birth, grade=_text(role.get("grade")) or None)


def _contact(uid: str, given: str, family: str, email: str | None, role: dict,
             problems: list[Problem]) -> GuardianRecord:
    links: dict[str, GuardianLink] = {}
    relationships = role.get("student_relationships")
    for rel in relationships if isinstance(relationships, list) else []:
        student = _text(rel.get("student")) if isinstance(rel, dict) else ""
        if not student:
            problems.append(_problem("missing_value", "a student relationship without a student; left out", uid,
                                     "roles.contact.student_relationships", "warning"))
        elif student == uid:
            # A user who is both a student and a contact, naming itself: nobody is their own guardian, and
            # the link would send the student messages about themself.
            problems.append(_problem("agent_self", "the contact names itself as its student: nobody is their "
                                     "own guardian; that link is left out", uid,
                                     "roles.contact.student_relationships", "warning"))
        elif student not in links:
            links[student] = GuardianLink(student_id=student, relationship=_text(rel.get("relationship")) or None,
                                          contact_type=_text(rel.get("type")).lower() or None)
    return GuardianRecord(external_id=uid, given_name=given, family_name=family, email=email,
                          phone=_text(role.get("phone")) or None,
                          phone_type=_text(role.get("phone_type")).lower() or None, links=tuple(links.values()))


def map_section(obj: dict, problems: list[Problem]) -> tuple[ClassroomRecord | None, list[EnrollmentRecord]]:
    sid, school = _text(obj.get("id")), _text(obj.get("school"))
    if not sid or not school:
        problems.append(_problem("missing_value", f"section without {'id' if not sid else 'school'}; skipped",
                                 sid, "id" if not sid else "school"))
        return None, []
    classroom = ClassroomRecord(external_id=sid, school_id=school, name=_text(obj.get("name")) or sid,
                                teacher_ids=_ids(obj.get("teacher"), obj.get("teachers")))
    return classroom, [EnrollmentRecord(classroom_id=sid, user_id=u, role="student") for u in _ids(obj.get("students"))]


def tombstones(kind: str, obj: dict) -> list[Record | ClassroomRecord]:
    """Records marked deleted for a ``*.deleted`` event's object (or a role the user lost). Fields are
    filled from the object where it still maps, else left blank: a deletion is applied by id alone."""
    oid = _text(obj.get("id"))
    if not oid:
        return []
    scratch: list[Problem] = []
    if kind == "schools":
        school = map_school(obj, scratch)
        return [replace(school, deleted=True) if school else SchoolRecord(oid, "", deleted=True)]
    if kind == "classrooms":
        classroom, _ = map_section(obj, scratch)
        return [replace(classroom, deleted=True) if classroom else ClassroomRecord(oid, "", "", deleted=True)]
    mapped = {_kind_of(r): r for r in map_user(obj, scratch)}
    blank = {"students": StudentRecord(oid, "", "", ""), "teachers": TeacherRecord(oid, "", ""),
             "guardians": GuardianRecord(oid, "", "")}
    return [replace(mapped.get(kind, blank[kind]), deleted=True)]


def _kind_of(record: Any) -> str:
    return {SchoolRecord: "schools", TeacherRecord: "teachers", StudentRecord: "students",
            GuardianRecord: "guardians", ClassroomRecord: "classrooms", EnrollmentRecord: "enrollments"}[type(record)]


def add(batch: RosterBatch, record: Any) -> None:
    getattr(batch, _kind_of(record)).append(record)


def full_batch(schools: list[dict], users: list[dict], sections: list[dict]) -> RosterBatch:
    """The batch of a full pull: every object mapped, references checked. ``complete`` is left to the
    caller, who knows whether every page arrived."""
    batch = RosterBatch(source=SOURCE, mode="full")
    problems = batch.problems
    for obj in schools:
        school = map_school(obj, problems)
        if school:
            batch.schools.append(school)
    rejected: set[str] = set()
    for obj in users:
        records = map_user(obj, problems)
        for record in records:
            add(batch, record)
        if "students" in user_kinds(obj) and not any(isinstance(r, StudentRecord) for r in records):
            rejected.add(_text(obj.get("id")))
    for obj in sections:
        classroom, enrollments = map_section(obj, problems)
        if classroom:
            batch.classrooms.append(classroom)
            batch.enrollments.extend(enrollments)
    return check_references(batch, rejected)


__all__ = ["SOURCE", "add", "full_batch", "map_school", "map_section", "map_user", "tombstones",
           "user_kinds"]
