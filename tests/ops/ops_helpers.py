"""Helpers for the tests that run real `rostersync serve` and `rostersync worker` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

ROSTERSYNC = Path(sys.executable).parent / "rostersync"


@dataclass
class Run:
    district: str
    id: int
    status: str
    trigger: str
    host: str
    started: datetime
    finished: datetime | None
    report: dict | None


def _aware(dt):
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def runs(url: str) -> dict[str, list[Run]]:
    """Every sync run, per district, oldest first (read straight from the database)."""
    from directory.db import make_engine

    from directory.models import District, SyncRun

    engine = make_engine(url)
    with engine.connect() as conn:  # through the models, so SQLite's text dates come back as datetimes
        rows = conn.execute(sa.select(District.slug, SyncRun.id, SyncRun.status, SyncRun.trigger, SyncRun.host,
                                      SyncRun.started_at, SyncRun.finished_at, SyncRun.report)
                            .join(District, District.id == SyncRun.district_id).order_by(SyncRun.id)).all()
    engine.dispose()
    out: dict[str, list[Run]] = {}
    for slug, id_, status, trigger, host, started, finished, report in rows:
        out.setdefault(slug, []).append(Run(slug, id_, status, trigger, host or "", _aware(started),
                                            _aware(finished), report))
    return out


def wait_for(condition, timeout: float, what: str, proc_list=()):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for p in proc_list:
            assert p.poll() is None, f"{p.args[-1]} exited early ({p.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.2)


class Process:
    """A rostersync process whose output goes to files (a full pipe would block it)."""

    def __init__(self, db_url: str, args: list[str], folder: Path, name: str, env: dict | None = None):
        self.out, self.err = folder / f"{name}.out", folder / f"{name}.err"
        self.proc = subprocess.Popen(
            [str(ROSTERSYNC), "--db", db_url, "--log-format", "json", "--log-level", "INFO", *args],
            stdout=self.out.open("w"), stderr=self.err.open("w"), cwd=folder,
            env={**os.environ, "ROSTERSYNC_ACTOR": "test", **(env or {})})

    def poll(self):
        return self.proc.poll()

    @property
    def args(self):
        return self.proc.args

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stdout(self) -> str:
        return self.out.read_text()

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.err.read_text().splitlines() if line.startswith("{")]

    def signal(self, sig=signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def assert_no_overlap(district_runs: list[Run]) -> None:
    """Runs of one district that applied anything never ran at the same time.

    A run marked failed as "interrupted" is left out: its finished_at is when the next run noticed its
    process was dead, not when it stopped, and it applied nothing (its transaction was rolled back).
    """
    applied = sorted((r for r in district_runs if r.status in ("succeeded", "held")), key=lambda r: r.started)
    for a, b in zip(applied, applied[1:]):
        assert a.finished is not None and a.finished <= b.started, (
            f"{a.district}: run {a.id} ({a.started}..{a.finished}) overlaps run {b.id} (from {b.started})")


def comparable(data: dict) -> dict:
    """A directory export without row ids and timestamps, so two districts can be compared."""
    students = {s["id"]: s["external_id"] for s in data["students"]}
    guardians = {g["id"]: g["external_id"] for g in data["guardians"]}
    return {
        "students": sorted((s["external_id"], s["status"], s["given_name"]) for s in data["students"]),
        "guardians": sorted((g["external_id"], g["status"], g["email"] or "", g["phone"] or "")
                            for g in data["guardians"]),
        "links": sorted((guardians[link["guardian_id"]], students[link["student_id"]]) for link in data["links"]),
    }
