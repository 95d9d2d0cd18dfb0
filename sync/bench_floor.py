"""The floor of the benchmark: the least any sync can do with a drop, on this machine and database (I/O).

Issue 8 defines it: read every CSV of the drop with the reader the product uses, and insert the same
rows, as tuples, into empty tables of the same width, with the database driver's own ``executemany``
(sqlite3 or psycopg: no ORM, no SQLAlchemy), in one transaction. Each CSV file gets a table of its own
with one TEXT column per header column; the tables have no keys or indexes, so nothing a real directory
needs (ids, lookups, uniqueness) is paid for. A sync that has to validate, compare and index can only be
slower; ``full_to_floor`` says by how much.

Reading is also timed alone (a separate pass over the files), so the report can say how the floor
splits between the CSV reader and the database.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from connectors.sftp.csv_reader import open_table, paused_gc

PREFIX = "bench_floor_"


@dataclass
class Floor:
    seconds: float  # read + insert + commit, wall
    cpu_seconds: float
    read_seconds: float  # the reading pass alone, wall
    rows: int


def _files(drop: Path) -> list[tuple[Path, list[str]]]:
    """Every data file of the drop with its header (the manifest is the drop's table of contents, not data)."""
    out = []
    for path in sorted(drop.glob("*.csv")):
        if path.name == "manifest.csv":
            continue
        with path.open(encoding="utf-8-sig", newline="") as fh:
            out.append((path, next(csv.reader(fh))))
    return out


def _rows(path: Path, header: list[str]):
    return (values for _line, values in open_table(path, header).rows)


def measure_floor(engine: Engine, drop: Path) -> Floor:
    files = _files(drop)
    with paused_gc():  # as the product's reader does
        start = time.perf_counter()
        for path, header in files:
            for _ in _rows(path, header):
                pass
        read_seconds = time.perf_counter() - start

    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    raw = engine.raw_connection()  # the pool's connection: the same pragmas / settings the sync gets
    conn = raw.driver_connection
    try:
        cur = conn.cursor()
        rows = 0
        for path, header in files:
            cur.execute(f'DROP TABLE IF EXISTS "{PREFIX}{path.stem}"')
            cur.execute(f'CREATE TABLE "{PREFIX}{path.stem}" ({", ".join(f"c{i} TEXT" for i in range(len(header)))})')
        conn.commit()

        with paused_gc():
            start, cpu = time.perf_counter(), time.process_time()
            for path, header in files:
                cur.executemany(f'INSERT INTO "{PREFIX}{path.stem}" VALUES ({", ".join([mark] * len(header))})',
                                _rows(path, header))
            conn.commit()
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu

        for path, _ in files:
            cur.execute(f'SELECT count(*) FROM "{PREFIX}{path.stem}"')
            rows += cur.fetchone()[0]
            cur.execute(f'DROP TABLE "{PREFIX}{path.stem}"')
        conn.commit()
        cur.close()
    finally:
        raw.close()
    return Floor(seconds, cpu_seconds, read_seconds, rows)
