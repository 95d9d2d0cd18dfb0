"""Worker mode: the same runs on procrastinate, a job queue kept in the service's own PostgreSQL.

`rostersync worker` processes, on any number of machines, take jobs from the queue:

    rostersync.sync_district   one run of one district (run_sync, as everywhere). Deferred with
                               lock "rostersync:district:SLUG": procrastinate starts no job while another
                               job with the same lock is ``doing``, so at most one run per district
                               executes anywhere; and a queueing lock per district and kind (schedule,
                               resync): at most one such job *waits*, so a slow district never piles up.
    rostersync.dispatch        periodic (every tick): defers a job for each district owing a run
                               (sync/schedule.py decides, from the same slots as `serve` and `status`).
                               Procrastinate defers a periodic job once per tick across all workers.
    rostersync.retry_stalled   periodic: a job whose worker stopped sending heartbeats for the stall
                               timeout (killed, machine gone) goes back to ``todo``; its rerun takes over
                               the dead run's lease (sync/lease.py) and converges.
    rostersync.relay           periodic: the messaging relay, as in `serve`.

A resync is queued with a higher priority, so it runs before scheduled work (procrastinate fetches by
priority; with one district's lock it goes first among that district's waiting jobs).
The lease (sync/lease.py) stays underneath: a manual `rostersync sync` and a worker never overlap either.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.schema import SchemaManager
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from directory import audit
from directory.audit import Actor
from directory.db import normalize_url, session_factory, transaction
from directory.districts import get_district
from directory.errors import ConfigError, DatabaseUnavailable, InvalidInput
from directory.models import utcnow
from sync import lease
from sync.logs import command_context
from sync.run import RunInProgress, run_sync
from sync.schedule import SlotMemo, due_districts, relay_once, run_scheduled
from sync.status import read_timings

log = structlog.get_logger("rostersync.workers")

SYNC_TASK, DISPATCH_TASK = "rostersync.sync_district", "rostersync.dispatch"
STALLED_TASK, RELAY_TASK = "rostersync.retry_stalled", "rostersync.relay"
PRIORITY_SCHEDULED, PRIORITY_RESYNC, PRIORITY_CONTROL = 0, 100, 200
_SCHEMA_LOCK_KEY = 0x726F7374657273  # pg_advisory_xact_lock key: workers starting together create the queue once


def district_lock(slug: str) -> str:
    return f"rostersync:district:{slug}"


def queueing_lock(slug: str, kind: str) -> str:
    return f"rostersync:{kind}:{slug}"


def conninfo(url: str) -> str:
    """The libpq URL procrastinate's psycopg pool connects with (same server, database and options)."""
    return make_url(normalize_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def tick_cron(seconds: int) -> str:
    """A procrastinate cron (six fields: seconds last) for a period that divides a minute or an hour."""
    if 1 <= seconds < 60 and 60 % seconds == 0:
        return f"* * * * * */{seconds}"
    if seconds % 60 == 0 and 60 % (seconds // 60) == 0:
        return f"*/{seconds // 60} * * * *"
    raise ConfigError(f"a period of {seconds}s does not divide a minute or an hour (use 1-30s, 60s, 120s, ...)")


@dataclass(frozen=True)
class WorkerSettings:
    tick: int = 30  # seconds between dispatcher (and stalled-job) runs
    stall_timeout: float = 60.0  # seconds without heartbeat before a worker's jobs are retried
    relay_every: int = 60  # seconds between relay runs; 0: no relay
    tz: str = "UTC"


def ensure_queue_schema(engine: Engine) -> None:
    """Create procrastinate's tables and functions in this database (this search_path) if missing."""
    schema_sql = SchemaManager.get_schema()
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        if conn.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is None:
            # Through psycopg directly, without parameters: the script's "%" are not placeholders.
            with conn.connection.driver_connection.cursor() as cursor:
                cursor.execute(schema_sql)
            log.info("queue_schema_created")


def _due_now(engine: Engine, tz: str, memo: SlotMemo | None = None) -> list[tuple[str, datetime]]:
    with transaction(session_factory(engine)) as s:
        timings = read_timings(s)
    return due_districts(timings, utcnow(), tz, memo)


def run_resync(engine: Engine, slug: str, reason: str | None, requested_by: str | None):
    """A queued resync, when a worker takes it: skipped if the district was paused meanwhile."""
    with transaction(session_factory(engine)) as s:
        if get_district(s, slug).paused:
            log.info("resync_skipped", reason="paused")
            return None
    return run_sync(engine, slug, full=True, trigger="resync", requested_by=requested_by, reason=reason)


def build_app(url: str, settings: WorkerSettings, engine: Engine, connections: int | None = None) -> procrastinate.App:
    """The procrastinate app with rostersync's tasks; the same for workers and for processes that defer.

    ``connections`` caps the app's connection pool: a command that only queues a job needs one, where the
    pool's default opens four (twenty resyncs queued at once by a script would take 80 of PostgreSQL's
    default 100 connections).
    """
    pool = {"min_size": connections, "max_size": connections} if connections else {}
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(url), **pool))
    # RunInProgress: a manual sync (or a run whose process died on another machine, until its lease
    # expires) holds the district; retry for longer than the lease's two hours. DatabaseUnavailable: a
    # failover or restart of PostgreSQL.
    memo = SlotMemo()  # the dispatcher's, for this process's lifetime
    retry = procrastinate.RetryStrategy(max_attempts=20, linear_wait=60,
                                        retry_exceptions={RunInProgress, DatabaseUnavailable})

    @app.task(name=SYNC_TASK, queue="sync", pass_context=True, retry=retry)
    def sync_district(context, slug: str, trigger: str = "schedule", slot: str | None = None,
                      reason: str | None = None, requested_by: str | None = None):
        with command_context("worker", district=slug):
            structlog.contextvars.bind_contextvars(job_id=context.job.id)
            if trigger == "resync":
                outcome = run_resync(engine, slug, reason, requested_by)
            else:
                outcome = run_scheduled(engine, slug, slot=datetime.fromisoformat(slot) if slot else None,
                                        tz=settings.tz)
            return None if outcome is None else {"run_id": outcome.run_id, "status": outcome.status}

    @app.periodic(cron=tick_cron(settings.tick), periodic_id="dispatch")
    @app.task(name=DISPATCH_TASK, queue="control", queueing_lock=DISPATCH_TASK, priority=PRIORITY_CONTROL)
    async def dispatch(timestamp: int):
        with command_context("dispatch"):
            due = await asyncio.to_thread(_due_now, engine, settings.tz, memo)
            if not due:
                return 0
            # One query instead of one refused insert per waiting district on every tick.
            waiting = {row["name"] for row in await app.job_manager.list_locks_async(task=SYNC_TASK, status="todo")}
            deferred = 0
            for slug, slot in due:
                if district_lock(slug) in waiting:
                    continue  # a waiting job (scheduled, resync, or a retry) will serve this slot
                try:
                    await sync_district.configure(
                        lock=district_lock(slug), queueing_lock=queueing_lock(slug, "schedule"),
                        priority=PRIORITY_SCHEDULED).defer_async(slug=slug, trigger="schedule", slot=slot.isoformat())
                    deferred += 1
                except AlreadyEnqueued:
                    pass
            log.info("districts_dispatched", due=len(due), deferred=deferred)
            return deferred

    @app.periodic(cron=tick_cron(settings.tick), periodic_id="stalled")
    @app.task(name=STALLED_TASK, queue="control", queueing_lock=STALLED_TASK, priority=PRIORITY_CONTROL)
    async def retry_stalled(timestamp: int):
        stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.stall_timeout)
        for job in stalled:
            log.warning("stalled_job_retried", job_id=job.id, task=job.task_name, lock=job.lock)
            await app.job_manager.retry_job(job)
        return len(stalled)

    if settings.relay_every:
        @app.periodic(cron=tick_cron(settings.relay_every), periodic_id="relay")
        @app.task(name=RELAY_TASK, queue="control", queueing_lock=RELAY_TASK, priority=PRIORITY_CONTROL)
        def relay(timestamp: int):
            relay_once(engine)

    return app


def run_worker(url: str, engine: Engine, settings: WorkerSettings, *, concurrency: int = 1,
               name: str | None = None) -> None:
    """Work until SIGTERM/SIGINT (procrastinate then lets running jobs finish; a second signal kills)."""
    ensure_queue_schema(engine)
    app = build_app(url, settings, engine)
    app.run_worker(name=name, concurrency=concurrency, delete_jobs="successful",
                   update_heartbeat_interval=max(0.5, settings.stall_timeout / 4),
                   stalled_worker_timeout=settings.stall_timeout, install_signal_handlers=True)


@dataclass
class QueuedResync:
    job_id: int | None
    already_queued: bool
    running_run_id: int | None
    running_on: str | None


def queue_resync(url: str, engine: Engine, slug: str, reason: str, requested_by: str) -> QueuedResync:
    """Queue a full resync ahead of scheduled work, audited with who and why."""
    with transaction(session_factory(engine)) as s:
        district = get_district(s, slug)
        if district.paused:
            raise InvalidInput(f"{slug} is paused; `rostersync resume {slug} --reason ...` first")
        busy = lease.current(s, district.id)
        district_id = district.id
    ensure_queue_schema(engine)
    app = build_app(url, WorkerSettings(), engine, connections=1)
    with app.open():
        task = app.tasks[SYNC_TASK]
        try:
            job_id = task.configure(lock=district_lock(slug), queueing_lock=queueing_lock(slug, "resync"),
                                    priority=PRIORITY_RESYNC).defer(slug=slug, trigger="resync", reason=reason,
                                                                     requested_by=requested_by)
            already = False
        except AlreadyEnqueued:
            waiting = list(app.job_manager.list_jobs(queueing_lock=queueing_lock(slug, "resync"), status="todo"))
            job_id, already = (waiting[0].id if waiting else None), True
    with transaction(session_factory(engine)) as s:
        audit.record(s, Actor("support", requested_by, reason=reason), "sync.resync_queued", "district",
                     district_id, district_id, after={"job_id": job_id, "already_queued": already})
    return QueuedResync(job_id, already, busy.run_id if busy else None,
                        busy.holder.rsplit(":", 1)[0] if busy else None)


def queued_counts(url: str, engine: Engine) -> dict[str, int]:
    """Jobs waiting per district (for `rostersync status` in worker mode); none before any worker ran."""
    with engine.connect() as conn:
        if conn.scalar(text("SELECT to_regclass('procrastinate_jobs')")) is None:
            return {}
    app = build_app(url, WorkerSettings(), engine, connections=1)
    prefix = district_lock("")
    with app.open():
        return {row["name"][len(prefix):]: row["todo"] for row in app.job_manager.list_locks(task=SYNC_TASK)
                if row["name"].startswith(prefix) and row["todo"]}
