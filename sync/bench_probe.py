"""What the benchmark measures of one phase: wall and CPU time, peak memory, rows written (I/O, Linux-aware).

Peak memory is the process's resident high-water mark. On Linux it is reset before each phase (writing
``5`` to ``/proc/self/clear_refs``), so each phase reports its own peak and not one left behind by an
earlier phase; elsewhere the process-wide ``ru_maxrss`` is all there is, and the figure is marked so.

Rows written are counted from what the database driver reports for every INSERT, UPDATE and DELETE that
goes through the engine (``cursor.rowcount``), per table, so "a night with no changes writes nothing" is
measured rather than inferred from the report. On PostgreSQL the sync's bulk rows are COPYed, straight
into their table (counted as sync/apply.py reports them) or into a temporary staging table (not counted)
and moved into the directory by one INSERT ... SELECT (counted).
"""

from __future__ import annotations

import gc
import re
import resource
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_WRITE = re.compile(r'\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


def _vm_hwm_kb() -> int | None:
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def give_back_free_memory() -> None:
    """Return the C allocator's free pages to the OS (glibc ``malloc_trim``), where there is one.

    After a phase that held millions of objects, their freed memory stays in the process (glibc keeps it
    for reuse) and would count in the next phase's resident size, which a nightly run in a fresh process
    never has. Elsewhere this does nothing.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Start a new high-water mark at the current RSS; False where the OS cannot (then peaks are per process)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _vm_hwm_kb() is not None


def peak_rss_mb() -> float:
    kb = _vm_hwm_kb()
    if kb is None:
        # ru_maxrss is in kilobytes on Linux and in bytes on macOS
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    return kb / 1024


class WriteCounter:
    """Rows written per table while ``counting``, from the driver's rowcount of each write statement."""

    def __init__(self, engine: Engine):
        self.rows: Counter[str] = Counter()
        self._on = False
        event.listen(engine, "after_cursor_execute", self._after_execute)
        from sync.apply import COPY_LISTENERS

        COPY_LISTENERS.append(self._copied)

    def _copied(self, table: str, rows: int) -> None:
        if self._on and rows > 0:
            self.rows[table] += rows

    def _after_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not self._on:
            return
        match = _WRITE.match(statement)
        if match and cursor.rowcount and cursor.rowcount > 0:
            self.rows[match.group(1).lower()] += cursor.rowcount

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.rows = Counter()
        self._on = True
        try:
            yield self.rows
        finally:
            self._on = False


@dataclass
class Phase:
    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return sum(self.rows.values())


@contextmanager
def measured(name: str) -> Iterator[Phase]:
    """Time a phase (wall and this process's CPU) and take its own peak RSS."""
    phase = Phase(name)
    gc.collect()  # garbage of the previous phase is not this phase's memory
    give_back_free_memory()
    reset_peak_rss()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield phase
    finally:
        phase.wall_s = time.perf_counter() - wall
        phase.cpu_s = time.process_time() - cpu
        phase.peak_rss_mb = peak_rss_mb()
