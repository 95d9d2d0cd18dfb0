"""The demo's second night for a synthetic district (see ``sync.synthetic``): three small, nameable changes.

Pure, like ``mutate_district``, whose helpers it uses: the input batch is never modified.
"""

from __future__ import annotations

import random
from dataclasses import replace

from connectors.records import RosterBatch
from sync.synthetic_data import phone_for
from sync.synthetic_mutate import _enrollments, _free_serials, _guardians, _Roster


def demo_changes(batch: RosterBatch, seed: int = 1) -> tuple[RosterBatch, list[str]]:
    """The demo's second night: one student leaves, one moves to another school, one guardian changes
    phone number. Returns the new batch and one sentence per change, naming people but never showing a
    contact detail.

    The leaver is taken from a family with another child, so their guardians stay (losing one link); the
    mover takes a classmate's schedule at the new school. Raises ValueError for a district too small to
    show all three (no second school for any grade, or no guardian with a phone outside those families).
    """
    rng = random.Random(f"{seed}:demo")
    roster = _Roster(batch, rng)
    school_names = {s.external_id: s.name for s in batch.schools}
    guardians_of: dict[str, list[int]] = {}
    for i, g in enumerate(batch.guardians):
        for link in g.links:
            guardians_of.setdefault(link.student_id, []).append(i)

    def family(sid: str) -> set[str]:
        return {link.student_id for i in guardians_of.get(sid, ()) for link in batch.guardians[i].links}

    with_siblings = [s for s in roster.students if guardians_of.get(s.external_id)
                     and all(len(batch.guardians[i].links) > 1 for i in guardians_of[s.external_id])]
    leaver = rng.choice(with_siblings or roster.students)
    roster.unstable.add(leaver.external_id)
    near = family(leaver.external_id) | {leaver.external_id}

    movers = [s for s in roster.students if s.external_id not in near]
    rng.shuffle(movers)
    for mover in movers:
        roster.unstable.add(mover.external_id)
        target = roster.other_school(mover)
        if target:
            break
        roster.unstable.discard(mover.external_id)
    else:
        raise ValueError("no student can move: no grade is served by two schools")
    near |= family(mover.external_id) | {mover.external_id}

    callers = [i for i, g in enumerate(batch.guardians)
               if g.phone and not g.deleted and not any(link.student_id in near for link in g.links)]
    if not callers:
        raise ValueError("no guardian with a phone outside the leaving and moving families")
    caller = rng.choice(callers)
    new_phone = phone_for(next(_free_serials(batch.guardians, 1)))

    guardians, _, _ = _guardians(batch.guardians, {leaver.external_id}, {}, {caller: new_phone})
    moved = replace(mover, school_id=target[0])
    students = [moved if s is mover else s for s in batch.students if s is not leaver]
    out = RosterBatch(source=batch.source, mode="full", schools=list(batch.schools), teachers=list(batch.teachers),
                      classrooms=list(batch.classrooms), students=students, guardians=guardians,
                      enrollments=_enrollments(batch, {leaver.external_id, mover.external_id},
                                               {mover.external_id: target[1].external_id}),
                      complete=batch.complete)

    g = batch.guardians[caller]
    by_id = {s.external_id: s for s in roster.students}
    children = [by_id[link.student_id] for link in g.links if link.student_id in by_id]
    of = " and ".join(f"{c.given_name} {c.family_name}" for c in children)
    relation = g.links[0].relationship or "contact"
    return out, [
        f"{leaver.given_name} {leaver.family_name} (grade {leaver.grade}) left "
        f"{school_names.get(leaver.school_id, leaver.school_id)}.",
        f"{mover.given_name} {mover.family_name} (grade {mover.grade}) moved from "
        f"{school_names.get(mover.school_id, mover.school_id)} to {school_names.get(target[0], target[0])}.",
        f"{g.given_name} {g.family_name} ({relation} of {of}) changed phone number.",
    ]
