"""CLI: running the service (serve, worker), its health (status), and support's controls (pause, resume).

The mode follows the configuration: ROSTERSYNC_MODE=embedded (the default: `rostersync serve`, SQLite or
PostgreSQL) or workers (`rostersync worker` processes on PostgreSQL). `resync` lives in cli_sync.py and
calls `resync_by_mode` here first: in worker mode it queues instead of running in the terminal.
"""

from __future__ import annotations

import os
import socket

import click
from sqlalchemy.engine import make_url

from directory import audit
from directory.audit import Actor
from directory.districts import get_district
from directory.db import normalize_url, safe_url
from directory.errors import ConfigError, InvalidInput
from directory.models import utcnow
from sync import lease
from sync.cli_support import app_of, emit, json_option
from sync.logs import bind_district
from sync.schedule import describe, serve, service_timezone
from sync.status import district_status, read_timings, render_table


MODE_ENV = "ROSTERSYNC_MODE"
MODES = ("embedded", "workers")


def mode_of(url: str, env: dict | None = None) -> str:
    """``embedded`` (the default) or ``workers``, from $ROSTERSYNC_MODE; workers need PostgreSQL.

    Explicit rather than guessed from the URL: a PostgreSQL database without workers running would
    leave queued resyncs waiting forever, so worker mode is something an operator switches on.
    """
    value = ((os.environ if env is None else env).get(MODE_ENV) or "embedded").strip().lower()
    if value not in MODES:
        raise ConfigError(f"{MODE_ENV}={value!r}: expected embedded or workers")
    if value == "workers" and make_url(normalize_url(url)).get_backend_name() != "postgresql":
        raise ConfigError(f"{MODE_ENV}=workers needs a PostgreSQL database (the job queue lives there); "
                          f"{safe_url(url)} is not one")
    return value


def _timezone() -> str:
    try:
        return service_timezone()
    except ValueError as exc:
        raise ConfigError(f"ROSTERSYNC_TIMEZONE: {exc}") from None


@click.command("serve")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Districts synced at the same time (threads).")
@click.option("--reload-every", type=click.FloatRange(0.2), default=30.0, show_default=True, metavar="SECONDS",
              help="How often districts are re-read (new districts, changed schedules, pauses).")
@click.option("--relay-every", type=click.FloatRange(0), default=60.0, show_default=True, metavar="SECONDS",
              help="How often the messaging relay delivers queued messages; 0 turns it off.")
@click.pass_context
def serve_command(ctx, concurrency, reload_every, relay_every) -> None:
    """Run the scheduler in the foreground (embedded mode): each district syncs on its schedule.

    Schedules: `rostersync district set SLUG schedule VALUE` (see `rostersync status`). SIGTERM or
    Ctrl-C stops it after the running syncs commit or roll back; a second signal stops at once.
    """
    app = app_of(ctx)
    if mode_of(app.url) == "workers":
        raise ConfigError("ROSTERSYNC_MODE=workers: run `rostersync worker` processes instead of serve")
    from sync.web.server import start_from_env

    web = start_from_env(app.engine(), app.url)  # None unless ROSTERSYNC_WEB_LISTEN=HOST:PORT
    if web:
        click.echo(f"web app on {web.url}")
    try:
        code = serve(app.engine(), echo=click.echo, concurrency=concurrency, reload_every=reload_every,
                     relay_every=relay_every, tz=_timezone())
    finally:
        if web:
            web.stop()
    ctx.exit(code)


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Jobs this process runs at the same time (threads).")
@click.option("--name", help="The worker's name in logs [default: HOST:PID].")
@click.option("--tick", type=click.IntRange(1), default=30, show_default=True, metavar="SECONDS",
              help="How often due districts are dispatched and stalled jobs retried (divides a minute or an hour).")
@click.option("--stall-timeout", type=click.FloatRange(1), default=60.0, show_default=True, metavar="SECONDS",
              help="A worker silent (no heartbeat) this long is taken for dead and its jobs are retried.")
@click.option("--relay-every", type=click.IntRange(0), default=60, show_default=True, metavar="SECONDS",
              help="How often the messaging relay runs; 0 turns it off.")
@click.pass_context
def worker_command(ctx, concurrency, name, tick, stall_timeout, relay_every) -> None:
    """Take sync jobs from the queue in PostgreSQL (worker mode: ROSTERSYNC_MODE=workers).

    Start as many as needed, on any machines sharing the database. SIGTERM or Ctrl-C stops after the
    running jobs finish.
    """
    app = app_of(ctx)
    if mode_of(app.url) != "workers":
        raise ConfigError("`rostersync worker` needs ROSTERSYNC_MODE=workers and a PostgreSQL database; "
                          "on one machine, `rostersync serve` runs the schedule")
    from sync.workers import WorkerSettings, run_worker, tick_cron  # procrastinate: only when needed

    tick_cron(tick)
    if relay_every:
        tick_cron(relay_every)
    settings = WorkerSettings(tick=tick, stall_timeout=stall_timeout, relay_every=relay_every, tz=_timezone())
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    click.echo(f"worker {name} started (concurrency {concurrency}); SIGTERM or Ctrl-C stops")
    run_worker(app.url, app.engine(), settings, concurrency=concurrency, name=name)
    click.echo(f"worker {name} stopped")


@click.command("status")
@click.argument("slugs", nargs=-1)
@json_option
@click.pass_context
def status_command(ctx, slugs, as_json) -> None:
    """Per district: the last run and its outcome, the next run, and whether a run is in progress.

    JSON keys (stable): district, paused, schedule, last_run {run_id, status, started_at, finished_at},
    next_run, in_progress; also state, queued (worker mode: jobs waiting).
    """
    app = app_of(ctx)
    mode, tz, now = mode_of(app.url), _timezone(), utcnow()
    engine = app.engine()
    queued = None
    if mode == "workers":
        from sync.workers import queued_counts

        queued = queued_counts(app.url, engine)
    with app.session() as s:
        for slug in slugs:
            get_district(s, slug)  # an unknown slug is an error, not an empty table
        rows = district_status(s, now, lambda t: describe(t, now, tz), slugs or None, queued)
    header = f"mode {mode}, time zone {tz}, now {now:%Y-%m-%d %H:%M:%S} UTC"
    emit(as_json, rows, render_table(rows, now, header))


def _set_paused(ctx, slug: str, paused: bool, reason: str, as_json: bool) -> None:
    if not reason.strip():
        raise InvalidInput("a reason is required (it goes to the audit log)")
    app = app_of(ctx)
    bind_district(slug)
    verb = "paused" if paused else "resumed"
    with app.session() as s:
        district = get_district(s, slug)
        changed = district.paused != paused
        if changed:
            district.paused = paused
            audit.record(s, Actor("support", app.actor_name, reason=reason.strip()),
                         "district.pause" if paused else "district.resume", "district", district.id, district.id,
                         before={"paused": not paused}, after={"paused": paused})
        busy = lease.current(s, district.id)
    with app.session() as s:
        timing = read_timings(s, [slug])[0]
    tz, now = _timezone(), utcnow()
    _, next_run = describe(timing, now, tz)
    data = {"district": slug, "paused": paused, "changed": changed,
            "in_progress_run_id": busy.run_id if busy else None,
            "next_run": next_run.isoformat() if next_run else None}
    lines = [f"{slug} {verb}" if changed else f"{slug} was already {'paused' if paused else 'active'}"]
    if paused and busy:
        lines.append(f"  run {busy.run_id} is in progress and will finish; no new run starts while paused")
    if not paused and next_run:
        lines.append(f"  next run: {'now (a run is owed)' if next_run <= now else next_run.isoformat()}")
    emit(as_json, data, "\n".join(lines))


@click.command("pause")
@click.argument("slug")
@click.option("--reason", required=True, help="Why (kept in the audit log), e.g. summer break.")
@json_option
@click.pass_context
def pause_command(ctx, slug, reason, as_json) -> None:
    """Support: stop syncing a district (scheduled runs, queued jobs and resyncs) until it is resumed."""
    _set_paused(ctx, slug, True, reason, as_json)


@click.command("resume")
@click.argument("slug")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@json_option
@click.pass_context
def resume_command(ctx, slug, reason, as_json) -> None:
    """Support: sync a paused district again; a run missed while paused starts at once."""
    _set_paused(ctx, slug, False, reason, as_json)


def resync_by_mode(ctx, slug: str, reason: str, as_json: bool) -> bool:
    """For `rostersync resync`: True when it was handled here (worker mode: queued ahead of scheduled work,
    and printed); False when the caller runs it now (embedded mode). Refuses a paused district in both."""
    app = app_of(ctx)
    bind_district(slug)
    if mode_of(app.url) != "workers":
        with app.session() as s:
            if get_district(s, slug).paused:
                raise InvalidInput(f"{slug} is paused; `rostersync resume {slug} --reason ...` first")
        return False
    from sync.workers import queue_resync

    q = queue_resync(app.url, app.engine(), slug, reason, app.actor_name)
    data = {"district": slug, "queued": True, "job_id": q.job_id, "already_queued": q.already_queued,
            "in_progress": q.running_run_id is not None, "in_progress_run_id": q.running_run_id}
    lines = [f"resync of {slug} {'was already queued' if q.already_queued else 'queued'} (job {q.job_id}), "
             "ahead of scheduled work"]
    if q.running_run_id is not None:
        lines.append(f"  a run is in progress (run {q.running_run_id} on {q.running_on}); the resync starts "
                     "when it has finished")
    emit(as_json, data, "\n".join(lines))
    return True


def register(cli: click.Group) -> None:
    for command in (serve_command, worker_command, status_command, pause_command, resume_command):
        cli.add_command(command)
