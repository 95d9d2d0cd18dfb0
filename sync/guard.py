"""The safety guard (pure): hold mass removals for a person to approve.

A roster that suddenly lacks a fifth of a school is far more often a broken export than a fifth of the
children leaving. If a run would archive more than the district's threshold of any school's active
students, creates and updates still apply, but every removal of the run (archives, enrollments, teacher
assignments, guardian links) is held, so nothing is half-removed; `rostersync approve RUN` applies them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sync.changes import ChangeSet, KindChanges, PairChanges, Snapshot


@dataclass
class GuardDecision:
    hold: bool
    schools_over: list[dict] = field(default_factory=list)  # school key, active, leaving, percent


def decide(cs: ChangeSet, snapshot: Snapshot, student_school: dict[str, str], threshold_pct: int) -> GuardDecision:
    """``student_school``: student key -> school key, for the students the run would archive."""
    leaving = Counter(student_school.get(key) for _, key in cs.kinds["students"].archives)
    over = []
    for school, n in sorted(leaving.items(), key=lambda kv: str(kv[0])):
        active = snapshot.active_students_by_school.get(school, 0)
        if active and n * 100 > threshold_pct * active:
            over.append({"school": school, "active": active, "leaving": n, "percent": round(100 * n / active, 1)})
    return GuardDecision(bool(over), over)


def split_removals(cs: ChangeSet) -> dict:
    """Take every removal out of the change set; returns them as JSON-ready data (external ids)."""
    held = {"archives": {}, "removed": {}}
    for kind, changes in cs.kinds.items():
        if changes.archives:
            held["archives"][kind] = [key for _, key in changes.archives]
        cs.kinds[kind] = KindChanges(changes.creates, changes.updates, [], changes.restores, changes.adopts,
                                     changes.unchanged)
    for kind, pairs in cs.pairs.items():
        if pairs.removed:
            held["removed"][kind] = sorted([list(p) for p in pairs.removed])
        cs.pairs[kind] = PairChanges(pairs.added, set(), pairs.updated)
    return held
