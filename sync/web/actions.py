"""What support staff (and, on hand-made schools, leaders) change from the web: every change goes through
the function the CLI uses (run_sync / queue_resync, approve_run, the directory service), so the lock, the
lease and the audit log apply exactly as they do in a terminal."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import structlog
from sqlalchemy.engine import Engine

from directory.audit import Actor
from directory.db import session_factory, transaction
from directory.districts import get_district
from directory.errors import InvalidInput
from directory.service import DirectoryService
from sync import lease
from sync.approve import approve_run
from sync.run import RunInProgress, run_sync
from sync.web.access import Principal

log = structlog.get_logger("rostersync.web")


@dataclass(frozen=True)
class ResyncStarted:
    mode: str  # embedded: running in this process now | workers: queued for a worker
    job_id: int | None = None
    already_queued: bool = False


class BackgroundRuns:
    """Resyncs this process runs in threads, so a request returns at once and a long district does not
    hold a browser; `wait` lets the server (and tests) finish them before stopping."""

    def __init__(self):
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, name: str, target) -> None:
        def run():
            try:
                target()
            except Exception:  # noqa: BLE001 - a run records its own failure; this is the last resort
                log.exception("web_background_run_crashed", job=name)

        t = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def wait(self, timeout: float = 600.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)


def _mode(url: str) -> str:
    """embedded | workers, decided where `rostersync resync` decides it (README asks to move mode_of out of
    the CLI module into a small module of its own; import it from there then)."""
    from sync.cli_ops import mode_of

    return mode_of(url)


def start_resync(engine: Engine, url: str, runs: BackgroundRuns, slug: str, reason: str,
                 p: Principal) -> ResyncStarted:
    """A full sync now (embedded mode, in a thread here) or queued ahead of scheduled work (worker mode),
    with who and why in the run and the audit log, as `rostersync resync` does."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a resync needs a reason")
    if _mode(url) == "workers":
        from sync.workers import queue_resync

        q = queue_resync(url, engine, slug, reason, p.email)
        return ResyncStarted("workers", q.job_id, q.already_queued)
    with transaction(session_factory(engine)) as s:
        district = get_district(s, slug)
        if district.paused:
            raise InvalidInput(f"{slug} is paused; resume it first (`rostersync resume {slug} --reason ...`)")
        busy = lease.current(s, district.id)
        if busy is not None:
            # Checked here so the person sees it now; run_sync's lease is still what guarantees one run.
            raise RunInProgress(f"a sync of {slug} is already in progress (run {busy.run_id}); try again when it "
                                "has finished")

    def work():
        outcome = run_sync(engine, slug, full=True, trigger="resync", requested_by=p.email, reason=reason)
        log.info("web_resync_finished", district=slug, run_id=outcome.run_id, status=outcome.status)

    runs.start(f"resync-{slug}", work)
    return ResyncStarted("embedded")


def approve(engine: Engine, run_id: int, p: Principal, reason: str | None) -> dict:
    return approve_run(engine, run_id, Actor("support", p.email, reason=(reason or "").strip() or None))


def _actor(p: Principal, reason: str | None) -> Actor:
    """Support act as support with their written reason (the service requires one, and audits any lock
    override with it); everyone else as a user, whom the lock refuses on synced schools."""
    if p.is_support:
        return Actor("support", p.email, reason=(reason or "").strip() or None)
    return Actor("user", p.email)


def set_student_archived(engine: Engine, slug: str, student_id: int, archived: bool, p: Principal,
                         reason: str | None) -> None:
    with transaction(session_factory(engine)) as s:
        svc = DirectoryService(s, _actor(p, reason), get_district(s, slug))
        if archived:
            svc.archive_students([student_id])
        else:
            svc.restore_student(student_id)
