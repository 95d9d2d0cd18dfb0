"""Worker mode with real `rostersync worker` processes on PostgreSQL: every district synced once per
trigger and never twice at the same time, a resync queued ahead of scheduled work, and a worker killed
with SIGKILL mid-run losing nothing."""

from __future__ import annotations

import os
import signal
import socket

import pytest
import sqlalchemy as sa

from connectors.sftp.drop_writer import write_oneroster_drop
from directory.db import make_engine
from ops_helpers import ROSTERSYNC, Process, assert_no_overlap, comparable, runs, wait_for
from sync.schedule import parse_schedule, previous_slot
from sync.synthetic import generate_district
from sync.workers import (PRIORITY_SCHEDULED, SYNC_TASK, WorkerSettings, build_app, district_lock,
                          ensure_queue_schema, queue_resync, queueing_lock)

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
              pytest.mark.skipif(not ROSTERSYNC.exists(), reason="console script not installed (pip install -e .)")]

WORKERS = {"ROSTERSYNC_MODE": "workers"}
FAST = ["worker", "--tick", "1", "--stall-timeout", "3", "--relay-every", "0"]


def add_districts(cli, tmp_path, count: int, students: int, schedule: str | None = None) -> list[str]:
    slugs = []
    for i in range(count):
        drop = tmp_path / f"drop{i % 3}"
        if not drop.exists():
            write_oneroster_drop(generate_district(students, seed=11 + i % 3), drop)
        slug = f"d{i:02d}"
        cli("district", "add", slug, "--name", slug, "--source", "oneroster-csv", "--path", drop)
        if schedule:
            cli("district", "set", slug, "schedule", schedule)
        slugs.append(slug)
    return slugs


def jobs_left(url: str) -> int:
    """Sync jobs waiting or running in the queue."""
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.scalar(sa.text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t "
                                "AND status IN ('todo', 'doing')"), {"t": SYNC_TASK})
    engine.dispose()
    return n


def stop_all(workers: list[Process]) -> None:
    for w in workers:
        if w.poll() is None:
            w.signal(signal.SIGTERM)
    try:
        for w in workers:
            assert w.wait(timeout=60) == 0, w.err.read_text()[-3000:]
    finally:
        for w in workers:
            w.kill()


def test_three_workers_sync_each_district_once_per_trigger_never_twice_at_once(cli, db_url, tmp_path):
    slugs = add_districts(cli, tmp_path, 20, 12, schedule="every 6s")
    workers = [Process(db_url, FAST, tmp_path, f"w{i}", env=WORKERS) for i in range(3)]
    try:
        def scheduled_everywhere():
            by = runs(db_url)
            return all(len([r for r in by.get(s, []) if r.status == "succeeded"]) >= 3 for s in slugs)
        wait_for(scheduled_everywhere, 90, "three scheduled runs of every district", workers)

        engine = make_engine(db_url)
        queued = [queue_resync(db_url, engine, slug, "parent reported a missing class", "sam.support")
                  for slug in slugs]
        assert all(q.job_id and not q.already_queued for q in queued)

        def resynced_everywhere():
            by = runs(db_url)
            return all(any(r.trigger == "resync" and r.status == "succeeded" for r in by.get(s, [])) for s in slugs)
        wait_for(resynced_everywhere, 60, "every resync to finish", workers)
        engine.dispose()
    finally:
        stop_all(workers)

    by = runs(db_url)
    every = parse_schedule("every 6s")
    hosts = set()
    for slug in slugs:
        district = by[slug]
        assert {r.status for r in district} == {"succeeded"}, slug
        assert_no_overlap(district)  # never two runs of one district at the same time
        scheduled = [r for r in district if r.trigger == "schedule"]
        slots = [previous_slot(every, slug, r.started) for r in scheduled]
        assert len(slots) == len(set(slots)) >= 3, f"{slug}: a slot was run twice: {slots}"  # once per trigger
        resyncs = [r for r in district if r.trigger == "resync"]
        assert len(resyncs) == 1 and resyncs[0].report["reason"] == "parent reported a missing class"
        hosts |= {r.host for r in district}
    assert {h.rsplit(":", 1)[-1] for h in hosts} == {str(w.pid) for w in workers}  # all three did work
    for w in workers:
        assert all(e["command"] in ("worker", "dispatch") for e in w.events() if e.get("request_id"))
        assert all(e.get("district") and e.get("run_id") for e in w.events() if e["event"] == "sync_started")


def test_a_resync_is_queued_ahead_of_scheduled_work_and_says_when_a_run_is_in_progress(cli, db_url, tmp_path):
    slugs = add_districts(cli, tmp_path, 5, 12)
    engine = make_engine(db_url)
    ensure_queue_schema(engine)
    app = build_app(db_url, WorkerSettings(), engine)
    with app.open():  # what the dispatcher does for five due districts
        for slug in slugs:
            app.tasks[SYNC_TASK].configure(lock=district_lock(slug), queueing_lock=queueing_lock(slug, "schedule"),
                                           priority=PRIORITY_SCHEDULED).defer(slug=slug, trigger="schedule")
    # A sync of the last district is running elsewhere (this process holds its lease).
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sync_state (district_id, cursor, lease_holder, lease_run_id) "
                             "VALUES (5, '{}', :holder, 99)"), {"holder": f"{socket.gethostname()}:{os.getpid()}:t"})
    first = queue_resync(db_url, engine, "d04", "SIS fixed a bad export", "sam.support")
    again = queue_resync(db_url, engine, "d04", "asked twice", "sam.support")
    assert (first.running_run_id, first.already_queued) == (99, False)
    assert (again.job_id, again.already_queued) == (first.job_id, True)  # never two waiting resyncs
    audit = [e for e in cli.json("audit", "d04", "--json") if e["action"] == "sync.resync_queued"]
    assert [(e["actor"], e["reason"]) for e in audit] == [("sam.support", "asked twice"),
                                                          ("sam.support", "SIS fixed a bad export")]
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sync_state WHERE district_id = 5"))
    engine.dispose()

    worker = Process(db_url, FAST, tmp_path, "w", env=WORKERS)
    try:
        wait_for(lambda: len(runs(db_url)) == 5 and jobs_left(db_url) == 0, 60, "the six jobs", [worker])
    finally:
        stop_all([worker])
    order = sorted((r for v in runs(db_url).values() for r in v), key=lambda r: r.id)
    assert (order[0].district, order[0].trigger) == ("d04", "resync")  # ahead of the five scheduled jobs
    # d04's scheduled job found its slot served by the resync that started after it: no second run.
    assert [r.trigger for r in runs(db_url)["d04"]] == ["resync"]
    assert any(e["event"] == "scheduled_run_skipped" and e["reason"] == "served" and e["district"] == "d04"
               for e in worker.events())


def test_a_worker_killed_mid_run_loses_nothing(cli, db_url, tmp_path):
    slugs = add_districts(cli, tmp_path, 6, 60)
    marker = tmp_path / "reached"
    doomed = Process(db_url, FAST, tmp_path, "doomed", env={**WORKERS, "ROSTERSYNC_FAULT_POINT": "applied",
                                                            "ROSTERSYNC_FAULT_FILE": str(marker)})
    workers: list[Process] = []
    try:
        wait_for(marker.exists, 60, "a run to reach its fault point (applied, before the commit)", [doomed])
        doomed.signal(signal.SIGKILL)  # mid-transaction, as the OOM killer or a power cut would
        doomed.wait(timeout=10)
        killed = [r for v in runs(db_url).values() for r in v if r.status == "running"]
        assert len(killed) == 1
        victim = killed[0].district
        workers = [Process(db_url, FAST, tmp_path, f"w{i}", env=WORKERS) for i in range(2)]

        def all_synced():
            by = runs(db_url)
            return all(any(r.status == "succeeded" for r in by.get(s, [])) for s in slugs)
        wait_for(all_synced, 90, "every district, the killed one too, to be synced", workers)
    finally:
        doomed.kill()
        stop_all(workers)

    by = runs(db_url)
    assert [r.status for r in by[victim]] == ["failed", "succeeded"]
    assert by[victim][0].report["errors"][0]["code"] == "interrupted"
    for slug in slugs:
        assert_no_overlap(by[slug])
        assert [r.status for r in by[slug] if r.status != "failed"] == ["succeeded"]  # one trigger, one run
    assert any(e["event"] == "stalled_job_retried" for w in workers for e in w.events())

    # Nothing was half-applied, and the retried run converged to what an uninterrupted run makes.
    done = by[victim][1]
    assert done.report["invitations_queued"] == done.report["counts"]["guardians"]["created"]
    twin = next(s for s in slugs if s != victim and int(s[1:]) % 3 == int(victim[1:]) % 3)  # same drop
    assert comparable(cli.json("directory", "export", victim, "--format", "json")) == \
        comparable(cli.json("directory", "export", twin, "--format", "json"))
    engine = make_engine(db_url)
    with engine.connect() as conn:
        left = conn.scalar(sa.text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t "
                                   "AND status IN ('doing', 'failed')"), {"t": SYNC_TASK})
        invitations = conn.scalar(sa.text("SELECT count(*) FROM invitations i JOIN districts d "
                                          "ON d.id = i.district_id WHERE d.slug = :s"), {"s": victim})
    engine.dispose()
    assert left == 0
    assert invitations == done.report["counts"]["guardians"]["created"]  # none doubled


def test_a_command_that_only_queues_holds_one_database_connection(db_url):
    """`rostersync resync` in worker mode opens the queue with one connection, not the pool's default four:
    a script queuing twenty resyncs at once must not exhaust PostgreSQL's connections (it did: "too many
    clients" at 100)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("the queue lives in PostgreSQL")
    probe = "rostersync-queue-probe"
    url = db_url + ("&" if "?" in db_url else "?") + f"application_name={probe}"
    engine = make_engine(db_url)
    try:
        app = build_app(url, WorkerSettings(), engine, connections=1)
        with app.open():
            with engine.connect() as conn:
                held = conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                                   {"a": probe})
        assert held == 1
    finally:
        engine.dispose()
