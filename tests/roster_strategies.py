"""Hypothesis strategies for small, realistic rosters (used by tests/test_properties_sync.py).

A roster is drawn as a *world* first: every school, teacher, classroom, student, enrollment and
guardian once, guardians as one canonical record per person with all their children. ``render`` then
writes the world as an SIS export would: a guardian repeated once per child (Clever CSV) or once with
every child (OneRoster), emails and numbers spelled differently from one row to the next
("Mum@Example.org", "(201) 555-0123"). Every repetition carries the same person, so in a clean world
the order of records can never matter.

Ids come from small alphabets, so the same id turns up again in the next night's roster (updates,
moves, archives, restores), siblings share a guardian, and two parents may share a family email.
``noise`` adds what real exports also carry: unusable contacts, unknown references, duplicate ids,
excluded contact types, a landline.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace

from hypothesis import strategies as st

from connectors.records import (KINDS, ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord, RosterBatch,
                                SchoolRecord, StudentRecord, TeacherRecord)

SOURCE = "oneroster-csv"
SCHOOL_IDS = ("sch-a", "sch-b", "sch-c")
TEACHER_IDS = ("t1", "t2", "t3")
CLASSROOM_IDS = ("c1", "c2", "c3", "c4")
STUDENT_IDS = ("s1", "s2", "s3", "s4", "s5", "s6")
GUARDIAN_IDS = ("g1", "g2", "g3", "g4")

SCHOOL_NAMES = ("Lincoln Elementary", "Roosevelt Middle", "Riverside K-8")
SCHOOL_NUMBERS = (None, "100", "200")
GIVEN = ("Ana", "Ben", "Chloé", "Dev")
FAMILY = ("Nguyen", "O'Brien", "García")
GRADES = (None, "K", "3", "07")
BIRTHS = (None, "2015-01-02", "2016-09-30")
STUDENT_NUMBERS = (None, "1001", "1002", "1003")
CLASS_NAMES = ("Math 3", "Art", "Room 7")
TEACHER_EMAILS = (None, "t.one@school.example.org", "t.two@school.example.org")
# Canonical contact -> the spellings an SIS may use for it (the diff must see them as one).
EMAILS = {
    "mum@example.org": ("mum@example.org", "Mum@Example.org", " MUM@example.org "),
    "dad@example.org": ("dad@example.org", "Dad@example.ORG"),
    "family@example.net": ("family@example.net",),
}
PHONES = {
    "+12015550123": ("201-555-0123", "(201) 555-0123", "+1 201 555 0123"),
    "+12015550199": ("201 555 0199", "+12015550199"),
    "+12125550100": ("212-555-0100",),
}
ROLES = ("parent", "guardian", "relative")
# What messy rosters add: contacts that cannot be used, a number the SIS marks as a landline.
BAD_EMAILS = ("not-an-email",)
BAD_PHONES = ("12", "800-555-0100")  # too short; toll-free (cannot receive texts)


def identity(g: GuardianRecord) -> str:
    """Who a canonical guardian is for the sync: the source id, else the email, else the phone."""
    return g.external_id or (f"email:{g.email}" if g.email else f"phone:{g.phone}")


# -- drawing cheaply ----------------------------------------------------------------------------------------
# Hypothesis spends far more per draw than these tests spend per value, so a record is one draw (an
# integer read as one choice per field) and a set of ids is one draw (a bit per id). Both shrink to the
# first value of every pool and to the fewest ids, which keeps counterexamples readable.
def _pick(draw, *pools: tuple) -> tuple:
    """One value from each pool, from a single draw."""
    n = draw(st.integers(0, math.prod(len(p) for p in pools) - 1))
    out = []
    for pool in pools:
        n, i = divmod(n, len(pool))
        out.append(pool[i])
    return tuple(out)


def _some(draw, items, *, fewest: int = 0, most: int | None = None) -> list:
    """Some of ``items``, in their order, from a single draw."""
    items = list(items)
    if not items:
        return []
    mask = draw(st.integers(0, 2 ** len(items) - 1))
    chosen = [x for i, x in enumerate(items) if mask >> i & 1][:most]
    return chosen if len(chosen) >= fewest else items[:fewest]


# -- one record at a time -----------------------------------------------------------------------------------
@st.composite
def schools_(draw, sid: str):
    return SchoolRecord(sid, *_pick(draw, SCHOOL_NAMES, SCHOOL_NUMBERS))


@st.composite
def teachers_(draw, tid: str, schools: list[str]):
    given, family, email, role = _pick(draw, GIVEN, FAMILY, TEACHER_EMAILS, ("teacher", "teacher", "staff"))
    return TeacherRecord(tid, given, family, email, tuple(_some(draw, schools, most=2)), role)


@st.composite
def classrooms_(draw, cid: str, schools: list[str], teachers: list[str], teacher_lists: bool):
    school, name = _pick(draw, schools, CLASS_NAMES)
    return ClassroomRecord(cid, school, name, tuple(_some(draw, teachers, most=2)) if teacher_lists else ())


@st.composite
def students_(draw, sid: str, schools: list[str]):
    return StudentRecord(sid, *_pick(draw, schools, GIVEN, FAMILY, STUDENT_NUMBERS, BIRTHS, GRADES))


@st.composite
def guardians_(draw, gid: str | None, students: list[str]):
    """One person: at least one usable contact, one role for every child (OneRoster has one role)."""
    email, phone, role, given, family = _pick(draw, (None, *EMAILS), (None, *PHONES), ROLES, GIVEN, FAMILY)
    if email is None and phone is None:
        phone = next(iter(PHONES))
    children = _some(draw, students, fewest=1, most=3)
    return GuardianRecord(gid, given, family, email, phone, "cell" if phone else None,
                          tuple(GuardianLink(s, role, role) for s in sorted(children)))


# -- a whole world ------------------------------------------------------------------------------------------
@st.composite
def worlds(draw, *, no_id_guardians: bool = True, teacher_lists: bool = True) -> RosterBatch:
    """A consistent roster: every reference resolves, every kind has records, guardians canonical."""
    schools = [draw(schools_(s)) for s in _some(draw, SCHOOL_IDS, fewest=1)]
    school_ids = [s.external_id for s in schools]
    teachers = [draw(teachers_(t, school_ids)) for t in _some(draw, TEACHER_IDS, fewest=1)]
    teacher_ids = [t.external_id for t in teachers]
    classrooms = [draw(classrooms_(c, school_ids, teacher_ids, teacher_lists))
                  for c in _some(draw, CLASSROOM_IDS, fewest=1)]
    students = [draw(students_(s, school_ids)) for s in _some(draw, STUDENT_IDS, fewest=1)]
    world = RosterBatch(SOURCE, schools=schools, teachers=teachers, classrooms=classrooms, students=students)
    world.enrollments = _enrollments(draw, world)
    world.guardians = _people(draw, world, no_id_guardians, 1, 4)
    return _settle(world)


def _enrollments(draw, world: RosterBatch) -> list[EnrollmentRecord]:
    classes = [c.external_id for c in world.classrooms]
    pupils = [(c, s.external_id) for c in classes for s in world.students]
    taught = [(c, t.external_id) for c in classes for t in world.teachers]
    return ([EnrollmentRecord(c, s) for c, s in _some(draw, pupils, fewest=1, most=8)]
            + [EnrollmentRecord(c, t, "teacher") for c, t in _some(draw, taught, most=3)])


def _people(draw, world: RosterBatch, no_id: bool, fewest: int, most: int) -> list[GuardianRecord]:
    ids = _some(draw, (*GUARDIAN_IDS, None, None) if no_id else GUARDIAN_IDS, fewest=fewest, most=most)
    students = [s.external_id for s in world.students]
    people: dict[str, GuardianRecord] = {}
    for gid in ids:
        person = draw(guardians_(gid, students))
        # Two people without an id and with the same email (or number) are one person to the sync: keep the first.
        people.setdefault(identity(person), person)
    return list(people.values())


def _settle(world: RosterBatch) -> RosterBatch:
    """Drop references to what is not there (after an evolution), keep every kind non-empty.

    An empty kind in a bulk drop archives nothing (README), which would make a roster that emptied a
    kind mean something else than the same roster's delta; rosters here always hold every kind.
    """
    schools = {s.external_id for s in world.schools}
    first_school = world.schools[0].external_id
    world.teachers = [replace(t, school_ids=tuple(s for s in t.school_ids if s in schools)) for t in world.teachers]
    teachers = {t.external_id for t in world.teachers}
    world.classrooms = [replace(c, school_id=c.school_id if c.school_id in schools else first_school,
                                teacher_ids=tuple(t for t in c.teacher_ids if t in teachers)) for c in world.classrooms]
    world.students = [s if s.school_id in schools else replace(s, school_id=first_school) for s in world.students]
    classes = {c.external_id for c in world.classrooms}
    students = {s.external_id for s in world.students}
    world.enrollments = [e for e in world.enrollments if e.classroom_id in classes
                         and e.user_id in (students if e.role == "student" else teachers)]
    if not any(e.role == "student" for e in world.enrollments):
        world.enrollments.append(EnrollmentRecord(world.classrooms[0].external_id, world.students[0].external_id))
    people = []
    for g in world.guardians:
        links = tuple(l for l in g.links if l.student_id in students)
        if links:
            people.append(replace(g, links=links))
    world.guardians = people
    return world


FATES = ("keep", "keep", "change", "drop")


@st.composite
def next_night(draw, world: RosterBatch, *, no_id_guardians: bool = True, teacher_lists: bool = True) -> RosterBatch:
    """The SIS a night later: each record kept, changed or gone, and new ones from the unused ids."""
    new = RosterBatch(SOURCE)

    def evolve(records, ids, fresh):
        out = []
        for r, (fate,) in zip(records, (_pick(draw, FATES) for _ in records)):
            if fate == "keep":
                out.append(r)
            elif fate == "change":
                out.append(draw(fresh(r.external_id)))
        taken = {r.external_id for r in records}
        out += [draw(fresh(i)) for i in _some(draw, [i for i in ids if i not in taken], most=2)]
        return out or [draw(fresh(ids[0]))]

    new.schools = evolve(world.schools, SCHOOL_IDS, schools_)
    school_ids = [s.external_id for s in new.schools]
    new.teachers = evolve(world.teachers, TEACHER_IDS, lambda t: teachers_(t, school_ids))
    teacher_ids = [t.external_id for t in new.teachers]
    new.classrooms = evolve(world.classrooms, CLASSROOM_IDS,
                            lambda c: classrooms_(c, school_ids, teacher_ids, teacher_lists))
    new.students = evolve(world.students, STUDENT_IDS, lambda s: students_(s, school_ids))
    kept = _some(draw, world.enrollments)
    new.enrollments = list(dict.fromkeys(kept + _enrollments(draw, new)))
    students = [s.external_id for s in new.students]
    people = {}
    for g in world.guardians:
        fate, = _pick(draw, FATES)
        if fate == "keep":
            people[identity(g)] = g
        elif fate == "change":  # new contacts, a name, or a child more or fewer
            changed = draw(guardians_(g.external_id, students))
            people.setdefault(identity(changed), changed)
    for g in _people(draw, new, no_id_guardians, 0, 2):
        if g.external_id is None or g.external_id not in {p.external_id for p in people.values()}:
            people.setdefault(identity(g), g)
    new.guardians = list(people.values())
    new = _settle(new)
    if not new.guardians:  # see _settle: an empty kind would mean something else in a bulk drop
        new.guardians = [draw(guardians_(_pick(draw, GUARDIAN_IDS)[0], students))]
    return new


# -- writing a world as an export ---------------------------------------------------------------------------
@st.composite
def render(draw, world: RosterBatch, *, split_guardians: bool = True) -> RosterBatch:
    """The world as an export: contacts in any of their spellings, guardians once per child or once.

    A world made by ``delta_between`` stays a delta (nothing complete); any other is a bulk export."""
    delta = world.mode == "delta"
    batch = dataclasses.replace(world, guardians=[], problems=[], mode=world.mode,
                                complete=frozenset() if delta else frozenset(KINDS))
    for g in world.guardians:
        split, spelling = _pick(draw, (False, True), range(6))
        parts = [(link,) for link in g.links] if split_guardians and split else [g.links]
        for n, links in enumerate(parts):  # each row may spell the contacts its own way
            batch.guardians.append(replace(g, links=links, email=_spelling(EMAILS, g.email, spelling + n),
                                           phone=_spelling(PHONES, g.phone, spelling + n)))
    for kind in KINDS:
        setattr(batch, kind, list(getattr(batch, kind)))
    return batch


def _spelling(table: dict, value: str | None, n: int) -> str | None:
    return table[value][n % len(table[value])] if value else None


@st.composite
def noise(draw, batch: RosterBatch) -> RosterBatch:
    """What real exports also carry, each of them reported by the sync and none of them fatal."""
    out = dataclasses.replace(batch, guardians=list(batch.guardians), students=list(batch.students),
                              enrollments=list(batch.enrollments))
    students = [s.external_id for s in batch.students]
    extras = draw(st.lists(st.sampled_from(("unknown_school", "unknown_student", "duplicate_student", "bad_email",
                                            "bad_phone", "landline", "emergency", "deleted_in_bulk")),
                           unique=True, max_size=4))
    for extra in extras:
        if extra == "unknown_school":
            out.students.append(StudentRecord("s9", "sch-x", "Zed", "Nobody"))
        elif extra == "unknown_student":
            out.enrollments.append(EnrollmentRecord(batch.classrooms[0].external_id, "s8"))
        elif extra == "duplicate_student":
            out.students.append(replace(batch.students[0], grade="12"))
        elif extra in ("bad_email", "bad_phone", "landline"):
            gid = draw(st.sampled_from((*GUARDIAN_IDS, None)))
            email = draw(st.sampled_from(BAD_EMAILS)) if extra == "bad_email" else None
            phone = (draw(st.sampled_from(BAD_PHONES)) if extra == "bad_phone" else
                     draw(st.sampled_from(list(PHONES))) if extra == "landline" else None)
            out.guardians.append(GuardianRecord(gid, "Bad", "Contact", email, phone,
                                                "home" if extra == "landline" else None,
                                                (GuardianLink(draw(st.sampled_from(students)), "parent", "parent"),)))
        elif extra == "emergency":
            out.guardians.append(GuardianRecord("g-em", "Em", "Ergency", "em@example.org", None, None,
                                                (GuardianLink(draw(st.sampled_from(students)), "neighbour",
                                                              "emergency"),)))
        elif extra == "deleted_in_bulk":  # tobedeleted rows are allowed in a bulk file too
            out.students.append(StudentRecord(draw(st.sampled_from(STUDENT_IDS)), batch.schools[0].external_id,
                                              "Gone", "Away", deleted=True))
    return out


# -- the delta between two nights ---------------------------------------------------------------------------
def delta_between(old: RosterBatch, new: RosterBatch) -> RosterBatch:
    """``new`` as a delta against ``old`` (both worlds): what is new or changed in ``new`` as active
    records, what left as deleted ones (OneRoster ``status=tobedeleted``), as connectors/records.py
    represents a delta: ``mode="delta"``, no kind complete.

    Memberships leave the way the connectors say it: a student or teacher who left a class is a deleted
    enrollment (OneRoster enrollments.csv; Clever events turn a section's shrunken lists into the same).
    A guardian's links are part of the guardian's record (OneRoster ``agentSourcedIds``, Clever
    ``student_relationships``): a guardian whose children changed is sent again, whole.
    """
    out = RosterBatch(new.source, mode="delta")
    for kind in ("schools", "teachers", "classrooms", "students"):
        before = {r.external_id: r for r in getattr(old, kind)}
        after = {r.external_id for r in getattr(new, kind)}
        setattr(out, kind, [r for r in getattr(new, kind) if before.get(r.external_id) != r]
                + [replace(r, deleted=True) for r in getattr(old, kind) if r.external_id not in after])
    pairs_before, pairs_after = _memberships(old), _memberships(new)
    enrolled_before = {(e.classroom_id, e.user_id, e.role) for e in old.enrollments}
    # New enrollments; a teacher new on a class's own list comes with the class record, which changed.
    out.enrollments = [e for e in new.enrollments if (e.classroom_id, e.user_id, e.role) not in enrolled_before]
    out.enrollments += [EnrollmentRecord(c, u, role, deleted=True) for c, u, role in sorted(pairs_before - pairs_after)]
    people_before = {identity(g): g for g in old.guardians}
    people_after = {identity(g) for g in new.guardians}
    out.guardians = [g for g in new.guardians if people_before.get(identity(g)) != g]
    out.guardians += [replace(g, deleted=True) for key, g in people_before.items() if key not in people_after]
    return out


def _memberships(world: RosterBatch) -> set[tuple[str, str, str]]:
    """(classroom, user, role) of every enrollment, and of every teacher named on a class."""
    return ({(e.classroom_id, e.user_id, e.role) for e in world.enrollments}
            | {(c.external_id, t, "teacher") for c in world.classrooms for t in c.teacher_ids})
