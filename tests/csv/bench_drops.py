"""Time writing and reading whole drops of a synthetic district (not collected by pytest).

    .venv/bin/python tests/csv/bench_drops.py --students 1000000

Figures are in the report of the change that added it and at the top of connectors/sftp/csv_reader.py.

Families of two siblings with two guardians each (so every guardian has two links), a teacher per 20
students, a class per 25, one class enrollment per student.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from connectors.records import (ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord,  # noqa: E402
                                RosterBatch, SchoolRecord, StudentRecord, TeacherRecord)
from connectors.sftp.clever_csv import read_clever_drop  # noqa: E402
from connectors.sftp.drop_writer import write_clever_drop, write_oneroster_drop  # noqa: E402
from connectors.sftp.oneroster_csv import read_oneroster_drop  # noqa: E402


def district(students: int) -> RosterBatch:
    b = RosterBatch(source="bench")
    schools, teachers, classes = 50, max(students // 20, 1), max(students // 25, 1)
    b.schools = [SchoolRecord(f"sch-{i}", f"School {i}", str(100 + i)) for i in range(schools)]
    b.teachers = [TeacherRecord(f"t-{i}", "Ann", "Lee", f"t{i}@example.org", (f"sch-{i % schools}",))
                  for i in range(teachers)]
    b.classrooms = [ClassroomRecord(f"c-{i}", f"sch-{i % schools}", f"Class {i}", (f"t-{i % teachers}",))
                    for i in range(classes)]
    b.students = [StudentRecord(f"s-{i}", f"sch-{(i // 2) % schools}", "Mary", f"Family{i // 2}", f"N{i}",
                                "2014-02-28", "3") for i in range(students)]
    for family in range(students // 2):
        kids = (f"s-{2 * family}", f"s-{2 * family + 1}")
        for parent, rel in ((0, "mother"), (1, "father")):
            b.guardians.append(GuardianRecord(
                f"g-{family}-{parent}", "Pat", f"Family{family}", f"p{family}-{parent}@example.org",
                f"+1555{family:07d}", "cell", tuple(GuardianLink(k, "parent", "parent") for k in kids)))
    b.enrollments = [EnrollmentRecord(f"c-{(i // 25) % classes}", f"s-{i}") for i in range(students)]
    return b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=100_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    batch = district(args.students)
    print(f"{args.students} students, {len(batch.guardians)} guardians, {len(batch.enrollments)} enrollments"
          f" (built in {time.perf_counter() - t0:.1f} s)")
    for label, write, read in [
        ("OneRoster 1.1", lambda b, d: write_oneroster_drop(b, d, "1.1"), read_oneroster_drop),
        ("OneRoster 1.2", lambda b, d: write_oneroster_drop(b, d, "1.2"), read_oneroster_drop),
        ("Clever CSV", write_clever_drop, read_clever_drop),
    ]:
        folder = Path(tempfile.mkdtemp())
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            write(batch, folder)
            t1, c1 = time.perf_counter(), time.process_time()
            got = read(folder)
            t2, c2 = time.perf_counter(), time.process_time()
            size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
            assert got.counts()["students"] == args.students and not got.problems
            # CPU time next to wall time: on a shared machine the wall clock also counts others' work
            print(f"  {label:14s} write {t1 - t0:6.1f} s (cpu {c1 - c0:5.1f})   read {t2 - t1:6.1f} s "
                  f"(cpu {c2 - c1:5.1f})   {size:6.0f} MB")
            del got
        finally:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
