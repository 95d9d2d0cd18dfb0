"""Measure the CSV reader against pandas on a generated OneRoster users.csv (not collected by pytest).

    .venv/bin/python tests/csv/bench_csv_reader.py --rows 100000 [--no-quoted-newlines]

Both paths do the whole job the connectors need: decode, parse, and give one ``(line, values)`` per row
where ``line`` is the physical line the row starts on (quoted newlines counted). The pandas path is
checked to give exactly the same rows before it is timed, so the figures compare equal work.
"""

from __future__ import annotations

import argparse
import collections
import csv
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pandas as pd  # noqa: E402

from connectors.sftp.csv_reader import open_table  # noqa: E402

HEADER = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
          "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password").split(",")
FEW = ("sourcedId", "role", "givenName", "familyName")


def generate(path: Path, rows: int, seed: int = 7, quoted_newlines: bool = True) -> None:
    rnd = random.Random(seed)
    given = ["Ana", "Ben", "Chloé", "Dmitri", "Eun-ji", "Fatima", "Gus", "Hana", "Ivan", "Jo"]
    family = ["Smith", "García", "O'Neil", "Nguyen", "Smith, Jr.", "Kowalski", "Zhang", "Okafor"]
    roles = ["student"] * 6 + ["parent", "guardian", "teacher"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        for i in range(rows):
            g, f = rnd.choice(given), rnd.choice(family)
            middle = "Line1\nLine2" if quoted_newlines and i % 997 == 0 else rnd.choice(["", "Lee", "Marie"])
            orgs = "org-1" if i % 5 else "org-1,org-2"
            w.writerow([f"usr-{i:07d}", "active", "2024-05-01T10:00:00Z", "true", orgs, rnd.choice(roles),
                        f"{g.lower()}.{i}", "{LDAP:%d}" % i, g, f, middle, f"ID{i}", f"u{i}@example.org",
                        f"+1555{i % 10_000_000:07d}", "", f"usr-{(i + 1):07d}", "05", ""])


def with_stdlib(path: Path, columns) -> list:
    table = open_table(path, columns)
    return list(table.rows)


def with_pandas(path: Path, columns) -> list:
    # Every column is read (usecols would lose the newlines of the other columns, and with them the lines).
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=False)
    values = [df[c].tolist() for c in columns]
    with path.open("rb") as fh:
        file_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    if file_lines == len(df) + 1:  # no quoted newline anywhere: row i is on line i + 2 (pandas at its best)
        return list(zip(range(2, len(df) + 2), zip(*values)))
    newlines = None
    for name in df.columns:
        counts = df[name].str.count("\n").to_numpy()
        newlines = counts if newlines is None else newlines + counts
    # a row starts 1 line after the previous row ended; the header is line 1
    starts = 2 + pd.Series(newlines + 1).cumsum().shift(fill_value=0).to_numpy()
    return list(zip(starts.tolist(), zip(*values)))


def best_of(fn, *args, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
        collections.deque(out, maxlen=0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-quoted-newlines", action="store_true",
                    help="a file without any (then pandas needs no newline count to know the lines)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users.csv"
        generate(path, args.rows, quoted_newlines=not args.no_quoted_newlines)
        assert with_stdlib(path, HEADER) == with_pandas(path, HEADER), "the two paths disagree"
        size = path.stat().st_size / 1e6
        kind = "no quoted newline" if args.no_quoted_newlines else "a quoted newline every 997 rows"
        print(f"{args.rows} rows, {len(HEADER)} columns, {size:.1f} MB, {kind}; best of {args.repeat}")
        for label, fn, cols in [
            ("stdlib csv, 4 columns", with_stdlib, FEW),
            ("stdlib csv, all columns", with_stdlib, HEADER),
            ("pandas read_csv only", lambda p, c: pd.read_csv(p, dtype=str, keep_default_na=False,
                                                              encoding="utf-8-sig").index, None),
            ("pandas + lines + tuples, 4 columns", with_pandas, FEW),
            ("pandas + lines + tuples, all columns", with_pandas, HEADER),
        ]:
            print(f"  {label:40s} {best_of(fn, path, cols, repeat=args.repeat):6.2f} s")


if __name__ == "__main__":
    main()
