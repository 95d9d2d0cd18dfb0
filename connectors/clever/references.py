"""Reference checks of a full Clever pull (pure): every id a record names must be in the same pull.

A delta is not checked here: its records may name objects the directory already has, and the reconciler
checks those against the directory. Severities follow the Clever CSV reader: a record that cannot stand
without the reference (a student's school, a section's school, an enrollment's student) is an error and
skipped; a reference that only adds something (a section's extra teacher, a teacher's second school, a
contact's link to one student) is a warning and that reference is left out.
"""

from __future__ import annotations

from dataclasses import replace

from connectors.records import Problem, RosterBatch


def _problem(code: str, message: str, record: str, field: str, severity: str = "error") -> Problem:
    return Problem(code=code, message=message, severity=severity, record=record, field=field)


def _dedupe(batch: RosterBatch) -> None:
    """One record per id and kind: a user listed twice (a page boundary that moved under us) is kept once."""
    for kind in ("schools", "teachers", "classrooms", "students", "guardians"):
        seen: set[str] = set()
        kept = []
        for record in getattr(batch, kind):
            if record.external_id in seen:
                batch.problems.append(_problem("duplicate_id", f"{record.external_id} came twice in {kind}; the "
                                               "first is kept", record.external_id, "id", "warning"))
                continue
            seen.add(record.external_id)
            kept.append(record)
        setattr(batch, kind, kept)


def check_references(batch: RosterBatch, rejected_students: set[str] = frozenset()) -> RosterBatch:
    """Drop what names unknown objects, with a Problem each. ``rejected_students`` are students whose own
    record had an error, so that references to them say so rather than "unknown"."""
    _dedupe(batch)
    problems = batch.problems
    schools = {s.external_id for s in batch.schools}

    def missing(what: str, ref: str) -> str:
        return f"{what} {ref} " + ("was not taken (see its own problem)" if ref in rejected_students
                                   else "is not in the Clever data")

    students = []
    for s in batch.students:
        if s.school_id in schools:
            students.append(s)
        else:
            problems.append(_problem("unknown_reference", f"{missing('school', s.school_id)}; the student is "
                                     "skipped", s.external_id, "roles.student.school"))
            rejected_students = set(rejected_students) | {s.external_id}
    batch.students = students
    known_students = {s.external_id for s in students}

    teachers = []
    for t in batch.teachers:
        unknown = [school for school in t.school_ids if school not in schools]
        for school in unknown:
            problems.append(_problem("unknown_reference", f"school {school} is not in the Clever data; the "
                                     "teacher is kept without it", t.external_id, "roles.teacher.schools", "warning"))
        teachers.append(replace(t, school_ids=tuple(s for s in t.school_ids if s in schools)) if unknown else t)
    batch.teachers = teachers
    known_teachers = {t.external_id for t in teachers}

    classrooms = []
    for c in batch.classrooms:
        if c.school_id not in schools:
            problems.append(_problem("unknown_reference", f"school {c.school_id} is not in the Clever data; the "
                                     "section is skipped", c.external_id, "school"))
            continue
        for teacher in c.teacher_ids:
            if teacher not in known_teachers:
                problems.append(_problem("unknown_reference", f"teacher {teacher} is not in the Clever data; the "
                                         "section is kept without that teacher", c.external_id, "teachers",
                                         "warning"))
        classrooms.append(replace(c, teacher_ids=tuple(t for t in c.teacher_ids if t in known_teachers)))
    batch.classrooms = classrooms
    known_classrooms = {c.external_id for c in classrooms}

    enrollments = []
    for e in batch.enrollments:
        if e.classroom_id not in known_classrooms:
            continue  # its section was skipped, with a problem of its own
        if e.user_id not in known_students:
            problems.append(_problem("rejected_reference" if e.user_id in rejected_students else "unknown_reference",
                                     f"{missing('student', e.user_id)}; the enrollment is skipped",
                                     f"{e.classroom_id}/{e.user_id}", "students"))
            continue
        enrollments.append(e)
    batch.enrollments = enrollments

    guardians = []
    for g in batch.guardians:
        links = tuple(link for link in g.links if link.student_id in known_students)
        for link in g.links:
            if link.student_id not in known_students:
                problems.append(_problem("unknown_reference", f"{missing('student', link.student_id)}; the "
                                         "contact is kept without that link", g.external_id or "",
                                         "roles.contact.student_relationships", "warning"))
        if not links:
            # As in a CSV drop, where a contact only exists on a student's row: one of no student is left out.
            problems.append(_problem("unlinked_contact", "the contact is linked to no student in the Clever "
                                     "data; left out", g.external_id or "", "roles.contact.student_relationships",
                                     "warning"))
            continue
        guardians.append(replace(g, links=links) if len(links) != len(g.links) else g)
    batch.guardians = guardians
    return batch


__all__ = ["check_references"]
