"""`rostersync bench`: how long a sync of a large district takes, against what the machine can do at best.

One run, in one process, on the chosen database (issue 8):

    drops   a synthetic district (sync/synthetic.py) written as a OneRoster 1.1 bulk drop, and the same
            district a night later (1% of students changed, 0.5% gone, 0.5% new) as a second drop; made
            in a child process, so the generator's memory is not counted as the sync's
    floor   read every CSV and insert the rows as tuples with the driver's executemany (sync/bench_floor.py)
    full    the first full sync into an empty directory: every record created, every invitation queued,
            the report written
    noop    the same district exported again, as a real SIS does on a night with no changes: the same
            records with every row's dateLastModified stamped anew, so its bytes differ. The drop's content
            key (connectors/sftp/content_key.py) shows it holds what the last run applied: it is hashed,
            not read or compared (sync/quiet_night.py)
    noop_full  that drop once more with ``--full`` (what `rostersync resync` does): read, diffed against the
            whole directory, nothing to change. Reported as ``noop_full_s``: the cost of a quiet night when
            the shortcut cannot apply (settings or the directory changed since the last run)
    delta   the next night's drop

Each sync phase reports wall and CPU time, its own peak RSS and the rows it wrote per table. The
database is a new SQLite file in the work folder, or a schema of its own in the given PostgreSQL
database (dropped afterwards), so a benchmark never touches a real directory.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import shutil
import sqlite3
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import text, update
from sqlalchemy.engine import Engine, make_url

from directory import migrate
from directory.audit import Actor
from directory.db import make_engine, normalize_url, safe_url, session_factory, transaction
from directory.districts import create_district
from directory.errors import ConfigError
from directory.models import District
from sync.bench_floor import measure_floor
from sync.bench_probe import Phase, WriteCounter, measured
from sync.run import run_sync

SLUG = "bench"
SEED = 1
# Directory tables; everything else a run writes is its own bookkeeping (run row, lease, cursor, taken drop).
BOOKKEEPING = frozenset({"sync_runs", "sync_state", "taken_drops"})
DROPS_VERSION = "2"  # bump when the generator or the drop writer changes what a seed produces


# ------------------------------------------------------------------------------------------------ drops

def _write_drops(students: int, seed: int, folder: str, queue) -> None:
    """Child process: both nights' drops, and the district's shape."""
    from connectors.sftp.drop_writer import restamp_drop, write_oneroster_drop
    from sync.synthetic import generate_district, mutate_district

    batch = generate_district(students, seed)
    write_oneroster_drop(batch, Path(folder) / "full", "1.1")
    restamp_drop(Path(folder) / "full", Path(folder) / "again", "2026-01-02T03:04:05.000Z")
    shape = batch.counts()
    shape["guardian_links"] = sum(len(g.links) for g in batch.guardians)
    night = mutate_district(batch, seed, changed=0.01, gone=0.005, new=0.005)
    del batch
    write_oneroster_drop(night, Path(folder) / "delta", "1.1")
    queue.put(shape)


def make_drops(students: int, seed: int, folder: Path) -> dict[str, int]:
    """The two drops in ``folder`` (kept and reused when the same size and seed are asked again)."""
    stamp = folder / "drops.json"
    wanted = {"students": students, "seed": seed, "version": DROPS_VERSION}
    if stamp.is_file():
        saved = json.loads(stamp.read_text())
        if saved.get("key") == wanted:
            return saved["shape"]
    for sub in ("full", "again", "delta"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_write_drops, args=(students, seed, str(folder), queue))
    child.start()
    shape = queue.get()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"generating the drops failed (exit {child.exitcode})")
    stamp.write_text(json.dumps({"key": wanted, "shape": shape}))
    return shape


# --------------------------------------------------------------------------------------------- database

@contextmanager
def bench_database(db_url: str | None, folder: Path) -> Iterator[Engine]:
    """An empty database with the rostersync schema: a new SQLite file, or a PostgreSQL schema of its own."""
    if db_url is None:
        path = folder / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db_url = f"sqlite:///{path}"
    url = make_url(normalize_url(db_url))
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and Path(url.database).exists():
            raise ConfigError(f"{safe_url(db_url)} exists: the benchmark wants a new SQLite file, so that it "
                              "never writes into a real directory")
        engine = make_engine(str(url.render_as_string(hide_password=False)))
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"rostersync_bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url.render_as_string(hide_password=False))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # libpq's options put every connection of this engine (and Alembic) in the benchmark's own schema.
    engine = make_engine(url.update_query_dict({"options": f"-csearch_path={schema}"})
                         .render_as_string(hide_password=False))
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _database_version(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with engine.connect() as conn:
        return "PostgreSQL " + conn.scalar(text("SHOW server_version")).split()[0]


# ------------------------------------------------------------------------------------------------- runs

def _sync(engine: Engine, counter: WriteCounter, name: str, check: Callable[[dict], str | None],
          **kwargs) -> Phase:
    with counter.counting() as rows, measured(name) as phase:
        outcome = run_sync(engine, SLUG, **kwargs)
    phase.rows = dict(sorted(rows.items()))
    problem = check(outcome.report) if outcome.status == "succeeded" else \
        f"run {outcome.run_id} {outcome.status}: {outcome.report.get('errors')}"
    if problem:
        raise RuntimeError(f"the {name} sync did not do what it should: {problem}")
    return phase


def _full_created_everything(report: dict) -> str | None:
    counts = report["counts"]
    if counts["students"]["unchanged"] or not counts["students"]["created"] or not report["invitations_queued"]:
        return f"expected every student created and invitations queued, got {counts['students']}"
    return None


def _noop_changed_nothing(report: dict) -> str | None:
    if report["directory_state"] != "unchanged":
        return f"expected nothing to change, got {report['counts']}"
    return None


def _noop_was_quiet(report: dict) -> str | None:
    if not any("already applied" in note for note in report["notes"]):
        return f"expected the restamped drop to be recognised as already applied, got notes {report['notes']}"
    return _noop_changed_nothing(report)


def _delta_changed_some(report: dict) -> str | None:
    students = report["counts"]["students"]
    if not (students["created"] and students["updated"] and students["archived"]):
        return f"expected students created, updated and archived, got {students}"
    return None


def run_bench(students: int, db_url: str | None = None, *, seed: int = SEED, work_dir: Path | None = None,
              progress: Callable[[str], None] = lambda _msg: None) -> dict:
    """Run the benchmark; returns the figures (see ``BENCH_KEYS``)."""
    temporary = work_dir is None
    folder = Path(tempfile.mkdtemp(prefix="rostersync-bench-")) if temporary else Path(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        progress(f"writing the drops of a {students:,}-student district to {folder}")
        shape = make_drops(students, seed, folder)
        with bench_database(db_url, folder) as engine:
            counter = WriteCounter(engine)
            with transaction(session_factory(engine)) as s:
                create_district(s, Actor("user", "bench"), SLUG, "Benchmark USD", "oneroster-csv",
                                {"path": str(folder / "full")})
            progress("floor: reading every CSV and inserting its rows with the driver's executemany")
            floor = measure_floor(engine, folder / "full")
            progress("full: the first sync into an empty directory")
            full = _sync(engine, counter, "full", _full_created_everything)
            _point_at(engine, folder / "again")
            progress("noop: the same records exported again (new timestamps)")
            noop = _sync(engine, counter, "noop", _noop_was_quiet)
            progress("noop_full: that drop once more with --full (read and compared whole)")
            noop_full = _sync(engine, counter, "noop_full", _noop_changed_nothing, full=True)
            _point_at(engine, folder / "delta")
            progress("delta: the next night's drop (1% changed, 0.5% gone, 0.5% new)")
            delta = _sync(engine, counter, "delta", _delta_changed_some)
            database = _database_version(engine)
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
    return _figures(students, engine.dialect.name, database, shape, floor, (full, noop, delta, noop_full))


def _point_at(engine: Engine, drop: Path) -> None:
    """The district's source folder, changed in the database directly (as the bench's own step, not
    audited): a `district set` would count as a change to the district and make the next run read."""
    with transaction(session_factory(engine)) as s:
        s.execute(update(District).where(District.slug == SLUG).values(source_config={"path": str(drop)}))


# ------------------------------------------------------------------------------------------------ output

BENCH_KEYS = ("students", "db", "floor_s", "full_s", "noop_s", "delta_s", "peak_rss_mb", "full_to_floor",
              "noop_to_full", "delta_to_full")


def _directory_rows(phase: Phase) -> int:
    return sum(n for table, n in phase.rows.items() if table not in BOOKKEEPING)


def _figures(students, db, database, shape, floor, phases) -> dict:
    full, noop, delta, noop_full = phases
    return {
        "students": students, "db": db,
        "floor_s": round(floor.seconds, 2), "full_s": round(full.wall_s, 2), "noop_s": round(noop.wall_s, 2),
        "delta_s": round(delta.wall_s, 2), "peak_rss_mb": round(max(p.peak_rss_mb for p in phases)),
        "full_to_floor": round(full.wall_s / floor.seconds, 2), "noop_to_full": round(noop.wall_s / full.wall_s, 3),
        "delta_to_full": round(delta.wall_s / full.wall_s, 3),
        "noop_full_s": round(noop_full.wall_s, 2), "noop_full_to_full": round(noop_full.wall_s / full.wall_s, 3),
        "cpu_s": {"floor": round(floor.cpu_seconds, 2), **{p.name: round(p.cpu_s, 2) for p in phases}},
        "floor": {"read_s": round(floor.read_seconds, 2), "rows": floor.rows},
        "rows_written": {p.name: p.rows_written for p in phases},
        "directory_rows_written": {p.name: _directory_rows(p) for p in phases},
        "rows_by_table": {p.name: p.rows for p in phases},
        "peak_rss_mb_by_phase": {p.name: round(p.peak_rss_mb) for p in phases},
        "shape": shape,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "database": database},
    }


def render_table(r: dict) -> str:
    shape = r["shape"]
    lines = [f"rostersync bench: {r['students']:,} students ({shape['guardians']:,} guardians, "
             f"{shape['teachers']:,} teachers, {shape['classrooms']:,} classrooms, "
             f"{shape['enrollments']:,} enrollments, {shape['schools']:,} schools) on {r['machine']['database']}",
             "",
             f"{'phase':<10}{'wall s':>9}{'cpu s':>9}{'peak MB':>10}{'rows written':>15}  ratio",
             f"{'floor':<10}{r['floor_s']:>9.2f}{r['cpu_s']['floor']:>9.2f}{'':>10}{r['floor']['rows']:>15,}"
             f"  reading alone {r['floor']['read_s']:.2f} s"]
    ratio = {"full": f"full/floor {r['full_to_floor']:.2f}", "noop": f"noop/full {r['noop_to_full']:.3f}",
             "delta": f"delta/full {r['delta_to_full']:.3f}",
             "noop_full": f"noop_full/full {r['noop_full_to_full']:.3f}"}
    for name in ("full", "noop", "noop_full", "delta"):
        lines.append(f"{name:<10}{r[name + '_s']:>9.2f}{r['cpu_s'][name]:>9.2f}"
                     f"{r['peak_rss_mb_by_phase'][name]:>10,}{r['directory_rows_written'][name]:>15,}  {ratio[name]}")
    lines += ["", "rows written: directory rows (entities, memberships, invitations, audit); every run also "
              "writes its run record, lease and cursor",
              f"machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, {r['machine']['platform']}"]
    return "\n".join(lines)


def as_json(r: dict) -> str:
    return json.dumps(r, indent=2, sort_keys=True)


