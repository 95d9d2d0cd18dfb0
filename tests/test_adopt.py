"""First sync into a school that already has hand-made rows (sync/adopt.py through sync/diff.py).

Hand-made students are matched by student number, then by name and birth date; matches are adopted
(kept, with their id and links), the rest are reported and never archived.
"""

from __future__ import annotations

from sync import adopt
from sync.changes import ManualRow, Snapshot
from sync.diff import diff
from test_diff import DEFAULTS, applied, batch, classroom, codes, enrol, school, student, teacher

SCHOOL_ROW = 1  # the hand-made school's directory row id


def hand_made_school(*students: ManualRow, number="100", name="Elm Primary") -> Snapshot:
    snap = Snapshot()
    snap.manual_schools = [ManualRow(SCHOOL_ROW, (name, number))]
    snap.manual_students = list(students)
    return snap


def kid(row_id, given, family, number=None, born=None, grade="3", school_row=SCHOOL_ROW, school_key=None) -> ManualRow:
    return ManualRow(row_id, (school_row, given, family, number, born, grade), school_key)


def roster(*students, number="100", name="Elm Primary", **kw):
    return batch(schools=[school("sch1", name, number)], students=list(students), **kw)


def adopted(cs, kind="students") -> dict:
    return {key: row_id for row_id, key, _ in cs.kinds[kind].adopts}


def unmatched(cs) -> list[str]:
    return [p["message"] for p in cs.problems if p["code"] == "unmatched_manual_student"]


def test_hand_made_school_and_students_are_adopted_by_number_not_duplicated():
    snap = hand_made_school(kid(11, "Ann", "Lee", "A-1"), kid(12, "Bo", "Ray", "a-2 "))
    cs = diff(snap, roster(student("s1", number="A-1", given="Ann", family="Lee"),
                           student("s2", number="A-2", given="Bob", family="Ray")), DEFAULTS)
    assert adopted(cs, "schools") == {"sch1": SCHOOL_ROW}
    assert adopted(cs) == {"s1": 11, "s2": 12}
    assert cs.kinds["students"].creates == [] and cs.kinds["schools"].creates == []
    # the adopted row takes the SIS's values (Bo -> Bob)
    assert dict((k, v) for _, k, v in cs.kinds["students"].adopts)["s2"][1] == "Bob"
    assert cs.counts()["students"]["adopted"] == 2 and unmatched(cs) == []


def test_students_without_a_number_match_by_name_and_birth_date():
    snap = hand_made_school(kid(11, "Ann", "Lee", born="2015-03-04"), kid(12, "Ann", "Lee", born="2016-05-06"))
    cs = diff(snap, roster(student("s1", given=" ann ", family="LEE", birth="2016-05-06")), DEFAULTS)
    assert adopted(cs) == {"s1": 12}
    assert len(unmatched(cs)) == 1 and "11" in unmatched(cs)[0]


def test_a_name_alone_is_not_enough_to_adopt():
    snap = hand_made_school(kid(11, "Ann", "Lee"))
    cs = diff(snap, roster(student("s1", given="Ann", family="Lee")), DEFAULTS)
    assert adopted(cs) == {} and [k for k, _ in cs.kinds["students"].creates] == ["s1"]
    assert len(unmatched(cs)) == 1


def test_student_number_wins_over_name_and_birth_date():
    snap = hand_made_school(kid(11, "Ann", "Lee", "X-9", "2015-01-01"), kid(12, "Ann", "Lee", "A-1", "2015-01-01"))
    cs = diff(snap, roster(student("s1", given="Ann", family="Lee", number="A-1", birth="2015-01-01")), DEFAULTS)
    assert adopted(cs) == {"s1": 12}


def test_ambiguous_matches_are_not_guessed_and_both_rows_are_reported():
    snap = hand_made_school(kid(11, "Ann", "Lee", "A-1"), kid(12, "Anne", "Lee", "A-1"))
    cs = diff(snap, roster(student("s1", number="A-1")), DEFAULTS)
    assert adopted(cs) == {} and [k for k, _ in cs.kinds["students"].creates] == ["s1"]
    assert len(unmatched(cs)) == 2


def test_a_hand_made_row_is_adopted_at_most_once():
    snap = hand_made_school(kid(11, "Ann", "Lee", "A-1"))
    cs = diff(snap, roster(student("s1", number="A-1"), student("s2", number="A-1")), DEFAULTS)
    assert list(adopted(cs).values()) == [11]
    assert len(cs.kinds["students"].creates) == 1


def test_unmatched_hand_made_students_are_reported_and_never_archived():
    snap = hand_made_school(kid(11, "Ann", "Lee", "A-1"), kid(12, "Cy", "Moss", "Z-9"))
    cs = diff(snap, roster(student("s1", number="A-1")), DEFAULTS)
    assert cs.kinds["students"].archives == [] and cs.removals() == 0
    [message] = unmatched(cs)
    assert "12" in message and "Cy Moss" in message and "not archived" in message


def test_hand_made_students_of_a_school_the_sync_does_not_own_are_not_reported():
    snap = hand_made_school(kid(11, "Ann", "Lee", "A-1"), kid(99, "Oz", "Far", school_row=2))
    cs = diff(snap, roster(student("s1", number="A-1")), DEFAULTS)
    assert unmatched(cs) == []


def test_hand_made_students_of_an_already_synced_school_are_reported_on_every_run():
    snap = Snapshot()
    snap.manual_students = [kid(11, "Ann", "Lee", school_key="sch1")]
    cs = diff(snap, roster(student("s1", number="A-1")), DEFAULTS)
    assert len(unmatched(cs)) == 1 and adopted(cs) == {}


def test_a_hand_made_school_is_adopted_by_number_then_by_name():
    snap = Snapshot()
    snap.manual_schools = [ManualRow(1, ("Elm", "100")), ManualRow(2, ("Oak Primary", None))]
    cs = diff(snap, batch(schools=[school("sch1", "Elm Primary School", "100"), school("sch2", "OAK PRIMARY")]),
              DEFAULTS)
    assert adopted(cs, "schools") == {"sch1": 1, "sch2": 2}


def test_hand_made_teachers_are_adopted_by_email():
    snap = Snapshot()
    snap.manual_teachers = [ManualRow(31, ("Tess", "Teach", "tess@example.org", "teacher"))]
    cs = diff(snap, batch(schools=[school()], teachers=[teacher("t1", email="Tess@Example.org"),
                                                        teacher("t2", email=None)]), DEFAULTS)
    assert adopted(cs, "teachers") == {"t1": 31}
    assert [k for k, _ in cs.kinds["teachers"].creates] == ["t2"]


def test_after_adoption_the_same_roster_changes_nothing_and_memberships_follow():
    snap = hand_made_school(kid(11, "Ann", "Lee", "A-1"), kid(12, "Cy", "Moss", "Z-9"))
    b = roster(student("s1", number="A-1", given="Ann", family="Lee"), teachers=[teacher()],
               classrooms=[classroom(teachers=["t1"])], enrollments=[enrol("c1", "s1")])
    cs = diff(snap, b, DEFAULTS)
    assert cs.pairs["enrollments"].added == {("c1", "s1"): ()}
    after = applied(snap, cs)
    again = diff(after, b, DEFAULTS)
    assert again.is_empty()
    assert codes(again) == ["unmatched_manual_student"]  # still reported, still not archived
    # the unadopted row is still there, untouched
    assert [m.row_id for m in after.manual_students] == [12]


def test_matcher_skips_missing_keys_and_taken_rows():
    rows = [ManualRow(1, ("A", "Lee", None, None, None, None)), ManualRow(2, (None, "Ann", "Lee", "N1", None, None))]
    m = adopt.student_matcher(rows)
    assert m.match((None, "Ann", "Lee", None, None, None)) is None  # no number, no birth date: no key at all
    assert m.match((None, "X", "Y", " n1 ", None, None)) == 2
    assert m.match((None, "X", "Y", "N1", None, None)) is None  # taken
    assert m.taken == {2}
