"""OneRoster REST collections (JSON objects, 1.1 or 1.2) -> one RosterBatch. Pure: no I/O, no clock.

The REST twin of connectors/sftp/oneroster_csv.py: the same roster gives the same records by either
path (tests/classlink prove it on a generated district). Rules shared with the CSV reader:
- Schools are the orgs of type school; a class's school is its ``school`` org (or the school above it).
- status tobedeleted -> deleted=True; per-record problems (with the collection as "file", the record's
  sourcedId and the field), never a crash: a record that breaks a rule for a value we store is an error
  and skipped, a value we do not store that is malformed is a warning.
- References are checked only against a full pull (the whole truth, like a bulk file). In a delta an id
  the pull does not hold may be known to the directory, so it passes through unchecked.
- Enrollments of roles other than student and teacher have no place in the directory's classes and are
  left out without a problem (administrator, proctor, aide, guardian, parent, relative).
What REST does not give here: birth dates (they live in ``demographics``, a separate endpoint that
needs a wider scope than roster-core.readonly), so StudentRecord.birth_date stays None.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from connectors.classlink.mapping_rows import ORDER, SOURCE, Roster, ref, refs, required, rows, school, text, \
    why_no_school
from connectors.classlink.mapping_users import link_guardians, read_users
from connectors.records import KINDS, ClassroomRecord, EnrollmentRecord, RosterBatch, SchoolRecord

_OTHER_ENROLLMENT_ROLES = frozenset(("administrator", "proctor", "aide", "guardian", "parent", "relative"))


def map_roster(collections: Mapping[str, Sequence[Any]], version: str, *, full: bool) -> RosterBatch:
    """Map the collections of one pull. ``full``: every collection was read whole (every page), so the
    batch is the whole truth for every kind; otherwise it is a delta (changed records only)."""
    if version not in ("1.1", "1.2"):
        raise ValueError(f"OneRoster version must be 1.1 or 1.2, not {version!r}")
    roster = Roster(version=version, full=full)
    _orgs(roster, collections.get("orgs", ()))
    for sid, _deleted, _obj in rows(roster, "academicSessions", collections.get("academicSessions", ())):
        roster.sessions.add(sid)
    for sid, _deleted, _obj in rows(roster, "courses", collections.get("courses", ())):
        roster.courses.add(sid)
    _classes(roster, collections.get("classes", ()))
    guardians, pairs = read_users(roster, collections.get("users", ()))
    link_guardians(roster, guardians, pairs)
    _enrollments(roster, collections.get("enrollments", ()))

    batch = roster.batch
    batch.source = SOURCE
    batch.mode = "full" if full else "delta"
    batch.complete = frozenset(KINDS) if full else frozenset()
    order = {kind: i for i, kind in enumerate(ORDER)}
    batch.problems = sorted(roster.problems, key=lambda p: order.get(p.file or "", len(order)))
    return batch


def _orgs(roster: Roster, items: Iterable[Any]) -> None:
    parents = []
    for sid, deleted, obj in rows(roster, "orgs", items):
        name, org_type = text(obj, "name"), text(obj, "type").lower()
        if not deleted and not required(roster, "orgs", sid, name=name, type=org_type):
            continue
        parent = ref(obj.get("parent"))
        roster.orgs[sid] = (org_type, parent)
        if parent:
            parents.append((sid, parent))
        # a deleted org may come without its type: it may still be a school the directory holds
        if org_type == "school" or (deleted and not org_type):
            roster.batch.schools.append(SchoolRecord(external_id=sid, name=name,
                                                     school_number=text(obj, "identifier") or None, deleted=deleted))
    if roster.full:
        for sid, parent in parents:
            if parent not in roster.orgs:
                roster.problem("unknown_reference", f"parent {parent} is not among the orgs; the org is used "
                               "without its parent", kind="orgs", record=sid, field="parent", severity="warning")


def _classes(roster: Roster, items: Iterable[Any]) -> None:
    for sid, deleted, obj in rows(roster, "classes", items):
        title, school_ref = text(obj, "title"), ref(obj.get("school"))
        if not deleted and not required(roster, "classes", sid, title=title, school=school_ref):
            continue
        school_id = school(roster, school_ref) if school_ref else None
        if school_id is None and not deleted:
            roster.problem("no_school", f"school {school_ref} is not a school ({why_no_school(roster, [school_ref])}); "
                           "the class is skipped", kind="classes", record=sid, field="school")
            roster.reject("classes", sid)
            continue
        course = ref(obj.get("course"))
        if course and roster.full and course not in roster.courses:
            roster.problem("unknown_reference", f"course {course} is not among the courses; the class is used",
                           kind="classes", record=sid, field="course", severity="warning")
        unknown = [t for t in refs(obj.get("terms")) if t not in roster.sessions] if roster.full else []
        if unknown:
            roster.problem("unknown_reference", f"terms {', '.join(unknown)} are not among the academicSessions; "
                           "the class is used", kind="classes", record=sid, field="terms", severity="warning")
        record = ClassroomRecord(external_id=sid, school_id=school_id or school_ref, name=title, deleted=deleted)
        roster.classes[sid] = record
        roster.batch.classrooms.append(record)


def _enrollments(roster: Roster, items: Iterable[Any]) -> None:
    out = roster.batch.enrollments
    for sid, deleted, obj in rows(roster, "enrollments", items):
        cls, user, role = ref(obj.get("class")), ref(obj.get("user")), text(obj, "role").lower()
        if not required(roster, "enrollments", sid, **{"class": cls, "user": user, "role": role}):
            continue
        if role not in ("student", "teacher"):
            if role not in _OTHER_ENROLLMENT_ROLES:
                roster.problem("invalid_value", f"role '{role}' is not an enrollment role; the enrollment is "
                               "skipped", kind="enrollments", record=sid, field="role")
            continue
        if cls not in roster.classes:
            if roster.is_rejected("classes", cls):
                roster.problem("rejected_reference", f"class {cls} was not taken (see its own problem); the "
                               "enrollment is skipped", kind="enrollments", record=sid, field="class")
                continue
            if roster.full:
                roster.problem("unknown_reference", f"class {cls} is not among the classes; the enrollment is "
                               "skipped", kind="enrollments", record=sid, field="class")
                continue
        user_kinds = roster.kinds.get(user)
        if user_kinds is None:
            if roster.is_rejected("users", user):
                roster.problem("rejected_reference", f"user {user} was not taken (see its own problem); the "
                               "enrollment is skipped", kind="enrollments", record=sid, field="user")
                continue
            if roster.full:
                roster.problem("unknown_reference", f"user {user} is not among the users; the enrollment is "
                               "skipped", kind="enrollments", record=sid, field="user")
                continue
        elif (role == "student") != ("student" in user_kinds):
            roster.problem("role_mismatch", f"the enrollment says {role} but user {user} is a "
                           f"{'/'.join(user_kinds)}; the enrollment is skipped", kind="enrollments", record=sid,
                           field="role")
            continue
        out.append(EnrollmentRecord(classroom_id=cls, user_id=user, role=role, external_id=sid, deleted=deleted))
