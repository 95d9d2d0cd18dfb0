"""A sync run's decision, kept whole against the manual changes that decision depends on (PostgreSQL).

A run reads the directory, decides, and writes, in one READ COMMITTED transaction: a change committed
between the read and the writes is invisible to the decision, and the writes can undo what it meant.
Most manual changes cannot collide that way: the lock (directory/lock.py) keeps them off what the sync
owns, and the sync writes only the columns that it changed. One can: a guardian who joins. The diff
keeps a joined parent's own email and phone, but a run that read the guardian as pending a moment before
writes the SIS's contacts over the account's (tests/ops/test_load.py shows it happen).

So a run holds an exclusive transaction-level advisory lock on its district from the start of its
decide-and-apply transaction to its commit, and a manual function whose effect the diff depends on takes
the shared form first: it waits for a run that is deciding, and a run waits for it. Nothing else waits:
other manual writes, settings and pauses never touch this lock, so they are not queued behind a long run.
Both take it before any row lock, so it adds no lock cycle (no deadlock).

SQLite has no such locks, and takes nothing here.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# The first key of PostgreSQL's two-int advisory lock space, the district id the second. (One-bigint
# keys, such as the worker queue's schema lock, are a separate space.)
NAMESPACE = 0x5253  # "RS"


def _take(session: Session, district_id: int, function: str) -> None:
    if session.connection().dialect.name != "postgresql":
        return
    session.execute(text(f"SELECT {function}(:ns, :district)"), {"ns": NAMESPACE, "district": district_id})


def hold_for_run(session: Session, district_id: int) -> None:
    """In the run's decide-and-apply transaction, before it reads the directory."""
    _take(session, district_id, "pg_advisory_xact_lock")


def wait_for_run(session: Session, district_id: int) -> None:
    """In a manual function's transaction, before it reads what it changes."""
    _take(session, district_id, "pg_advisory_xact_lock_shared")
