"""A RosterBatch as a OneRoster REST server would hold it (1.1 or 1.2 JSON objects), and the records a
OneRoster pull can give back for it. Feeds the OneRoster fake (sync/sandbox/oneroster_server.py) of the
sandbox demo and the tests; written from the spec's shapes.

Shapes (see connectors/classlink/*.py for where each fact was checked):
- every object: sourcedId, status (active | tobedeleted), dateLastModified, metadata;
- references: GUIDRef {"href", "sourcedId", "type"};
- 1.1 users: role, orgs[], agents[], grades[], enabledUser "true"; 1.2 users: roles[{roleType, role, org}],
  primaryOrg, agents[], grades[], enabledUser true, userProfiles[];
- agents on both sides: a student's agents are its guardians, a guardian's agents its students.

What OneRoster cannot carry is lost the same way the CSV drop writer loses it (connectors/sftp/drop_writer):
a guardian's role is its first link's contact type when that is parent/guardian/relative (else
"guardian") and comes back as both relationship and contact type; a phone goes to ``sms`` when it is a
cell number, else to ``phone`` (type unknown); a guardian without an id gets the writer's stable one;
an enrollment without an id gets ``enr-<class>-<user>-<role>``. Birth dates live in demographics, which
the connector does not read, so they come back empty.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from connectors.records import EnrollmentRecord, GuardianLink, GuardianRecord, RosterBatch
from connectors.sftp.drop_writer import guardian_id

DISTRICT = "district-1"
SESSION = "year-2025"
GUARDIAN_ROLES = ("parent", "guardian", "relative")
STAFF_ROLE = {"1.1": "administrator", "1.2": "siteAdministrator"}
TYPE_OF = {"orgs": "org", "academicSessions": "academicSession", "courses": "course", "classes": "class",
           "users": "user", "enrollments": "enrollment"}


def enrollment_id(e: EnrollmentRecord) -> str:
    return e.external_id or f"enr-{e.classroom_id}-{e.user_id}-{e.role}"


def guardian_role(g: GuardianRecord) -> str:
    types = [link.contact_type for link in g.links if link.contact_type in GUARDIAN_ROLES]
    return types[0] if types else "guardian"


def to_oneroster_json(batch: RosterBatch, version: str, *, root: str,
                      stamp: str = "2025-01-01T00:00:00.000Z") -> dict[str, list[dict]]:
    """The six collections a OneRoster ``version`` server holds for ``batch``; hrefs under ``root``."""
    def guid(kind: str, sid: str) -> dict:
        return {"href": f"{root}{kind}/{sid}", "sourcedId": sid, "type": TYPE_OF[kind]}

    def head(sid: str, deleted: bool = False) -> dict:
        return {"sourcedId": sid, "status": "tobedeleted" if deleted else "active", "dateLastModified": stamp,
                "metadata": {}}

    school_ids = [s.external_id for s in batch.schools]
    orgs = [{**head(DISTRICT), "name": "District", "type": "district", "identifier": "", "parent": None,
             "children": [guid("orgs", s) for s in school_ids]}]
    orgs += [{**head(s.external_id, s.deleted), "name": s.name, "type": "school", "identifier": s.school_number or "",
              "parent": guid("orgs", DISTRICT), "children": []} for s in batch.schools]
    sessions = [{**head(SESSION), "title": "School year", "type": "schoolYear", "startDate": "2024-08-01",
                 "endDate": "2025-07-31", "parent": None, "children": [], "schoolYear": "2025"}]
    class_schools = list(dict.fromkeys(c.school_id for c in batch.classrooms))
    courses = [{**head(f"course-{s}"), "title": "Classes", "schoolYear": guid("academicSessions", SESSION),
                "courseCode": "", "grades": [], "subjects": [], "subjectCodes": [], "org": guid("orgs", s)}
               for s in class_schools]
    classes = [{**head(c.external_id, c.deleted), "title": c.name, "classCode": "", "classType": "scheduled",
                "location": "", "grades": [], "subjects": [], "course": guid("courses", f"course-{c.school_id}"),
                "school": guid("orgs", c.school_id), "terms": [guid("academicSessions", SESSION)],
                "subjectCodes": [], "periods": []} for c in batch.classrooms]
    return {"orgs": orgs, "academicSessions": sessions, "courses": courses, "classes": classes,
            "users": _users(batch, version, guid, head), "enrollments": _enrollments(batch, version, guid, head)}


def _users(batch: RosterBatch, version: str, guid: Callable, head: Callable) -> list[dict]:
    school_of = {s.external_id: s.school_id for s in batch.students}
    guardians_of: dict[str, list[str]] = {}
    for g in batch.guardians:
        for link in g.links:
            guardians_of.setdefault(link.student_id, []).append(guardian_id(g))

    def user(sid, deleted, role, orgs, given, family, *, identifier="", email="", sms="", phone="", agents=(),
             grades=()):
        obj = {**head(sid, deleted), "username": sid, "userIds": [], "givenName": given, "familyName": family,
               "middleName": "", "identifier": identifier, "email": email, "sms": sms, "phone": phone,
               "agents": [guid("users", a) for a in agents], "grades": list(grades), "password": ""}
        if version == "1.1":
            obj.update(enabledUser="true", role=role, orgs=[guid("orgs", o) for o in orgs])
        else:
            obj.update(enabledUser=True, userMasterIdentifier="", userProfiles=[],
                       primaryOrg=guid("orgs", orgs[0]) if orgs else None,
                       roles=[{"roleType": "primary" if n == 0 else "secondary", "role": role,
                               "org": guid("orgs", o)} for n, o in enumerate(orgs)])
        return obj

    out = [user(s.external_id, s.deleted, "student", [s.school_id], s.given_name, s.family_name,
                identifier=s.student_number or "", agents=guardians_of.get(s.external_id, ()),
                grades=[s.grade] if s.grade else []) for s in batch.students]
    out += [user(t.external_id, t.deleted, "teacher" if t.role == "teacher" else STAFF_ROLE[version],
                 list(t.school_ids) or [DISTRICT], t.given_name, t.family_name, email=t.email or "")
            for t in batch.teachers]
    for g in batch.guardians:
        schools = list(dict.fromkeys(school_of[link.student_id] for link in g.links if link.student_id in school_of))
        sms, phone = (g.phone or "", "") if g.phone_type == "cell" else ("", g.phone or "")
        out.append(user(guardian_id(g), g.deleted, guardian_role(g), schools or [DISTRICT], g.given_name,
                        g.family_name, email=g.email or "", sms=sms, phone=phone,
                        agents=list(dict.fromkeys(link.student_id for link in g.links))))
    return out


def _enrollments(batch: RosterBatch, version: str, guid: Callable, head: Callable) -> list[dict]:
    school_of = {c.external_id: c.school_id for c in batch.classrooms}
    rows = [(enrollment_id(e), e.deleted, e.classroom_id, e.user_id, e.role) for e in batch.enrollments]
    taught = {(e.classroom_id, e.user_id) for e in batch.enrollments if e.role == "teacher"}
    rows += [(f"enr-{c.external_id}-{t}-teacher", c.deleted, c.external_id, t, "teacher")
             for c in batch.classrooms for t in c.teacher_ids if (c.external_id, t) not in taught]
    primary = "false" if version == "1.1" else False
    return [{**head(sid, deleted), "user": guid("users", user), "class": guid("classes", cls),
             "school": guid("orgs", school_of.get(cls, DISTRICT)), "role": role, "primary": primary,
             "beginDate": "", "endDate": ""} for sid, deleted, cls, user, role in rows]


def expected_records(batch: RosterBatch) -> RosterBatch:
    """What a OneRoster pull of ``batch`` should give: the batch, as far as OneRoster carries it."""
    out = RosterBatch(source="classlink")
    out.schools = list(batch.schools)
    out.teachers = list(batch.teachers)
    out.classrooms = [replace(c, teacher_ids=()) for c in batch.classrooms]
    out.students = [replace(s, birth_date=None) for s in batch.students]
    for g in batch.guardians:
        role = guardian_role(g)
        out.guardians.append(GuardianRecord(
            guardian_id(g), g.given_name, g.family_name, g.email, g.phone,
            "cell" if g.phone and g.phone_type == "cell" else None,
            tuple(GuardianLink(sid, role, role) for sid in dict.fromkeys(link.student_id for link in g.links)),
            g.deleted))
    out.enrollments = [replace(e, external_id=enrollment_id(e)) for e in batch.enrollments]
    taught = {(e.classroom_id, e.user_id) for e in batch.enrollments if e.role == "teacher"}
    out.enrollments += [EnrollmentRecord(c.external_id, t, "teacher", f"enr-{c.external_id}-{t}-teacher", c.deleted)
                        for c in batch.classrooms for t in c.teacher_ids if (c.external_id, t) not in taught]
    return out


def records(batch: RosterBatch) -> dict[str, list]:
    """The record lists of a batch, each in a stable order, for comparing two paths."""
    def key(r):
        return getattr(r, "external_id", None) or "", getattr(r, "classroom_id", ""), getattr(r, "user_id", "")

    return {kind: sorted(getattr(batch, kind), key=key)
            for kind in ("schools", "teachers", "classrooms", "students", "guardians", "enrollments")}
