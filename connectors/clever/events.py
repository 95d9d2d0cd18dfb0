"""Clever events -> one delta RosterBatch. Pure: the events come in, the batch goes out.

Facts (v3.0-events.yml, Clever's "Events API" page): an event is ``{id, type, created, data: {object}}``,
with ``previous_attributes`` (the prior values of the fields that changed) on ``*.updated``; types are
``<collection>.created|updated|deleted`` for users, sections and schools (and courses, terms, districts,
resources, which the directory has no use for). ``data.object`` is the whole object after the change (as it
was, for a deletion). The feed is oldest first, and Clever asks that applying it be idempotent.

Rules:
- Events are folded per (collection, object id), in order, and the last one wins: an object in an event is
  complete, so the delta record is the whole object, never a patch. Replaying the same events gives the
  same batch.
- ``*.deleted`` gives the object's records with ``deleted=True``, one for each kind it held.
- A user that lost a role (``previous_attributes.roles`` had it, the object has not) gives a deleted
  record of that kind: a student who is now only a contact stops being a student.
- Section membership. ``students`` is the section's whole membership, so every student in it is an
  enrollment; a student named in ``previous_attributes.students`` of any folded event and absent from the
  final list has left: ``EnrollmentRecord(deleted=True)``. Teachers alike (``teacher``, ``teachers``),
  as deleted teacher enrollments, since a ClassroomRecord can only list the teachers who are there. A
  deleted section takes all its enrollments with it, explicitly. Without ``previous_attributes`` nobody
  can be known to have left (a delta never archives by absence), so nothing is removed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from connectors.clever.mapping import SOURCE, add, map_school, map_section, map_user, tombstones, user_kinds
from connectors.records import EnrollmentRecord, RosterBatch

COLLECTIONS = ("schools", "users", "sections")
ACTIONS = ("created", "updated", "deleted")


@dataclass(slots=True)
class _Folded:
    collection: str
    action: str = ""
    obj: dict = field(default_factory=dict)
    kinds_before: set[str] = field(default_factory=set)  # users: kinds held in any earlier state
    students_before: set[str] = field(default_factory=set)  # sections: members in any earlier state
    teachers_before: set[str] = field(default_factory=set)


@dataclass(slots=True)
class EventSummary:
    applied: Counter = field(default_factory=Counter)  # "users.updated" -> count
    ignored: Counter = field(default_factory=Counter)  # types the directory has no use for


def _members(value) -> set[str]:
    return {v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v}


def fold(events: list[dict], summary: EventSummary) -> dict[tuple[str, str], _Folded]:
    folded: dict[tuple[str, str], _Folded] = {}
    for event in events:
        kind = event.get("type") if isinstance(event.get("type"), str) else ""
        collection, _, action = kind.partition(".")
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        obj = data.get("object") if isinstance(data.get("object"), dict) else None
        if collection not in COLLECTIONS or action not in ACTIONS or obj is None or not obj.get("id"):
            summary.ignored[kind or "(no type)"] += 1
            continue
        summary.applied[kind] += 1
        entry = folded.setdefault((collection, obj["id"]), _Folded(collection))
        before = event.get("previous_attributes") if isinstance(event.get("previous_attributes"), dict) else {}
        if collection == "users":
            if entry.obj:
                entry.kinds_before |= user_kinds(entry.obj)
            if "roles" in before:
                entry.kinds_before |= user_kinds({"roles": before["roles"]})
        elif collection == "sections":
            if entry.obj:
                entry.students_before |= _members(entry.obj.get("students"))
                entry.teachers_before |= _members(entry.obj.get("teacher")) | _members(entry.obj.get("teachers"))
            entry.students_before |= _members(before.get("students"))
            entry.teachers_before |= _members(before.get("teacher")) | _members(before.get("teachers"))
        entry.action, entry.obj = action, obj
    return folded


def delta_batch(events: list[dict]) -> tuple[RosterBatch, EventSummary]:
    """The delta of ``events`` (oldest first), and what was applied or ignored."""
    summary = EventSummary()
    batch = RosterBatch(source=SOURCE, mode="delta")
    for (collection, oid), entry in fold(events, summary).items():
        deleted = entry.action == "deleted"
        if collection == "schools":
            if deleted:
                batch.schools.extend(tombstones("schools", entry.obj))
            else:
                school = map_school(entry.obj, batch.problems)
                if school:
                    batch.schools.append(school)
        elif collection == "users":
            now = set() if deleted else user_kinds(entry.obj)
            if not deleted:
                for record in map_user(entry.obj, batch.problems):
                    add(batch, record)
            gone = (user_kinds(entry.obj) | entry.kinds_before) if deleted else entry.kinds_before - now
            for kind in sorted(gone):
                for record in tombstones(kind, entry.obj):
                    add(batch, record)
        else:
            _section(batch, oid, entry, deleted)
    return batch, summary


def _section(batch: RosterBatch, oid: str, entry: _Folded, deleted: bool) -> None:
    students = _members(entry.obj.get("students"))
    teachers = _members(entry.obj.get("teacher")) | _members(entry.obj.get("teachers"))
    if deleted:
        batch.classrooms.extend(tombstones("classrooms", entry.obj))
        left_students, left_teachers = students | entry.students_before, teachers | entry.teachers_before
    else:
        classroom, enrollments = map_section(entry.obj, batch.problems)
        if classroom is None:
            return
        batch.classrooms.append(classroom)
        batch.enrollments.extend(enrollments)
        left_students, left_teachers = entry.students_before - students, entry.teachers_before - teachers
    batch.enrollments.extend(EnrollmentRecord(classroom_id=oid, user_id=u, role="student", deleted=True)
                             for u in sorted(left_students))
    batch.enrollments.extend(EnrollmentRecord(classroom_id=oid, user_id=u, role="teacher", deleted=True)
                             for u in sorted(left_teachers))


__all__ = ["EventSummary", "delta_batch"]
