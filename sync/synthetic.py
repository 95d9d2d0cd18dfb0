"""A deterministic synthetic district: realistic roster records from a seed, with no I/O and no clock.

Used by the demo (a few schools, hundreds of students), by tests, and by the benchmark (up to a million
students and beyond), so the builder is written for speed and memory: names, grades and birth dates are
shared string objects from built-in tables, ids are reused by reference in every record that names them,
and random draws index sequences directly instead of going through ``Random.choice``.

Shape per 100,000 students: 60 schools (smaller districts get smaller schools, at least one), about
150,000 guardians (families of 1-4 children sharing 1-2 guardians, plus a few relatives and emergency
contacts), 6,000 teachers and staff, 25,000 classrooms (six subjects per grade, sections of about 24) and
about 600,000 student enrollments (six classes each, within their school, a few with five) plus one teacher
enrollment per class (a few co-taught).

``mutate_district`` (``sync.synthetic_mutate``) and ``demo_changes`` (``sync.synthetic_demo``) derive the
next night's roster.
"""

from __future__ import annotations

import math
import random
from itertools import accumulate, chain, count, repeat

from connectors.records import (
    KINDS,
    ClassroomRecord,
    EnrollmentRecord,
    RosterBatch,
    SchoolRecord,
    StudentRecord,
    TeacherRecord,
)
from sync.synthetic_data import (
    ELEMENTARY,
    FAMILY,
    GIVEN,
    GRADES,
    HIGH,
    K12,
    MIDDLE,
    NAMESAKES,
    SECONDARY,
    SLUGS,
    birth_dates,
    gc_paused,
    grade_word,
)
from sync.synthetic_families import build_guardians
from connectors.record_build import build

SCHOOL_YEAR = 2025  # the fall the roster is for; birth dates follow from it (no clock, so runs repeat)
CLASS_SIZE = 24
TEACHERS_PER_STUDENT = 0.06
STUDENT_NUMBER_BASE = 700_000  # student numbers differ from the ids, as in a real SIS
_BUCKETS = 1 << 16  # resolution of the neighborhood -> school tables


def school_count(students: int) -> int:
    """60 per 100,000 students; small districts have small schools (300 students -> 3 schools).

    The target school size grows with the square root of the district, from 100 students up to the
    1,667 of a district of 100,000 or more.
    """
    target = min(100_000 / 60, max(100.0, 100.0 * math.sqrt(students / 300)))
    return max(1, round(students / target))


def _bands(n_schools: int) -> list[tuple]:
    """School bands in proportion to the grades they serve (6 elementary, 3 middle, 4 high).

    Every band of a district with three or more schools has at least two elementary schools, so some
    grade is always served by two schools (a student can move school, as in the demo).
    """
    if n_schools < 3:
        return [K12] * n_schools
    if n_schools == 3:
        return [ELEMENTARY, ELEMENTARY, SECONDARY]
    elementary = max(2, round(n_schools * 6 / 13))
    middle = max(1, round(n_schools * 3 / 13))
    return [ELEMENTARY] * elementary + [MIDDLE] * middle + [HIGH] * (n_schools - elementary - middle)


def generate_district(students: int, seed: int = 1, name: str = "Maple Valley", *,
                      school_year: int = SCHOOL_YEAR) -> RosterBatch:
    """A complete OneRoster-like full batch for a district of ``students`` students, the same for a seed.

    ``name`` is the district's place name; the first school of each band is named after it.
    """
    if students < 1:
        raise ValueError("a district needs at least one student")
    with gc_paused():
        return _build(students, seed, name, school_year)


def _build(n: int, seed: int, name: str, school_year: int) -> RosterBatch:
    # One generator per part, each seeded from (seed, part): changing how one part draws never shifts the
    # others, so e.g. teacher names stay put when the guardian rules are tuned.
    schools, bands, by_grade = _schools(random.Random(f"{seed}:schools"), n, name)
    rng = random.Random(f"{seed}:families")
    rnd = rng.random

    # Families of 1-4 children (mean about 1.27, so that 1.9 contacts per family give 1.5 per student).
    sizes = []
    total = 0
    while total < n:
        x = rnd()
        size = 1 if x < 0.79 else 2 if x < 0.95 else 3 if x < 0.99 else 4
        sizes.append(size)
        total += size
    sizes[-1] -= total - n
    surnames = [FAMILY[int(rnd() * len(FAMILY))] for _ in sizes]
    # A family's neighborhood decides its school in each band, so siblings in one band share a school.
    neighborhoods = [int(rnd() * _BUCKETS) for _ in sizes]

    # Students column by column (see sync.synthetic_families for why), children of a family consecutive.
    family_of = [f for f, size in enumerate(sizes) for _ in range(size)]
    ids = [f"s-{i:06d}" for i in range(1, n + 1)]
    grades = [int(rnd() * 13) for _ in range(n)]
    at = [by_grade[g][neighborhoods[f]] for g, f in zip(grades, family_of)]
    births = birth_dates(school_year)
    birth_col = [births[g][int(rnd() * 365)] for g in grades]  # 365 of the 365 or 366 days: close enough
    school_ids = [s.external_id for s in schools]
    students = build(StudentRecord, ids, [school_ids[s] for s in at],
                     [GIVEN[int(rnd() * len(GIVEN))] for _ in range(n)], [surnames[f] for f in family_of],
                     [str(i) for i in range(STUDENT_NUMBER_BASE + 1, STUDENT_NUMBER_BASE + n + 1)],
                     birth_col, [GRADES[g] for g in grades], repeat(False))
    groups: list[list[str]] = [[] for _ in range(len(schools) * 13)]  # (school, grade) -> student ids
    for sid, s, g in zip(ids, at, grades):
        groups[s * 13 + g].append(sid)
    del family_of, grades, at, birth_col

    starts = list(accumulate(sizes, initial=0))
    guardians = build_guardians(rnd, [(surname, ids[start:start + size]) for surname, start, size
                                      in zip(surnames, starts, sizes)], count(1))
    teachers, classrooms, enrollments = _staff_and_classes(random.Random(f"{seed}:classes"), bands, school_ids, groups)
    return RosterBatch(source="oneroster-csv", mode="full", schools=schools, teachers=teachers,
                       classrooms=classrooms, students=students, guardians=guardians, enrollments=enrollments,
                       complete=frozenset(KINDS))


def _schools(rng: random.Random, n: int, name: str):
    """The schools, their bands, and per grade a table from neighborhood bucket to school index."""
    bands = _bands(school_count(n))
    schools: list[SchoolRecord] = []
    weights: list[float] = []
    per_label: dict[str, int] = {}
    for i, band in enumerate(bands):
        label = band[0]
        j = per_label[label] = per_label.get(label, -1) + 1
        namesake = name if j == 0 else NAMESAKES[(j - 1) % len(NAMESAKES)]
        suffix = "" if j <= len(NAMESAKES) else f" No. {(j - 1) // len(NAMESAKES) + 1}"
        schools.append(SchoolRecord(f"sch-{i + 1:03d}", f"{namesake} {label}{suffix}", f"{101 + i:04d}"))
        weights.append(rng.uniform(0.6, 1.4))  # schools of one band differ in size
    by_grade: list[list[int]] = []
    for grade in range(13):
        serving = [i for i, band in enumerate(bands) if grade in band[1]]
        total = sum(weights[i] for i in serving)
        # Each school gets a share of the buckets in proportion to its weight (list repetition: the table
        # has 65,536 entries per grade and is built in C).
        table: list[int] = []
        for i in serving:
            table += [i] * round(weights[i] / total * _BUCKETS)
        table += [serving[-1]] * (_BUCKETS - len(table))
        by_grade.append(table[:_BUCKETS])
    return schools, bands, by_grade


def _staff_and_classes(rng: random.Random, bands: list[tuple], school_ids: list[str], groups: list[list[str]]):
    """Teachers, classrooms and enrollments, school by school, from the students in each (school, grade)."""
    rnd = rng.random
    teachers: list[TeacherRecord] = []
    classrooms: list[ClassroomRecord] = []
    enrollments: list[EnrollmentRecord] = []
    extend = enrollments.extend
    n_given, n_family = len(GIVEN), len(FAMILY)
    n_teachers = n_classes = 0
    for school, school_id in enumerate(school_ids):
        subjects = bands[school][2]
        size = sum(len(groups[school * 13 + g]) for g in range(13))
        if size == 0:
            continue
        staff = []
        for k in range(max(1, round(size * TEACHERS_PER_STUDENT))):
            n_teachers += 1
            given, family = GIVEN[int(rnd() * n_given)], FAMILY[int(rnd() * n_family)]
            schools_of = (school_id,)
            if rnd() < 0.02 and len(school_ids) > 1:  # itinerant: also on another school's staff list
                other = int(rnd() * (len(school_ids) - 1))
                schools_of += (school_ids[other + (other >= school)],)
            # About 8% are counselors, nurses ... (role "staff", no classes); a school keeps one teacher.
            role = "staff" if k > 0 and rnd() < 0.08 else "teacher"
            tid = f"t-{n_teachers:06d}"
            email = f"{SLUGS[given][:1]}{SLUGS[family]}{n_teachers}@example.net"  # never a guardian's form
            teachers.append(TeacherRecord(tid, given, family, email, schools_of, role))
            if role == "teacher":
                staff.append(tid)

        first_class = len(classrooms)
        for grade in range(13):
            kids = groups[school * 13 + grade]
            if not kids:
                continue
            sections = max(1, round(len(kids) / CLASS_SIZE))
            part_time = kids[:]
            del part_time[24::25]  # every 25th student takes five classes, not six
            for period, subject in enumerate(subjects):
                pupils = part_time if period == len(subjects) - 1 else kids
                # Interleave by period + 1 before cutting into sections, so the sections of each period mix
                # the grade differently (classmates change from class to class) and stay balanced.
                if period:
                    pupils = list(chain.from_iterable(pupils[r::period + 1] for r in range(period + 1)))
                for s in range(sections):
                    n_classes += 1
                    cid = f"c-{n_classes:06d}"
                    classrooms.append(ClassroomRecord(cid, school_id, f"{grade_word(grade)} {subject} ({s + 1})"))
                    members = pupils[s * len(pupils) // sections:(s + 1) * len(pupils) // sections]
                    extend(build(EnrollmentRecord, repeat(cid, len(members)), members, repeat("student"),
                                 repeat(None), repeat(False)))

        # Classes go to teachers in contiguous runs (a teacher takes several sections of one subject).
        taught = len(classrooms) - first_class
        for i in range(taught):
            cid = classrooms[first_class + i].external_id
            lead = i * len(staff) // taught
            enrollments.append(EnrollmentRecord(cid, staff[lead], "teacher"))
            if len(staff) > 1 and rnd() < 0.03:  # co-taught
                other = int(rnd() * (len(staff) - 1))
                enrollments.append(EnrollmentRecord(cid, staff[other + (other >= lead)], "teacher"))
    return teachers, classrooms, enrollments


# Re-exported, so callers need only this module; those modules need nothing from this one.
from sync.synthetic_demo import demo_changes  # noqa: E402
from sync.synthetic_mutate import MutationSummary, mutate_district, mutate_district_with_summary  # noqa: E402

__all__ = ["generate_district", "mutate_district", "mutate_district_with_summary", "MutationSummary",
           "demo_changes", "school_count"]
