"""How fast the worker pool syncs small districts, and what an idle district costs the schedulers.

    .venv/bin/python bench/workers.py [--json] [--districts 40] [--students 30] [--workers 1,2,4] [--idle 2000]

1. Throughput (PostgreSQL): DISTRICTS generated districts of STUDENTS students, each with its own drop,
   none synced yet (so all are owed a run at once). N `rostersync worker` processes start; the figure is
   districts per minute between the first run's start and the last run's end (from the run records),
   and also from the moment the workers were started (process start-up and the first tick included).
2. Scheduler overhead per idle district (districts that synced a moment ago and owe nothing):
   embedded (SQLite): the reload that keeps APScheduler's jobs in step with the districts table (run every
   30 s by default), the memory of one scheduled job, and the CPU the idle scheduler burns;
   worker mode (PostgreSQL): the dispatcher's decision (read the districts and their last runs, compute
   who is due), run every tick (30 s by default).

PostgreSQL at $ROSTERSYNC_TEST_PG (default postgresql+psycopg://postgres@127.0.0.1:5432), database
rostersync_bench, one schema per round, dropped afterwards. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.sftp.drop_writer import write_oneroster_drop  # noqa: E402
from directory import migrate  # noqa: E402
from directory.db import make_engine, session_factory, transaction  # noqa: E402
from directory.models import District, SyncRun, utcnow  # noqa: E402
from sync.logs import configure_logging  # noqa: E402
from sync.schedule import EmbeddedService, SlotMemo  # noqa: E402
from sync.synthetic import generate_district  # noqa: E402
from sync.workers import _due_now  # noqa: E402

ROSTERSYNC = str(Path(sys.executable).parent / "rostersync")
PG_BASE = os.environ.get("ROSTERSYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = "rostersync_bench"


def pg_schema() -> tuple[str, callable]:
    """A fresh schema in the bench database: (URL, drop function)."""
    admin = sa.create_engine(f"{PG_BASE}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB}):
            conn.execute(sa.text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(f"{PG_BASE}/{PG_DB}")
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()

    return f"{PG_BASE}/{PG_DB}?options=-csearch_path%3D{schema}", drop


def add_districts(url: str, drops: list[Path]) -> list[str]:
    """Districts through the real command (one process: `district load` of a generated TOML file)."""
    toml = drops[0].parent / "districts.toml"
    toml.write_text("".join(f'[[district]]\nslug = "b{i:04d}"\nname = "Bench {i}"\nsource = "oneroster-csv"\n'
                            f'path = "{d}"\n\n' for i, d in enumerate(drops)))
    subprocess.run([ROSTERSYNC, "--db", url, "district", "load", str(toml)], check=True, capture_output=True)
    return [f"b{i:04d}" for i in range(len(drops))]


def finished_runs(url: str) -> list[tuple]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(SyncRun.started_at, SyncRun.finished_at, SyncRun.status)
                            .where(SyncRun.finished_at.is_not(None))).all()
    engine.dispose()
    return rows


def throughput(workers: int, drops: list[Path], folder: Path) -> dict:
    url, drop = pg_schema()
    procs = []
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        slugs = add_districts(url, drops)
        env = {**os.environ, "ROSTERSYNC_MODE": "workers"}
        t0 = time.time()
        procs = [subprocess.Popen([ROSTERSYNC, "--db", url, "worker", "--tick", "1", "--relay-every", "0"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=(folder / f"w{workers}-{i}.err").open("w"))
                 for i in range(workers)]
        deadline = time.time() + 600
        while len(rows := finished_runs(url)) < len(slugs):
            if time.time() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"workers did not finish ({len(rows)}/{len(slugs)} runs); see {folder}")
            time.sleep(0.25)
        t_end = time.time()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        drop()
    first = min(r[0] for r in rows).timestamp()
    last = max(r[1] for r in rows).timestamp()
    failed = sum(1 for r in rows if r[2] != "succeeded")
    return {"workers": workers, "districts": len(rows), "failed": failed,
            "seconds": round(last - first, 2), "per_minute": round(len(rows) / (last - first) * 60, 1),
            "seconds_from_start": round(t_end - t0, 2), "per_minute_from_start": round(len(rows) / (t_end - t0) * 60, 1)}


def seed_idle(url: str, count: int) -> None:
    """COUNT districts that synced a moment ago: nothing due, the steady state of a quiet night."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = utcnow()
    with transaction(session_factory(engine)) as s:
        s.execute(sa.insert(District), [{"slug": f"idle-{i:05d}", "name": f"Idle {i}", "source": "oneroster-csv",
                                         "source_config": {"path": "/nonexistent"}} for i in range(count)])
        ids = s.scalars(sa.select(District.id)).all()
        s.execute(sa.insert(SyncRun), [{"district_id": i, "source": "oneroster-csv", "status": "succeeded",
                                        "trigger": "schedule", "started_at": now, "finished_at": now} for i in ids])
    engine.dispose()


def embedded_overhead(count: int, folder: Path) -> dict:
    url = f"sqlite:///{folder}/idle.db"
    seed_idle(url, count)
    engine = make_engine(url)
    service = EmbeddedService(engine, relay_every=0, reload_every=3600)
    t = time.perf_counter()
    service.reload()  # the first: one APScheduler job per district, every slot computed
    first = time.perf_counter() - t
    steady = []
    for _ in range(5):
        t = time.perf_counter()
        service.reload()  # what runs every reload period when nothing changed
        steady.append(time.perf_counter() - t)
    service.scheduler.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(10)
    idle_cpu, idle_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    service.scheduler.shutdown(wait=True)
    # Memory of the jobs, measured on a second service (tracemalloc slows the timed code above ten-fold).
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    other = EmbeddedService(engine, relay_every=0, reload_every=3600)
    other.reload()
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    engine.dispose()
    reload_s = sorted(steady)[len(steady) // 2]
    return {"districts": count, "first_reload_ms": round(first * 1000, 1),
            "first_reload_us_per_district": round(first / count * 1e6, 1),
            "reload_ms": round(reload_s * 1000, 1), "reload_us_per_district": round(reload_s / count * 1e6, 1),
            "memory_kb_per_district": round(memory / count / 1024, 2),
            "idle_cpu_ms_per_minute": round(idle_cpu / idle_wall * 60 * 1000, 1)}


def dispatcher_overhead(count: int) -> dict:
    url, drop = pg_schema()
    try:
        seed_idle(url, count)
        engine = make_engine(url)
        memo = SlotMemo()  # as in a worker: warm after its first tick
        t = time.perf_counter()
        _due_now(engine, "UTC", memo)
        first = time.perf_counter() - t
        times = []
        for _ in range(7):
            t = time.perf_counter()
            due = _due_now(engine, "UTC", memo)
            times.append(time.perf_counter() - t)
        assert due == [], due
        engine.dispose()
    finally:
        drop()
    tick = sorted(times)[len(times) // 2]
    return {"districts": count, "first_tick_ms": round(first * 1000, 1), "tick_ms": round(tick * 1000, 1),
            "us_per_district": round(tick / count * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--districts", type=int, default=40)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--idle", type=int, default=2000)
    args = parser.parse_args()
    configure_logging("console", "WARNING")  # the figures, not a line per district
    folder = Path(tempfile.mkdtemp(prefix="workers-bench-"))
    try:
        drops = []
        for i in range(args.districts):
            drops.append(folder / f"drop{i:04d}")
            write_oneroster_drop(generate_district(args.students, seed=100 + i), drops[-1])
        result = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                  "small_district_students": args.students,
                  "throughput": [throughput(int(n), drops, folder) for n in args.workers.split(",")],
                  "embedded_idle": embedded_overhead(args.idle, folder),
                  "dispatcher_idle": dispatcher_overhead(args.idle),
                  "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"worker pool, {args.districts} districts of {args.students} students each, {os.cpu_count()} CPUs:")
    for t in result["throughput"]:
        print(f"  {t['workers']} worker(s): {t['per_minute']:7.1f} districts/min  ({t['districts']} runs in "
              f"{t['seconds']} s; {t['per_minute_from_start']} /min counting start-up, {t['seconds_from_start']} s)")
    e, d = result["embedded_idle"], result["dispatcher_idle"]
    print(f"embedded scheduler, {e['districts']} idle districts: reload {e['reload_ms']} ms "
          f"({e['reload_us_per_district']} us/district; every 30 s by default), first reload at start "
          f"{e['first_reload_ms']} ms ({e['first_reload_us_per_district']} us/district), "
          f"{e['memory_kb_per_district']} KB/district, idle CPU between reloads {e['idle_cpu_ms_per_minute']} ms/min")
    print(f"worker dispatcher, {d['districts']} idle districts: {d['tick_ms']} ms per tick "
          f"({d['us_per_district']} us/district; first tick of a worker {d['first_tick_ms']} ms)")


if __name__ == "__main__":
    main()
