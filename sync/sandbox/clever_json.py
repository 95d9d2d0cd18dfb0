"""A RosterBatch (e.g. ``generate_district``) as the Clever v3.0 objects a district's API would serve.

Used by the Clever fake (sync/sandbox/clever_server.py) of the sandbox demo and the tests: it lets one
generated roster feed the Clever API path, the Clever CSV path and OneRoster.
Clever can carry less than a RosterBatch, and ``clever_view`` says exactly what survives the trip:
- relationship and contact type are Clever vocabularies (spec enums): mother/father become "Parent",
  a legal guardian "Other"; contact types parent/guardian are "Parent/Guardian", a relative "Family";
- grade "K" is "Kindergarten" (the spec's enum has no "K");
- a contact always has a Clever id: one without its own gets the stable id drop_writer gives it;
- a section names its teachers itself: teacher enrollments become ``teacher``/``teachers``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from connectors.records import ClassroomRecord, GuardianLink, RosterBatch
from connectors.sftp.drop_writer import guardian_id

DISTRICT = "5f0c0e7a1d2b3c4d5e6f7a8b"
STAMP = "2025-08-01T12:00:00.000Z"

RELATIONSHIP = {"mother": "Parent", "father": "Parent", "parent": "Parent", "grandparent": "Grandparent",
                "aunt/uncle": "Aunt/Uncle", "sibling": "Sibling", "self": "Self"}
CONTACT_TYPE = {"parent": "Parent/Guardian", "guardian": "Parent/Guardian", "parent/guardian": "Parent/Guardian",
                "emergency": "Emergency", "relative": "Family", "family": "Family", "primary": "Primary",
                "secondary": "Secondary"}
PHONE_TYPE = {"cell": "Cell", "home": "Home", "work": "Work"}
GRADE = {"K": "Kindergarten"}


@dataclass
class CleverData:
    schools: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    sections: list[dict] = field(default_factory=list)


def clever_relationship(value: str | None) -> str | None:
    return None if value is None else RELATIONSHIP.get(value.lower(), "Other")


def clever_type(value: str | None) -> str | None:
    return None if value is None else CONTACT_TYPE.get(value.lower(), "Other")


def section_teachers(batch: RosterBatch) -> dict[str, list[str]]:
    teachers = {c.external_id: list(c.teacher_ids) for c in batch.classrooms}
    for e in batch.enrollments:
        if e.role == "teacher" and not e.deleted and e.user_id not in teachers.setdefault(e.classroom_id, []):
            teachers[e.classroom_id].append(e.user_id)
    return teachers


def dob(iso: str | None) -> str | None:
    return f"{iso[5:7]}/{iso[8:10]}/{iso[:4]}" if iso else None


def name(given: str, family: str) -> dict:
    return {"first": given, "middle": None, "last": family}


def student_user(s) -> dict:
    return {"id": s.external_id, "district": DISTRICT, "email": None, "name": name(s.given_name, s.family_name),
            "created": STAMP, "last_modified": STAMP,
            "roles": {"student": {
                "school": s.school_id, "schools": [s.school_id], "student_number": s.student_number,
                "sis_id": f"SIS{s.student_number or s.external_id}", "dob": dob(s.birth_date),
                "grade": GRADE.get(s.grade, s.grade) if s.grade else None, "state_id": None,
                "legacy_id": s.external_id, "created": STAMP, "last_modified": STAMP,
                "credentials": {"district_username": s.external_id}}}}


def teacher_user(t) -> dict:
    if t.role == "teacher":
        role = {"teacher": {"school": t.school_ids[0] if t.school_ids else None, "schools": list(t.school_ids),
                            "sis_id": f"T{t.external_id}", "teacher_number": t.external_id, "title": None,
                            "district": DISTRICT, "legacy_id": t.external_id, "created": STAMP,
                            "last_modified": STAMP}}
    else:
        role = {"staff": {"schools": list(t.school_ids), "staff_id": t.external_id, "title": "Counselor",
                          "department": None, "roles": [], "legacy_id": t.external_id}}
    return {"id": t.external_id, "district": DISTRICT, "email": t.email,
            "name": name(t.given_name, t.family_name), "created": STAMP, "last_modified": STAMP, "roles": role}


def contact_user(g) -> dict:
    return {"id": guardian_id(g), "district": DISTRICT, "email": g.email, "name": name(g.given_name, g.family_name),
            "created": STAMP, "last_modified": STAMP,
            "roles": {"contact": {
                "phone": g.phone, "phone_type": PHONE_TYPE.get(g.phone_type or "", "Other") if g.phone_type else None,
                "sis_id": g.external_id, "legacy_id": guardian_id(g),
                "student_relationships": [{"student": link.student_id,
                                           "relationship": clever_relationship(link.relationship),
                                           "type": clever_type(link.contact_type)} for link in g.links]}}}


def section(c: ClassroomRecord, teachers: list[str], students: list[str]) -> dict:
    return {"id": c.external_id, "district": DISTRICT, "school": c.school_id, "name": c.name,
            "teacher": teachers[0] if teachers else None, "teachers": teachers, "students": students,
            "sis_id": f"SEC{c.external_id}", "section_number": None, "period": None, "subject": None,
            "grade": None, "course": None, "term_id": None, "created": STAMP, "last_modified": STAMP}


DISTRICT_ADMIN = {"id": "5f0c0e7a1d2b3c4d5e6f0001", "district": DISTRICT, "email": "superintendent@example.net",
                  "name": name("Dana", "Whitfield"), "created": STAMP, "last_modified": STAMP,
                  "roles": {"district_admin": {"legacy_id": "5f0c0e7a1d2b3c4d5e6f0001", "title": "Superintendent"}}}


def to_clever(batch: RosterBatch) -> CleverData:
    """The Clever objects of ``batch`` (deleted records left out: Clever no longer lists them)."""
    data = CleverData()
    data.schools = [{"id": s.external_id, "district": DISTRICT, "name": s.name, "school_number": s.school_number,
                     "sis_id": s.school_number or s.external_id, "created": STAMP, "last_modified": STAMP,
                     "phone": None, "principal": {"name": None, "email": None}}
                    for s in batch.schools if not s.deleted]
    data.users = ([student_user(s) for s in batch.students if not s.deleted] +
                  [teacher_user(t) for t in batch.teachers if not t.deleted] +
                  [contact_user(g) for g in batch.guardians if not g.deleted] + [DISTRICT_ADMIN])
    members: dict[str, list[str]] = {}
    for e in batch.enrollments:
        if e.role == "student" and not e.deleted:
            members.setdefault(e.classroom_id, []).append(e.user_id)
    teachers = section_teachers(batch)
    data.sections = [section(c, teachers.get(c.external_id, []), members.get(c.external_id, []))
                     for c in batch.classrooms if not c.deleted]
    return data


def clever_view(batch: RosterBatch) -> RosterBatch:
    """``batch`` as it reads back from Clever: the records a correct Clever connector must give."""
    return RosterBatch(
        source="clever", mode="full", schools=list(batch.schools), teachers=list(batch.teachers),
        classrooms=[replace(c, teacher_ids=tuple(section_teachers(batch)[c.external_id])) for c in batch.classrooms],
        students=[replace(s, grade=GRADE.get(s.grade, s.grade)) for s in batch.students],
        guardians=[replace(g, external_id=guardian_id(g), links=tuple(
            GuardianLink(link.student_id, clever_relationship(link.relationship),
                         (clever_type(link.contact_type) or "").lower() or None) for link in g.links))
            for g in batch.guardians],
        enrollments=[e for e in batch.enrollments if e.role == "student"], complete=batch.complete)
