"""The next night's roster for a synthetic district: ``mutate_district`` (benchmark delta runs), and the
helpers ``demo_changes`` (``sync.synthetic_demo``) shares with it. Pure: the input batch is never modified;
unchanged records are shared by reference with it (they are frozen), so a mutated million-student batch
costs little extra.

Both work on any batch shaped like ``generate_district``'s output, including an earlier mutation of one.
A student who changes school or grade, or is new, takes the schedule of a random classmate-to-be (a
student already in that school and grade), so no classroom metadata is needed.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import accumulate, chain, compress, count, repeat
from operator import attrgetter, is_, not_

from connectors.records import EnrollmentRecord, GuardianLink, GuardianRecord, RosterBatch, StudentRecord
from sync.synthetic_data import FAMILY, GIVEN, GRADES, gc_paused, phone_for, respell
from sync.synthetic_families import build_guardians

JOIN_FAMILY = 0.3  # share of new students who are younger siblings of a current student


@dataclass(frozen=True)
class MutationSummary:
    """What ``mutate_district`` did, by student id (guardians as counts)."""

    renamed: tuple[str, ...]   # given or family name respelled
    regraded: tuple[str, ...]  # grade one up or down, same school, that grade's classes
    moved: tuple[str, ...]     # another school serving their grade, that school's classes
    gone: tuple[str, ...]      # absent from the new batch (with their enrollments and guardian links)
    new: tuple[str, ...]       # new students
    joined_families: int       # new students linked to an existing family's guardians
    new_guardians: int
    dropped_guardians: int     # contacts whose only children left

    @property
    def changed(self) -> tuple[str, ...]:
        return self.renamed + self.regraded + self.moved

    def counts(self) -> dict[str, int]:
        return {"renamed": len(self.renamed), "regraded": len(self.regraded), "moved": len(self.moved),
                "gone": len(self.gone), "new": len(self.new), "joined_families": self.joined_families,
                "new_guardians": self.new_guardians, "dropped_guardians": self.dropped_guardians}


class _Roster:
    """Lookups over a batch's students that both mutations need."""

    def __init__(self, batch: RosterBatch, rng: random.Random):
        self.rng = rng
        self.students = [s for s in batch.students if not s.deleted]
        self.groups: dict[tuple[str, str | None], list[StudentRecord]] = defaultdict(list)
        for key, s in zip(map(attrgetter("school_id", "grade"), self.students), self.students):
            self.groups[key].append(s)
        self.schools_for_grade: dict[str | None, list[str]] = {}
        for school_id, grade in self.groups:  # insertion order: deterministic
            self.schools_for_grade.setdefault(grade, []).append(school_id)
        self.unstable: set[str] = set()  # leaving or re-enrolled this time: not a model for a schedule

    def peer(self, school_id: str, grade: str | None) -> StudentRecord | None:
        """A random student of that school and grade who keeps their classes (None if there is none)."""
        group = self.groups.get((school_id, grade), ())
        for _ in range(min(len(group), 20)):
            s = group[int(self.rng.random() * len(group))]
            if s.external_id not in self.unstable:
                return s
        stable = [s for s in group if s.external_id not in self.unstable]
        return self.rng.choice(stable) if stable else None

    def other_school(self, student: StudentRecord) -> tuple[str, StudentRecord] | None:
        """Another school serving the student's grade, and a peer there; None if the grade has no other."""
        schools = [x for x in self.schools_for_grade.get(student.grade, ()) if x != student.school_id]
        # A few random tries before a full shuffle: shuffling hundreds of schools per mover costs seconds.
        tries = [schools[int(self.rng.random() * len(schools))] for _ in range(min(len(schools), 8))]
        for attempt in (tries, schools):
            if attempt is schools:
                self.rng.shuffle(schools)
            for school_id in attempt:
                peer = self.peer(school_id, student.grade)
                if peer is not None:
                    return school_id, peer
        return None


# The passes below touch every enrollment and guardian of a possibly million-student batch to change a
# few thousand; they are written with map/compress so the per-record work runs in C, not in bytecode.

def _enrollments(batch: RosterBatch, drop: set[str], schedule: dict[str, str]) -> list[EnrollmentRecord]:
    """The batch's enrollments without ``drop``'s students, plus each ``schedule`` student (key) enrolled in
    the classes of their peer (value)."""
    users = list(map(attrgetter("user_id"), batch.enrollments))
    out = list(compress(batch.enrollments, map(not_, map(drop.__contains__, users))))
    wanted: dict[str, list[str]] = {peer: [] for peer in schedule.values()}
    for e in compress(batch.enrollments, map(wanted.__contains__, users)):
        if e.role == "student" and not e.deleted:
            wanted[e.user_id].append(e.classroom_id)
    for sid, peer in schedule.items():
        out.extend(EnrollmentRecord(cid, sid, "student") for cid in wanted[peer])
    return out


def _guardians(guardians: list[GuardianRecord], leaving: set[str], joins: dict[str, list[str]],
               phones: dict[int, str] | None = None) -> tuple[list[GuardianRecord], set[str], int]:
    """Guardians without links to ``leaving`` students (absent if none remain), with links added for new
    siblings (same relationship as to the sibling in ``joins``), and the phone numbers in ``phones`` (by
    position) changed. Returns them, the new students that got a guardian, and how many were dropped."""
    links_of = list(map(attrgetter("links"), guardians))
    ends = list(accumulate(map(len, links_of)))
    touched = leaving | joins.keys()
    hits = compress(count(), map(touched.__contains__, map(attrgetter("student_id"), chain.from_iterable(links_of))))
    affected = sorted({bisect_right(ends, i) for i in hits} | set(phones or ()))
    out = list(guardians)
    joined: set[str] = set()
    keep = bytearray(b"\x01") * len(out)
    for i in affected:
        g = guardians[i]
        kept = [link for link in g.links if link.student_id not in leaving]
        for link in g.links:
            for sid in joins.get(link.student_id, ()):
                kept.append(GuardianLink(sid, link.relationship, link.contact_type))
                joined.add(sid)
        if not kept:
            keep[i] = 0
            continue
        if tuple(kept) != g.links:
            g = replace(g, links=tuple(kept))
        if phones and i in phones:
            g = replace(g, phone=phones[i], phone_type=g.phone_type or "cell")
        out[i] = g
    dropped = len(out) - sum(keep)
    return (list(compress(out, keep)) if dropped else out), joined, dropped


def _max_number(values, prefix: str = "") -> int:
    """The largest N among ``values`` of the form prefix + digits (0 if none); others are ignored.

    Among such strings of one length, string order is number order, so each length class needs only its
    string maximum; the scans run in C.
    """
    cut = len(prefix)
    values = list(filter(None, values))
    lengths = list(map(len, values))
    top = 0
    for length in set(lengths):
        best = max(compress(values, map(length.__eq__, lengths)))
        if not (best.startswith(prefix) and best[cut:].isdigit()):  # a stray value: the slow, exact way
            best = max((v for v in values if len(v) == length and v.startswith(prefix) and v[cut:].isdigit()),
                       default=prefix + "0")
        top = max(top, int(best[cut:]))
    return top


def _free_serials(guardians: list[GuardianRecord], wanted: int) -> Iterator[int]:
    """Serials for new contacts: past every serial an id or email was made from, skipping any whose phone
    number is already taken (a phone may have changed since its contact was made, as in demo_changes)."""
    ids = list(map(attrgetter("external_id"), guardians))
    top = _max_number(ids, "g-")
    for g in compress(guardians, map(is_, ids, repeat(None))):  # no id: the email tells the serial
        if g.email:  # 'first.last<serial>@domain'
            local = g.email.split("@", 1)[0]
            digits = len(local) - len(local.rstrip("0123456789"))
            if digits:
                top = max(top, int(local[-digits:]))
    # Check a window twice the size needed against all current numbers in one C-level pass (a set of a
    # million numbers would cost more), then count on unchecked: more clashes than that cannot happen.
    window = range(top + 1, top + 1 + 2 * wanted)
    taken = {phone_for(s) for s in window}.intersection(map(attrgetter("phone"), guardians))
    return chain((s for s in window if phone_for(s) not in taken), count(window.stop))


def _birth_like(peer: StudentRecord, rnd) -> str | None:
    """A birth date in the same school-year cohort (Sep 2 - Sep 1) as the peer's."""
    if not peer.birth_date:
        return None
    born = date.fromisoformat(peer.birth_date)
    start = date(born.year if (born.month, born.day) >= (9, 2) else born.year - 1, 9, 2)
    return (start + timedelta(days=int(rnd() * 365))).isoformat()


def mutate_district(batch: RosterBatch, seed: int, changed: float = 0.01, gone: float = 0.005,
                    new: float = 0.005) -> RosterBatch:
    """The same district a night later; see ``mutate_district_with_summary`` for what changed."""
    return mutate_district_with_summary(batch, seed, changed, gone, new)[0]


def mutate_district_with_summary(batch: RosterBatch, seed: int, changed: float = 0.01, gone: float = 0.005,
                                 new: float = 0.005) -> tuple[RosterBatch, MutationSummary]:
    """A new full batch where the given fractions of students changed a field, left, or arrived.

    Changed students are split about evenly between a respelled name, a grade one up or down (with that
    grade's classes) and a move to another school (with its classes); where a grade or move is impossible
    (no other school serves the grade) the name is respelled instead. New students arrive in existing
    schools and grades; 30% join an existing family (linked to its guardians, same family name), the rest
    come with a new family's contacts. Guardians whose only children left are absent.
    """
    if not all(0 <= f <= 1 for f in (changed, gone, new)) or changed + gone > 1:
        raise ValueError("fractions must be within 0..1 and changed + gone at most 1")
    with gc_paused():
        return _mutate(batch, seed, changed, gone, new)


def _mutate(batch: RosterBatch, seed: int, changed: float, gone: float, new: float):
    rng = random.Random(f"{seed}:mutate")
    rnd = rng.random
    roster = _Roster(batch, rng)
    n = len(roster.students)
    picks = rng.sample(range(n), round(n * changed) + round(n * gone))
    leaving = {roster.students[i].external_id for i in picks[:round(n * gone)]}
    to_change = [roster.students[i] for i in picks[round(n * gone):]]
    roster.unstable |= leaving | {s.external_id for s in to_change}

    replaced: dict[str, StudentRecord] = {}
    schedule: dict[str, str] = {}  # student -> peer whose classes they take
    renamed, regraded, moved = [], [], []
    for s in to_change:
        kind = int(rnd() * 3)
        if kind == 2 and (target := roster.other_school(s)):
            replaced[s.external_id] = replace(s, school_id=target[0])
            schedule[s.external_id] = target[1].external_id
            moved.append(s.external_id)
            continue
        if kind == 1 and s.grade in GRADES:
            step = GRADES.index(s.grade) + (1 if rnd() < 0.5 else -1)
            for g in (step, 2 * GRADES.index(s.grade) - step):  # the other direction if that one is empty
                peer = roster.peer(s.school_id, GRADES[g]) if 0 <= g < len(GRADES) else None
                if peer is not None:
                    replaced[s.external_id] = replace(s, grade=GRADES[g])
                    schedule[s.external_id] = peer.external_id
                    regraded.append(s.external_id)
                    break
            if s.external_id in replaced:
                continue
        field = "given_name" if rnd() < 0.7 else "family_name"
        replaced[s.external_id] = replace(s, **{field: respell(getattr(s, field))})
        renamed.append(s.external_id)

    # New students: a random stable student is the model for school, grade and classes.
    top = _max_number(map(attrgetter("external_id"), batch.students), "s-")
    number = _max_number(map(attrgetter("student_number"), batch.students))
    stable = list(compress(roster.students, map(not_, map(roster.unstable.__contains__,
                                                         map(attrgetter("external_id"), roster.students)))))
    joins: dict[str, list[str]] = {}  # current student -> new siblings
    arrivals: list[StudentRecord] = []
    for i in range(round(n * new) if stable else 0):
        peer = stable[int(rnd() * len(stable))]
        sid = f"s-{top + i + 1:06d}"
        surname = FAMILY[int(rnd() * len(FAMILY))]
        if rnd() < JOIN_FAMILY:
            sibling = stable[int(rnd() * len(stable))]
            surname = sibling.family_name
            joins.setdefault(sibling.external_id, []).append(sid)
        arrivals.append(StudentRecord(sid, peer.school_id, GIVEN[int(rnd() * len(GIVEN))], surname,
                                      str(number + i + 1), _birth_like(peer, rnd), peer.grade))
        schedule[sid] = peer.external_id

    guardians, joined, dropped = _guardians(batch.guardians, leaving, joins)
    # A new family for each arrival not linked to a sibling's contacts (or whose sibling had none). Serials
    # count on from the input's, dropped contacts included: their ids must not come back as somebody else.
    families = [(s.family_name, [s.external_id]) for s in arrivals if s.external_id not in joined]
    before = len(guardians)
    if families:
        guardians += build_guardians(rnd, families, _free_serials(batch.guardians, 3 * len(families)))

    kept = list(compress(batch.students, map(not_, map(leaving.__contains__,
                                                        map(attrgetter("external_id"), batch.students)))))
    students = list(map(replaced.get, map(attrgetter("external_id"), kept), kept)) + arrivals
    drop = leaving | set(moved) | set(regraded)
    out = RosterBatch(source=batch.source, mode="full", schools=list(batch.schools), teachers=list(batch.teachers),
                      classrooms=list(batch.classrooms), students=students, guardians=guardians,
                      enrollments=_enrollments(batch, drop, schedule), complete=batch.complete)
    summary = MutationSummary(tuple(renamed), tuple(regraded), tuple(moved), tuple(sorted(leaving)),
                              tuple(s.external_id for s in arrivals), len(joined), len(guardians) - before, dropped)
    return out, summary
