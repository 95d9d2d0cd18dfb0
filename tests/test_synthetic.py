"""The synthetic district generator: shape, determinism, integrity, contact data, mutations, demo night."""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import phonenumbers
import pytest

from connectors.records import (
    KINDS,
    EnrollmentRecord,
    GuardianLink,
    GuardianRecord,
    RosterBatch,
    StudentRecord,
)
from sync.synthetic import (
    demo_changes,
    generate_district,
    mutate_district,
    mutate_district_with_summary,
    school_count,
)
from sync.synthetic_data import (
    _MORE_EXCHANGES,
    AREA_CODES,
    FAMILY,
    GIVEN,
    GRADES,
    phone_for,
    phones_for,
    respell,
    serial_of_phone,
    slug,
)
from connectors.record_build import build, fast

REPO = Path(__file__).resolve().parent.parent
N = 2000
EMAIL = re.compile(r"^[a-z0-9]+\.[a-z0-9]+[0-9]+@example\.(org|com|net)$")


@pytest.fixture(scope="module")
def district() -> RosterBatch:
    return generate_district(N, seed=3)


@pytest.fixture(scope="module")
def mutated(district):
    return mutate_district_with_summary(district, seed=5, changed=0.03, gone=0.02, new=0.02)


def student_enrollments(batch: RosterBatch) -> Counter:
    return Counter(e.user_id for e in batch.enrollments if e.role == "student")


def check_references(batch: RosterBatch) -> None:
    """Every id a record names exists in the batch, and students only take classes of their school."""
    schools = {s.external_id for s in batch.schools}
    teachers = {t.external_id: t for t in batch.teachers}
    classrooms = {c.external_id: c for c in batch.classrooms}
    students = {s.external_id: s for s in batch.students}
    assert len(schools) == len(batch.schools) and len(teachers) == len(batch.teachers)
    assert len(classrooms) == len(batch.classrooms) and len(students) == len(batch.students)
    assert all(s.school_id in schools for s in batch.students)
    assert all(c.school_id in schools for c in batch.classrooms)
    assert all(set(t.school_ids) <= schools and t.school_ids for t in batch.teachers)
    for e in batch.enrollments:
        room = classrooms[e.classroom_id]
        if e.role == "student":
            assert students[e.user_id].school_id == room.school_id, e
        else:
            assert e.role == "teacher" and room.school_id in teachers[e.user_id].school_ids, e
    pairs = [(e.classroom_id, e.user_id) for e in batch.enrollments]
    assert len(pairs) == len(set(pairs)), "an enrollment is listed twice"
    for g in batch.guardians:
        assert g.links, g
        assert all(link.student_id in students for link in g.links), g
    linked = {link.student_id for g in batch.guardians for link in g.links}
    assert linked == set(students), "every student has a contact"


# --- shape -------------------------------------------------------------------------------------------------

def test_school_count_scales_down_for_small_districts():
    assert [school_count(n) for n in (1, 50, 300, 100_000, 1_000_000)] == [1, 1, 3, 60, 600]
    assert 3 < school_count(N) < 20


def test_shape_ratios(district):
    c = district.counts()
    assert c["students"] == N and c["schools"] == school_count(N)
    assert 1.4 <= c["guardians"] / N <= 1.6
    assert 0.05 <= c["teachers"] / N <= 0.07
    assert 0.2 <= c["classrooms"] / N <= 0.3
    per_student = student_enrollments(district)
    assert set(per_student) == {s.external_id for s in district.students}
    assert set(per_student.values()) == {5, 6}
    assert 5.85 <= sum(per_student.values()) / N <= 6.0
    teaching = [e for e in district.enrollments if e.role == "teacher"]
    assert {e.classroom_id for e in teaching} == {c.external_id for c in district.classrooms}
    assert len(teaching) < 1.1 * c["classrooms"]
    assert district.source == "oneroster-csv" and district.mode == "full" and district.complete == frozenset(KINDS)


def test_tiny_districts():
    one = generate_district(1)
    assert one.counts()["students"] == 1 and len(one.schools) == 1 and one.guardians
    check_references(one)
    check_references(generate_district(300))
    with pytest.raises(ValueError):
        generate_district(0)


@pytest.mark.slow
def test_shape_at_benchmark_scale():
    c = generate_district(100_000).counts()
    assert c["schools"] == 60
    for kind, expected in (("guardians", 150_000), ("teachers", 6_000), ("classrooms", 25_000),
                           ("enrollments", 600_000 + 25_000)):
        assert abs(c[kind] - expected) / expected < 0.03, (kind, c[kind])


# --- determinism ---------------------------------------------------------------------------------------------

def test_same_seed_same_district(district):
    again = generate_district(N, seed=3)
    for kind in KINDS:
        assert getattr(again, kind) == getattr(district, kind), kind
    other = generate_district(N, seed=4)
    assert other.students != district.students and other.guardians != district.guardians


def test_mutations_are_deterministic(district, mutated):
    batch, summary = mutate_district_with_summary(district, seed=5, changed=0.03, gone=0.02, new=0.02)
    assert summary == mutated[1]
    assert all(getattr(batch, kind) == getattr(mutated[0], kind) for kind in KINDS)
    assert mutate_district(district, seed=6, changed=0.03, gone=0.02, new=0.02).students != batch.students
    small = generate_district(300)
    assert demo_changes(small) == demo_changes(small)


def test_same_output_in_every_process():
    # String hashing is randomized per process; nothing may depend on set or hash order.
    script = (
        "import hashlib; from sync.synthetic import generate_district, mutate_district, demo_changes\n"
        "from connectors.records import KINDS\n"
        "b = generate_district(400, seed=11)\n"
        "m = mutate_district(b, seed=12, changed=0.05, gone=0.05, new=0.05)\n"
        "d, story = demo_changes(m)\n"
        "lists = [getattr(x, kind) for x in (b, m, d) for kind in KINDS]  # not complete: a frozenset's repr\n"
        "print(hashlib.sha256(repr((lists, story)).encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
        for seed in (1, 2)
    }
    assert len(digests) == 1


# --- records -------------------------------------------------------------------------------------------------

def test_ids_and_student_fields(district):
    assert all(re.fullmatch(r"sch-\d{3}", s.external_id) for s in district.schools)
    assert all(re.fullmatch(r"t-\d{6}", t.external_id) for t in district.teachers)
    assert all(re.fullmatch(r"c-\d{6}", c.external_id) for c in district.classrooms)
    assert all(re.fullmatch(r"s-\d{6}", s.external_id) for s in district.students)
    assert all(g.external_id is None or re.fullmatch(r"g-\d{6}", g.external_id) for g in district.guardians)
    numbers = [s.student_number for s in district.students]
    assert len(set(numbers)) == N and all(n.isdigit() for n in numbers)
    assert {s.grade for s in district.students} == set(GRADES)
    for s in district.students:
        born = date.fromisoformat(s.birth_date)
        grade = GRADES.index(s.grade)
        # Fall 2025: a kindergartner turned 5 by September 1 and was not yet 6.
        assert date(2019 - grade, 9, 2) <= born <= date(2020 - grade, 9, 1), s
    roles = Counter(t.role for t in district.teachers)
    assert 0.02 < roles["staff"] / len(district.teachers) < 0.15
    assert all(re.fullmatch(r"[a-z][a-z0-9]+[0-9]+@example\.net", t.email) for t in district.teachers)


def test_names_cover_non_ascii_and_apostrophes(district):
    for name in ("José", "Zoë"):
        assert name in GIVEN
    for name in ("Nguyễn", "O'Brien"):
        assert name in FAMILY
    names = {s.given_name for s in district.students} | {s.family_name for s in district.students}
    assert any(not n.isascii() for n in names) and any("'" in n for n in names)
    assert slug("José") == "jose" and slug("O'Brien") == "obrien" and slug("Søren") == "soren"
    assert slug("Nguyễn") == "nguyen"
    assert all(slug(n) and slug(n).isascii() for n in GIVEN + FAMILY)


def test_siblings_share_guardians(district):
    students = {s.external_id: s for s in district.students}
    shared = [g for g in district.guardians if len(g.links) > 1]
    assert len(shared) > 0.1 * len(district.guardians)
    same_name = [g for g in shared if len({students[link.student_id].family_name for link in g.links}) == 1]
    assert len(same_name) > 0.9 * len(shared)
    guardian_same = [g for g in shared if g.family_name == students[g.links[0].student_id].family_name]
    assert 0.6 * len(shared) < len(guardian_same) < len(shared)  # mostly, not always
    # Siblings in one band go to one school (a family's neighborhood decides it).
    by_school = Counter(len({students[link.student_id].school_id for link in g.links}) for g in shared)
    assert by_school[1] > 0


def test_every_reference_resolves(district, mutated):
    check_references(district)
    check_references(mutated[0])


def test_guardian_contact_mix(district):
    gs = district.guardians
    both = sum(1 for g in gs if g.email and g.phone)
    email_only = sum(1 for g in gs if g.email and not g.phone)
    phone_only = sum(1 for g in gs if g.phone and not g.email)
    neither = sum(1 for g in gs if not g.email and not g.phone)
    assert 0.75 < both / len(gs) < 0.85
    assert 0.05 < email_only / len(gs) < 0.13 and 0.05 < phone_only / len(gs) < 0.13
    assert 0 < neither / len(gs) < 0.04
    no_id = [g for g in gs if g.external_id is None]
    assert 0.06 < len(no_id) / len(gs) < 0.14
    assert all(g.email or g.phone for g in no_id), "a contact without id must be keyable by email or phone"
    assert {link.relationship for g in gs for link in g.links} == {"mother", "father", "guardian", "grandparent"}
    types = Counter(link.contact_type for g in gs for link in g.links)
    assert set(types) == {"parent", "guardian", "relative", "emergency"}
    assert types["emergency"] < 0.06 * sum(types.values())
    assert all((g.phone is None) == (g.phone_type is None) for g in gs)
    emails = [g.email for g in gs if g.email]
    assert len(set(emails)) == len(emails)
    assert all(EMAIL.match(e) for e in emails), [e for e in emails if not EMAIL.match(e)][:3]


def test_phones_are_valid_unique_us_numbers(district):
    phones = [g.phone for g in district.guardians if g.phone]
    assert len(set(phones)) == len(phones)
    for raw in phones:
        assert re.fullmatch(r"\(\d{3}\) 555-\d{4}", raw), raw
        number = phonenumbers.parse(raw, "US")
        assert phonenumbers.is_valid_number(number), raw
        assert phonenumbers.region_code_for_number(number) == "US"
        assert re.fullmatch(r"\+1\d{10}", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    lines = {raw[-4:] for raw in phones}
    assert len(lines) > len(phones) / 2, "line numbers vary, not only 555-01xx"


def test_phone_numbering_is_one_to_one_and_valid_everywhere():
    # Every area code in the list, at both ends of the line range; serials far beyond one million.
    for area in AREA_CODES:
        for line in ("0000", "9999"):
            assert phonenumbers.is_valid_number(phonenumbers.parse(f"({area}) 555-{line}", "US")), area
    for exchange in _MORE_EXCHANGES:  # used beyond 3.2 million contacts
        assert phonenumbers.is_valid_number(phonenumbers.parse(f"(989) {exchange}-5309", "US")), exchange
    serials = list(range(0, 5000)) + list(range(3_209_000, 3_211_000)) + [10**7, 5 * 10**7]
    made = [phone_for(s) for s in serials]
    assert phones_for(serials) == made and phones_for(serials[:5000]) == made[:5000]
    assert len(set(made)) == len(serials)
    assert [serial_of_phone(p) for p in made] == serials
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p, "US")) for p in made[-2005:])
    assert serial_of_phone("(201) 555-01") is None and serial_of_phone("+12015550123") is None


def test_records_are_genuine_frozen_records(district):
    from sync.changes import Holder, Row

    for cls in (StudentRecord, GuardianLink, GuardianRecord, EnrollmentRecord, Row, Holder):
        assert fast(cls), f"fast construction disabled for {cls.__name__} (records.py changed?)"
    s, g, e = district.students[0], district.guardians[0], district.enrollments[0]
    assert type(s) is StudentRecord and type(g) is GuardianRecord and type(e) is EnrollmentRecord
    assert type(g.links[0]) is GuardianLink
    assert s == StudentRecord(*(getattr(s, f.name) for f in dataclasses.fields(s)))
    assert hash(e) == hash(EnrollmentRecord(e.classroom_id, e.user_id, e.role, e.external_id, e.deleted))
    assert pickle.loads(pickle.dumps(g)) == g
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.grade = "3"  # type: ignore[misc]
    assert build(EnrollmentRecord, ["c"], ["s"], ["student"], [None], [False]) == [EnrollmentRecord("c", "s")]


# --- mutate_district -----------------------------------------------------------------------------------------

def test_mutate_fractions(district, mutated):
    batch, summary = mutated
    before = {s.external_id: s for s in district.students}
    after = {s.external_id: s for s in batch.students}
    gone = set(before) - set(after)
    new = set(after) - set(before)
    changed = {sid for sid in set(before) & set(after) if before[sid] != after[sid]}
    assert len(gone) == round(N * 0.02) and len(new) == round(N * 0.02) and len(changed) == round(N * 0.03)
    assert gone == set(summary.gone) and new == set(summary.new) and changed == set(summary.changed)
    for sid in changed:  # exactly one kind of change each
        b, a = before[sid], after[sid]
        diff = {f.name for f in dataclasses.fields(b) if getattr(b, f.name) != getattr(a, f.name)}
        kind = "moved" if sid in summary.moved else "regraded" if sid in summary.regraded else "renamed"
        assert diff == {"moved": {"school_id"}, "regraded": {"grade"}}.get(kind, diff), (sid, diff)
        if kind == "renamed":
            assert diff in ({"given_name"}, {"family_name"}), diff
    assert min(len(summary.renamed), len(summary.regraded), len(summary.moved)) > 0
    # Schedules: the changed and new take a full day of classes; nobody else's classes changed.
    old, now = student_enrollments(district), student_enrollments(batch)
    assert all(now[sid] in (5, 6) for sid in new | set(summary.moved) | set(summary.regraded))
    assert not any(sid in now for sid in gone)
    untouched = set(before) - gone - set(summary.moved) - set(summary.regraded)
    assert all(now[sid] == old[sid] for sid in untouched)


def test_mutate_guardians(district, mutated):
    batch, summary = mutated
    old_ids = {g.external_id for g in district.guardians if g.external_id}
    new_ids = {g.external_id for g in batch.guardians if g.external_id}
    gone = set(summary.gone)
    orphaned = {g.external_id for g in district.guardians if g.external_id
                and all(link.student_id in gone for link in g.links)}
    assert orphaned and old_ids - new_ids == orphaned
    assert summary.dropped_guardians >= len(orphaned)
    arrivals = set(summary.new)
    joined = [g for g in batch.guardians if g.external_id in old_ids and any(l.student_id in arrivals for l in g.links)]
    assert joined and summary.joined_families > 0
    added = [g for g in batch.guardians if g.external_id and g.external_id not in old_ids]
    assert len(added) > 0 and summary.new_guardians >= len(added)
    emails = [g.email for g in batch.guardians if g.email]
    phones = [g.phone for g in batch.guardians if g.phone]
    assert len(set(emails)) == len(emails) and len(set(phones)) == len(phones)
    assert len(new_ids) == len([g for g in batch.guardians if g.external_id])


def test_mutate_leaves_input_alone_and_shares_unchanged_records(district):
    snapshot = {kind: list(getattr(district, kind)) for kind in KINDS}
    batch = mutate_district(district, seed=9)
    assert all(getattr(district, kind) == snapshot[kind] for kind in KINDS)
    kept = {id(e) for e in district.enrollments}
    assert sum(id(e) in kept for e in batch.enrollments) > 0.9 * len(batch.enrollments)  # shared, not copied
    counts = batch.counts()
    assert counts["students"] == N - round(N * 0.005) + round(N * 0.005)
    assert mutate_district(district, seed=9, changed=0, gone=0, new=0).students == district.students
    with pytest.raises(ValueError):
        mutate_district(district, seed=1, changed=0.8, gone=0.5)


def test_chained_mutations_never_reuse_ids_or_contacts(district):
    first = mutate_district(district, seed=1, changed=0.02, gone=0.05, new=0.05)
    after_demo, _ = demo_changes(first)
    second, summary = mutate_district_with_summary(after_demo, seed=2, changed=0.02, gone=0.05, new=0.05)
    check_references(second)
    seen_students = {s.external_id for b in (district, first) for s in b.students}
    assert not seen_students & set(summary.new)
    seen_guardians = {g.external_id for b in (district, first, after_demo) for g in b.guardians if g.external_id}
    fresh = [g for g in second.guardians if g.external_id and g.external_id not in seen_guardians]
    assert fresh
    seen_phones = {g.phone for b in (district, first, after_demo) for g in b.guardians if g.phone}
    assert not seen_phones & {g.phone for g in fresh if g.phone}
    for values in ([s.student_number for s in second.students], [g.email for g in second.guardians if g.email],
                   [g.phone for g in second.guardians if g.phone]):
        assert len(values) == len(set(values))


def test_respell_always_changes_a_name():
    assert respell("Sara") == "Sarah" and respell("O'Brien") == "OBrien"
    assert all(respell(n) != n for n in GIVEN + FAMILY + ("Lee", "Ann", "Bo", "X"))


# --- demo_changes ----------------------------------------------------------------------------------------------

def test_demo_changes_does_exactly_three_things():
    batch = generate_district(300)
    after, story = demo_changes(batch)
    assert len(story) == 3
    for kind in ("schools", "teachers", "classrooms"):
        assert getattr(after, kind) == getattr(batch, kind)

    before_s = {s.external_id: s for s in batch.students}
    after_s = {s.external_id: s for s in after.students}
    (leaver,) = set(before_s) - set(after_s)
    assert set(after_s) <= set(before_s)
    (mover,) = [sid for sid in after_s if after_s[sid] != before_s[sid]]
    assert dataclasses.replace(before_s[mover], school_id=after_s[mover].school_id) == after_s[mover]
    assert after_s[mover].school_id != before_s[mover].school_id

    changed_rooms = Counter(e.user_id for e in set(batch.enrollments) ^ set(after.enrollments))
    assert set(changed_rooms) == {leaver, mover}
    rooms = {c.external_id: c.school_id for c in after.classrooms}
    mine = [e for e in after.enrollments if e.user_id == mover]
    assert len(mine) in (5, 6) and {rooms[e.classroom_id] for e in mine} == {after_s[mover].school_id}

    assert len(after.guardians) == len(batch.guardians)  # the leaver's family keeps its contacts
    phone_changed = []
    for old, new in zip(batch.guardians, after.guardians):
        assert old.external_id == new.external_id
        if old.phone != new.phone:
            phone_changed.append(new)
            assert dataclasses.replace(old, phone=new.phone) == new
        else:
            assert new.links == tuple(link for link in old.links if link.student_id != leaver)
    (guardian,) = phone_changed
    assert phonenumbers.is_valid_number(phonenumbers.parse(guardian.phone, "US"))
    assert guardian.phone not in {g.phone for g in batch.guardians}

    names = [f"{s.given_name} {s.family_name}" for s in (before_s[leaver], before_s[mover])]
    assert names[0] in story[0] and "left" in story[0]
    assert names[1] in story[1] and "moved" in story[1]
    assert f"{guardian.given_name} {guardian.family_name}" in story[2] and "phone" in story[2]
    assert not any("@" in line or re.search(r"\d{4}", line) for line in story), "no contact details"


def test_demo_changes_needs_a_second_school():
    with pytest.raises(ValueError):
        demo_changes(generate_district(50))  # one school: nowhere to move to
