"""The safety guard (sync/guard.py): mass removals are held per school; creates and updates still apply."""

from __future__ import annotations

import pytest

from sync import guard
from sync.changes import ChangeSet, DiffSettings, Row, Snapshot
from sync.diff import diff
from test_diff import batch, classroom, enrol, guardian, school, student, synced, without


def leaving(per_school: dict[str, tuple[int, int]]) -> tuple[ChangeSet, Snapshot, dict[str, str]]:
    """A change set archiving ``n`` of ``active`` students per school: {school: (n, active)}."""
    cs, snap, where = ChangeSet(), Snapshot(), {}
    row_id = 0
    for school_key, (n, active) in per_school.items():
        snap.active_students_by_school[school_key] = active
        for i in range(active):
            row_id += 1
            key = f"{school_key}-s{i}"
            where[key] = school_key
            snap.rows["students"][key] = Row(row_id, key, (school_key, "A", "B", None, None, None))
            if i < n:
                cs.kinds["students"].archives.append((row_id, key))
    return cs, snap, where


@pytest.mark.parametrize("n,active,held", [(10, 100, False), (11, 100, True), (1, 10, False), (2, 10, True),
                                           (0, 5, False), (1, 9, True)])
def test_threshold_at_the_boundary(n, active, held):
    cs, snap, where = leaving({"sch1": (n, active)})
    decision = guard.decide(cs, snap, where, 10)
    assert decision.hold is held
    assert [o["school"] for o in decision.schools_over] == (["sch1"] if held else [])


def test_the_threshold_is_per_school_not_district_wide():
    # 10/100 in one school is fine; 2/10 in the other is not, though 12/110 overall is only 10.9%.
    cs, snap, where = leaving({"big": (10, 100), "small": (2, 10)})
    decision = guard.decide(cs, snap, where, 10)
    assert decision.hold
    assert decision.schools_over == [{"school": "small", "active": 10, "leaving": 2, "percent": 20.0}]


def test_small_losses_in_many_schools_are_not_held():
    cs, snap, where = leaving({"a": (10, 100), "b": (1, 10), "c": (3, 30)})
    assert not guard.decide(cs, snap, where, 10).hold


def test_the_threshold_is_the_districts_setting():
    cs, snap, where = leaving({"sch1": (20, 100)})
    assert guard.decide(cs, snap, where, 10).hold
    assert not guard.decide(cs, snap, where, 20).hold
    cs, snap, where = leaving({"sch1": (1, 100)})
    assert guard.decide(cs, snap, where, 0).hold


def test_nothing_leaving_is_never_held():
    cs, snap, where = leaving({"sch1": (0, 3)})
    decision = guard.decide(cs, snap, where, 0)
    assert not decision.hold and decision.schools_over == []


def test_split_removals_holds_every_removal_and_keeps_the_rest():
    # A complete roster that lost 2 of 3 students of a school, while other things changed too.
    b = batch(schools=[school()], classrooms=[classroom()],
              students=[student("s1"), student("s2"), student("s3")],
              guardians=[guardian("g1", ["s1"], email="a@example.org"), guardian("g2", ["s2"], email="b@example.org")],
              enrollments=[enrol("c1", "s1"), enrol("c1", "s2"), enrol("c1", "s3")])
    snap = synced(b)
    b2 = without(b, students={"s2", "s3"}, guardians={"g2"}, enrollments={("c1", "s2"), ("c1", "s3")})
    b2.students[0] = student("s1", grade="4")
    b2.students.append(student("s4"))
    b2.guardians.append(guardian("g1", ["s4"], email="a@example.org", relationship="father"))
    cs = diff(snap, b2, DiffSettings())
    where = {k: r.values[0] for k, r in snap.rows["students"].items()}
    decision = guard.decide(cs, snap, where, DiffSettings().archive_threshold_pct)
    assert decision.hold and decision.schools_over[0]["leaving"] == 2

    held = guard.split_removals(cs)
    assert cs.removals() == 0
    assert sorted(held["archives"]["students"]) == ["s2", "s3"]
    assert held["archives"]["guardians"] == ["g2"]
    assert held["removed"]["enrollments"] == [["c1", "s2"], ["c1", "s3"]]
    assert held["removed"]["guardian_links"] == [["g2", "s2"]]
    # creates, updates and additions still apply
    assert [k for k, _ in cs.kinds["students"].creates] == ["s4"]
    assert [u[1] for u in cs.kinds["students"].updates] == ["s1"]
    assert set(cs.pairs["enrollments"].added) == set() and set(cs.pairs["guardian_links"].added) == {("g1", "s4")}
    assert cs.kinds["students"].unchanged == 0 and cs.counts()["students"]["created"] == 1


def test_split_removals_keeps_restores_adopts_and_link_updates():
    cs = ChangeSet()
    cs.kinds["students"].restores.append((1, "s1"))
    cs.kinds["students"].adopts.append((2, "s2", ()))
    cs.kinds["students"].unchanged = 7
    cs.kinds["schools"].archives.append((3, "sch9"))
    cs.pairs["guardian_links"].updated[("g1", "s1")] = ("aunt", "relative")
    cs.pairs["classroom_teachers"].removed.add(("c1", "t1"))
    held = guard.split_removals(cs)
    assert held == {"archives": {"schools": ["sch9"]}, "removed": {"classroom_teachers": [["c1", "t1"]]}}
    assert cs.kinds["students"].restores == [(1, "s1")] and cs.kinds["students"].adopts == [(2, "s2", ())]
    assert cs.kinds["students"].unchanged == 7
    assert cs.pairs["guardian_links"].updated == {("g1", "s1"): ("aunt", "relative")}


def test_a_school_that_left_with_all_its_students_is_held():
    b = batch(schools=[school("sch1"), school("sch2")],
              students=[student(f"a{i}", "sch1") for i in range(20)] + [student("b1", "sch2")])
    snap = synced(b)
    cs = diff(snap, batch(schools=[school("sch1")], students=[student(f"a{i}", "sch1") for i in range(20)]),
              DiffSettings())
    where = {k: r.values[0] for k, r in snap.rows["students"].items()}
    decision = guard.decide(cs, snap, where, 10)
    assert decision.hold and [o["school"] for o in decision.schools_over] == ["sch2"]


def test_one_student_leaving_a_big_school_is_not_held():
    b = batch(schools=[school()], students=[student(f"s{i}") for i in range(10)])
    snap = synced(b)
    cs = diff(snap, without(b, students={"s0"}), DiffSettings())
    where = {k: r.values[0] for k, r in snap.rows["students"].items()}
    assert [k for _, k in cs.kinds["students"].archives] == ["s0"]
    assert not guard.decide(cs, snap, where, 10).hold  # exactly 10%
    cs = diff(snap, without(b, students={"s0", "s1"}), DiffSettings())
    assert guard.decide(cs, snap, where, 10).hold  # 20%
