"""When each district syncs, and the embedded scheduler that runs those syncs on one machine.

Three parts. First, pure (no clock, no database): a district's ``schedule`` setting is parsed into a
`Schedule`, and its *slots* (the moments a run is owed) are computed from the schedule, the district's
slug as a jitter seed, and a time given by the caller. Every process computes the same slots, so the
embedded scheduler, the worker pool's dispatcher and `rostersync status` agree without sharing state:

    every 15m        slots at EPOCH + jitter + k * 15m, jitter in [0, 15m) (districts spread evenly)
    0 2 * * *        the cron times (five fields, optionally followed by a time zone name) + jitter,
                     jitter in [0, min(1h, half the expression's shortest gap)) so slots stay in order
    nightly (unset)  0 2 * * * in the service's time zone, with that jitter

A district owes a run when its latest slot is later than the start of its latest (non dry) run: one
run serves every slot missed before it (coalescing), and a district never synced owes one at once.

Second, one scheduled run and one relay pass (`run_scheduled`, `relay_once`), the same in both modes.
Third, `rostersync serve` (`EmbeddedService`, `serve`): APScheduler 3 in the foreground.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from croniter import CroniterBadDateError, croniter
from sqlalchemy import select
from sqlalchemy.engine import Engine

from directory.db import session_factory, transaction
from directory.errors import RostersyncError
from directory.models import District, utcnow
from sync.logs import command_context
from sync.run import RunInProgress, RunOutcome, run_sync
from sync.status import DistrictTiming, already_served, read_timings

log = structlog.get_logger("rostersync.schedule")

UTC = timezone.utc
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # the phase origin of `every` schedules
NIGHTLY = "0 2 * * *"
MAX_CRON_JITTER = timedelta(hours=1)
TZ_ENV = "ROSTERSYNC_TIMEZONE"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"(\d+)([smhd])")
EXPECTED = ("expected a five-field cron expression (optionally followed by a time zone such as "
            "America/Chicago), every N followed by s, m, h or d (every 30s, every 15m, every 6h), or nightly")


@dataclass(frozen=True)
class Schedule:
    text: str  # the canonical form, as stored and shown
    cron: str | None = None
    every: timedelta | None = None
    tz: str | None = None  # the cron's own time zone; None: the service's


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected a time zone name such as America/Chicago, not {name!r}") from None


@lru_cache(maxsize=1024)  # thousands of districts share a handful of schedules; checking one runs croniter
def parse_schedule(text: str | None) -> Schedule:
    """The schedule a setting describes; ValueError (whose message starts "expected") when it is not one."""
    raw = (text or "").strip()
    if raw.lower() in ("", "nightly"):
        return Schedule("nightly", cron=NIGHTLY)
    words = raw.split()
    if words[0].lower() == "every":
        match = _EVERY.fullmatch("".join(words[1:]).lower())
        if not match or int(match[1]) < 1:
            raise ValueError(EXPECTED)
        n, unit = int(match[1]), match[2]
        return Schedule(f"every {n}{unit}", every=timedelta(seconds=n * _UNITS[unit]))
    if len(words) not in (5, 6):
        raise ValueError(EXPECTED)
    expr, tz = " ".join(words[:5]), (words[5] if len(words) == 6 else None)
    zone = _zone(tz) if tz else UTC
    if not croniter.is_valid(expr):
        raise ValueError(EXPECTED)
    try:
        croniter(expr, datetime(2001, 1, 1, tzinfo=zone)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"expected a cron expression that fires; {expr!r} never does") from None
    return Schedule(f"{expr} {tz}" if tz else expr, cron=expr, tz=tz)


def _fraction(seed: str) -> float:
    """A number in [0, 1) fixed by the seed: the same district gets the same jitter in every process."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2.0 ** 64


@lru_cache(maxsize=256)
def _shortest_gap(expr: str, tz: str) -> timedelta:
    # From a fixed date, so the jitter window (and so every slot) is a function of the expression alone.
    it = croniter(expr, datetime(2001, 1, 1, tzinfo=_zone(tz)))
    fires = [it.get_next(datetime) for _ in range(16)]
    return min(b - a for a, b in zip(fires, fires[1:]))


def jitter(schedule: Schedule, seed: str, tz: str = "UTC") -> timedelta:
    if schedule.every is not None:
        span = schedule.every
    else:
        span = min(MAX_CRON_JITTER, _shortest_gap(schedule.cron, schedule.tz or tz) / 2)
    return timedelta(seconds=int(_fraction(seed) * span.total_seconds()))


def _whole_seconds(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


def previous_slot(schedule: Schedule, seed: str, now: datetime, tz: str = "UTC") -> datetime | None:
    """The latest slot at or before ``now`` (None for a cron expression that never fired)."""
    off = jitter(schedule, seed, tz)
    if schedule.every is not None:
        return EPOCH + off + ((now - EPOCH - off) // schedule.every) * schedule.every
    zone = _zone(schedule.tz or tz)
    # croniter's get_prev is strict, and cron times are whole minutes: one second later makes it "at or before".
    base = _whole_seconds(now - off).astimezone(zone) + timedelta(seconds=1)
    try:
        return croniter(schedule.cron, base).get_prev(datetime).astimezone(UTC) + off
    except CroniterBadDateError:
        return None


def next_slot(schedule: Schedule, seed: str, now: datetime, tz: str = "UTC") -> datetime:
    """The first slot strictly after ``now``."""
    off = jitter(schedule, seed, tz)
    if schedule.every is not None:
        return previous_slot(schedule, seed, now, tz) + schedule.every
    base = _whole_seconds(now - off).astimezone(_zone(schedule.tz or tz))
    return croniter(schedule.cron, base).get_next(datetime).astimezone(UTC) + off


class SlotMemo:
    """`previous_slot`, remembered per district until the district's next slot comes.

    A reload of the embedded scheduler or a dispatcher tick looks at every district; with a memo an idle
    district costs a dictionary lookup instead of a cron computation. Keep one per long-lived process.
    """

    def __init__(self) -> None:
        self._brackets: dict[tuple[str, str, str], tuple[datetime | None, datetime]] = {}

    def previous(self, schedule: Schedule, seed: str, now: datetime, tz: str = "UTC") -> datetime | None:
        key = (seed, schedule.text, tz)
        hit = self._brackets.get(key)
        if hit is not None and (hit[0] is None or hit[0] <= now) and now < hit[1]:
            return hit[0]
        before = previous_slot(schedule, seed, now, tz)
        self._brackets[key] = (before, next_slot(schedule, seed, now, tz))
        return before


def pending_slot(schedule: Schedule, seed: str, now: datetime, last_started: datetime | None,
                 tz: str = "UTC", memo: SlotMemo | None = None) -> datetime | None:
    """The slot a district still owes a run for, or None when its latest run started at or after it."""
    slot = memo.previous(schedule, seed, now, tz) if memo else previous_slot(schedule, seed, now, tz)
    if slot is None or (last_started is not None and last_started >= slot):
        return None
    return slot


def schedulable(t: DistrictTiming) -> Schedule | None:
    """The district's schedule, or None when it is not synced on a schedule (paused, no source, bad value)."""
    if t.paused or not t.has_source:
        return None
    try:
        return parse_schedule(t.schedule)
    except ValueError:  # only a hand-edited database holds one; `rostersync status` shows it
        return None


def due_districts(timings: list[DistrictTiming], now: datetime, tz: str = "UTC",
                  memo: SlotMemo | None = None) -> list[tuple[str, datetime]]:
    """(slug, slot) of every district owing a run, the longest waiting first."""
    due = []
    for t in timings:
        schedule = schedulable(t)
        slot = schedule and pending_slot(schedule, t.slug, now, t.last_started, tz, memo)
        if slot:
            due.append((t.slug, slot))
    return sorted(due, key=lambda d: (d[1], d[0]))


def next_run(t: DistrictTiming, now: datetime, tz: str = "UTC") -> datetime | None:
    """When the district runs next: the owed slot (possibly past: overdue), else the next one."""
    schedule = schedulable(t)
    if schedule is None:
        return None
    return pending_slot(schedule, t.slug, now, t.last_started, tz) or next_slot(schedule, t.slug, now, tz)


def service_timezone(env: dict | None = None) -> str:
    """The zone of cron schedules written without one: $ROSTERSYNC_TIMEZONE, else UTC."""
    name = (os.environ if env is None else env).get(TZ_ENV) or "UTC"
    _zone(name)
    return name


def describe(t: DistrictTiming, now: datetime, tz: str = "UTC") -> tuple[str, datetime | None]:
    """The schedule as `status` shows it, and the next run (None when the district is not scheduled)."""
    try:
        text = parse_schedule(t.schedule).text
    except ValueError:
        return f"{t.schedule} (invalid)", None
    return text, next_run(t, now, tz)


# -- running what is due (I/O): both modes -----------------------------------------------------------------


def run_scheduled(engine: Engine, slug: str, *, slot: datetime | None = None, tz: str = "UTC",
                  requested_by: str = "schedule") -> RunOutcome | None:
    """One scheduled run of a district, or None when it is skipped: paused, gone, no source, or its slot
    already served by a run that started since (a resync, a manual sync, a duplicate dispatch).

    Raises RunInProgress when another process holds the district's lease: the embedded scheduler skips
    the slot's run (the next reload sees the slot still owed), the worker pool retries the job later.
    """
    with transaction(session_factory(engine)) as s:
        district = s.scalar(select(District).where(District.slug == slug))
        if district is None or district.paused or district.source is None:
            log.info("scheduled_run_skipped", reason="gone" if district is None else
                     "paused" if district.paused else "no_source")
            return None
        if slot is None:
            try:
                slot = previous_slot(parse_schedule(district.schedule), slug, utcnow(), tz)
            except ValueError:
                slot = None
        if slot is not None and already_served(s, district.id, slot):
            log.info("scheduled_run_skipped", reason="served", slot=slot.isoformat())
            return None
    return run_sync(engine, slug, trigger="schedule", requested_by=requested_by)


def relay_once(engine: Engine) -> None:
    """Deliver queued messages once (messaging/relay.py), if messaging is installed and configured.

    Looked up when called, so the scheduler runs without the messaging package and picks it up when it
    is there; a configuration error is logged and retried on the next tick, never fatal to the service.
    """
    try:
        from messaging.config import load_config
        from messaging.relay import Relay
    except ImportError:
        log.debug("relay_unavailable")
        return
    with command_context("relay"):
        try:
            report = Relay(engine, load_config()).run_once()
        except RostersyncError as exc:  # not configured, or the database is away: try again next time
            log.warning("relay_failed", error=str(exc))
            return
        except Exception:  # noqa: BLE001 - the relay's own bug must not stop the syncs
            log.exception("relay_crashed")
            return
        summary = report.as_dict()
        log.info("relay_finished", sent=summary.get("total_sent", 0),
                 **{k: len(v) for k, v in summary.items() if isinstance(v, list)})


# -- the embedded scheduler: `rostersync serve` ------------------------------------------------------------


class SlotTrigger(BaseTrigger):
    """An APScheduler trigger firing at a district's slots, so the scheduler and `status` agree."""

    def __init__(self, schedule: Schedule, seed: str, tz: str):
        self.schedule, self.seed, self.tz = schedule, seed, tz

    def get_next_fire_time(self, previous_fire_time, now):
        return next_slot(self.schedule, self.seed, previous_fire_time or now, self.tz)

    def __str__(self) -> str:
        return f"slots[{self.schedule.text}]"


class EmbeddedService:
    """APScheduler 3 in this process: one job per scheduled district, a reload job that keeps the jobs in
    step with the districts table, and the messaging relay.

    Jobs run on a thread pool of ``concurrency`` threads; control jobs (reload, relay) on their own two
    threads so a night of long syncs never delays noticing a new district. Every job is ``max_instances=1``
    and ``coalesce``: a district never overlaps itself here, and the lease (sync/lease.py) keeps it from
    overlapping a run in another process.
    """

    def __init__(self, engine: Engine, *, concurrency: int = 4, reload_every: float = 30.0,
                 relay_every: float = 60.0, tz: str = "UTC", misfire_grace: int = 300):
        self.engine, self.tz = engine, tz
        self.reload_every, self.relay_every = reload_every, relay_every
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(concurrency), "control": ThreadPoolExecutor(2)},
            # coalesce: runs missed in a row become one. A fire later than the grace (the machine slept)
            # is dropped by APScheduler, and the next reload starts it anyway: the slot is still owed.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": misfire_grace},
            timezone=UTC)
        self.jobs: dict[str, str] = {}  # slug -> the schedule text its job was made from
        self.running: set[str] = set()
        self.memo = SlotMemo()
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.reload()  # before starting, so a district owed a run starts at once
        self.scheduler.add_job(self._reload_logged, "interval", seconds=self.reload_every, id="reload",
                               executor="control")
        if self.relay_every:
            self.scheduler.add_job(relay_once, "interval", seconds=self.relay_every, args=[self.engine],
                                   id="relay", executor="control")
        self.scheduler.start()

    def reload(self) -> None:
        """Re-read the districts: add jobs for new or changed schedules, drop paused or removed ones, and
        start at once any district that owes a run (missed while stopped, skipped as in progress, resumed)."""
        with command_context("serve"), self._lock:
            now = utcnow()
            with transaction(session_factory(self.engine)) as s:
                timings = {t.slug: t for t in read_timings(s)}
            for slug in [slug for slug in self.jobs if schedulable(timings.get(slug) or _GONE) is None]:
                self.scheduler.remove_job(f"district:{slug}")
                del self.jobs[slug]
                log.info("district_unscheduled", district=slug)
            for slug, t in timings.items():
                schedule = schedulable(t)
                if schedule is not None:
                    self._ensure(t, schedule, now)

    def _reload_logged(self) -> None:
        try:
            self.reload()
        except Exception:  # noqa: BLE001 - a database restart must not end a service meant to run for months
            log.exception("reload_failed")

    def _ensure(self, t: DistrictTiming, schedule: Schedule, now: datetime) -> None:
        owed = pending_slot(schedule, t.slug, now, t.last_started, self.tz, self.memo) is not None
        job_id = f"district:{t.slug}"
        if self.jobs.get(t.slug) != schedule.text:
            extra = {"next_run_time": now} if owed else {}
            self.scheduler.add_job(self._run, SlotTrigger(schedule, t.slug, self.tz), args=[t.slug], id=job_id,
                                   name=t.slug, replace_existing=True, **extra)
            self.jobs[t.slug] = schedule.text
            log.info("district_scheduled", district=t.slug, schedule=schedule.text, owed=owed)
        elif owed and t.slug not in self.running:
            job = self.scheduler.get_job(job_id)
            if job is not None and job.next_run_time is not None and job.next_run_time > now:
                job.modify(next_run_time=now)

    def _run(self, slug: str) -> None:
        if self.stopping.is_set():
            return
        with command_context("serve", district=slug):
            self.running.add(slug)
            try:
                run_scheduled(self.engine, slug, tz=self.tz)
            except RunInProgress as exc:
                log.info("scheduled_run_skipped", reason="in_progress", detail=str(exc))
            except Exception:  # noqa: BLE001 - one district's failure must not stop the service
                log.exception("scheduled_run_crashed")
            finally:
                self.running.discard(slug)

    def stop(self) -> None:
        """No new runs; wait for the running ones to commit or roll back on their own."""
        self.stopping.set()
        log.info("serve_stopping", waiting_for=sorted(self.running))
        self.scheduler.shutdown(wait=True)


_GONE = DistrictTiming("", None, True, False, None)  # a district deleted from the table: not schedulable


def serve(engine: Engine, *, echo=print, **options) -> int:
    """Run the embedded scheduler until SIGTERM or SIGINT. The first signal lets running syncs finish
    (each commits or rolls back whole); a second one exits at once, and the database rolls back what
    was in flight (the lease is taken over by the next run, sync/lease.py)."""
    service = EmbeddedService(engine, **options)
    stop = threading.Event()

    def on_signal(signum, _frame):
        if stop.is_set():
            echo("stopping now; running syncs are rolled back")
            os._exit(1)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.start()
        echo(f"serving {len(service.jobs)} scheduled district(s); SIGTERM or Ctrl-C stops")
        log.info("serve_started", districts=len(service.jobs))
        while not stop.wait(0.5):
            pass
        if service.running:
            echo(f"stopping: waiting for {len(service.running)} running sync(s) to finish")
        service.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    echo("stopped")
    log.info("serve_stopped")
    return 0
