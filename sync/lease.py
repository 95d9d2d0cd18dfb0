"""One run per district at a time, across processes and machines: a lease row in the database.

Taking the lease is one conditional UPDATE, which SQLite (one writer at a time) and PostgreSQL (row
lock) both make atomic: two processes cannot both see it free. A holder that died is detected two ways:
on the same host, its process id no longer exists; anywhere, the lease has expired.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from directory.models import SyncRun, SyncState, utcnow

DEFAULT_TTL = timedelta(hours=2)


def make_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_is_dead(holder: str) -> bool:
    """True only when we can see that the holder's process is gone (same host, pid missing)."""
    try:
        host, pid, _ = holder.rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class LeaseBusy:
    holder: str
    run_id: int | None
    expires_at: datetime | None


def acquire(session: Session, district_id: int, holder: str, run_id: int, ttl: timedelta = DEFAULT_TTL,
            now: datetime | None = None) -> LeaseBusy | None:
    """Take the district's lease for ``run_id``; returns None on success, or who holds it."""
    now = now or utcnow()
    if session.get(SyncState, district_id) is None:
        session.add(SyncState(district_id=district_id, cursor={}))
        session.flush()
    state = session.execute(select(SyncState.lease_holder, SyncState.lease_run_id, SyncState.lease_expires_at)
                            .where(SyncState.district_id == district_id)).one()
    takeover = state.lease_holder is not None and _holder_is_dead(state.lease_holder)
    conditions = [SyncState.lease_holder.is_(None), SyncState.lease_expires_at < now]
    if takeover:
        conditions.append(SyncState.lease_holder == state.lease_holder)
    result = session.execute(update(SyncState).where(SyncState.district_id == district_id, or_(*conditions))
                             .values(lease_holder=holder, lease_run_id=run_id, lease_expires_at=now + ttl)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return LeaseBusy(state.lease_holder, state.lease_run_id, state.lease_expires_at)
    if state.lease_run_id is not None and state.lease_holder is not None:
        # The previous holder died or ran out of time mid-run: its run never finished.
        session.execute(update(SyncRun).where(SyncRun.id == state.lease_run_id, SyncRun.status == "running")
                        .values(status="failed", finished_at=now,
                                report={"status": "failed", "errors": [{
                                    "code": "interrupted",
                                    "message": "the run was interrupted (its process stopped); the directory was "
                                               "not changed by it, and a later run took over"}]})
                        .execution_options(synchronize_session=False))
    return None


def release(session: Session, district_id: int, holder: str) -> None:
    session.execute(update(SyncState).where(SyncState.district_id == district_id, SyncState.lease_holder == holder)
                    .values(lease_holder=None, lease_run_id=None, lease_expires_at=None)
                    .execution_options(synchronize_session=False))


def current(session: Session, district_id: int) -> LeaseBusy | None:
    state = session.get(SyncState, district_id)
    if state is None or state.lease_holder is None:
        return None
    return LeaseBusy(state.lease_holder, state.lease_run_id, state.lease_expires_at)
