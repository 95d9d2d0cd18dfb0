"""Claiming outbox items so two relays never take the same one (I/O, SQLite and PostgreSQL alike).

An item (an invitation, or one recipient of an announcement) moves ``queued -> claimed`` by one
conditional UPDATE (``... WHERE status = 'queued'``): SQLite runs one writer at a time, and PostgreSQL
re-checks the condition on a row another transaction just changed, so of two relays racing for a row
exactly one gets it. On PostgreSQL the candidate rows are also picked with ``FOR UPDATE SKIP LOCKED``,
so two relays take different batches instead of queueing behind each other's locks (SQLite ignores it).

A claim names its owner (``host:pid:token``) and expires; a claim whose owner is gone (same host, the
process no longer exists) or whose time ran out is taken over by recovery, with the same kind of
conditional UPDATE, so two recovering relays never both resolve one item.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from directory.models import AnnouncementRecipient, Invitation

MODELS = {"invitation": Invitation, "announcement": AnnouncementRecipient}


def make_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def owner_is_dead(owner: str | None) -> bool:
    """True only when we can see the owner's process is gone (same host, no such pid)."""
    try:
        host, pid, _ = (owner or "").rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname() or pid_n == os.getpid():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim(session: Session, item_type: str, owner: str, now: datetime, ttl: timedelta, limit: int,
          where: tuple = ()) -> list[int]:
    """Claim up to ``limit`` queued items that are due; returns the ids now ours (commit it at once)."""
    model = MODELS[item_type]
    due = (select(model.id).where(model.status == "queued",
                                  or_(model.not_before.is_(None), model.not_before <= now), *where)
           .order_by(model.id).limit(limit).with_for_update(skip_locked=True))
    # Two statements, not UPDATE ... WHERE id IN (that SELECT): PostgreSQL may run such a subquery again
    # for every row it scans (a nested-loop semi-join), each run skipping the rows just locked and taking
    # the next ones, so one relay claimed the whole queue whatever the batch size.
    batch = list(session.scalars(due))
    if batch:
        session.execute(update(model).where(model.id.in_(batch), model.status == "queued")
                        .values(status="claimed", claimed_by=owner, claim_expires_at=now + ttl)
                        .execution_options(synchronize_session=False))
    return list(session.scalars(select(model.id).where(model.claimed_by == owner, model.status == "claimed")
                                .order_by(model.id)))


def any_due(session: Session, item_type: str, now: datetime, where: tuple = ()) -> bool:
    model = MODELS[item_type]
    return session.scalar(select(model.id).where(model.status == "queued", or_(
        model.not_before.is_(None), model.not_before <= now), *where).limit(1)) is not None


def renew(session: Session, item_type: str, item_id: int, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Extend our claim on one item right before handing it over; False if it is no longer ours."""
    model = MODELS[item_type]
    result = session.execute(update(model).where(model.id == item_id, model.claimed_by == owner,
                                                 model.status == "claimed")
                             .values(claim_expires_at=now + ttl).execution_options(synchronize_session=False))
    return result.rowcount == 1


def take_over_stale(session: Session, item_type: str, owner: str, now: datetime, ttl: timedelta,
                    where: tuple = ()) -> list[int]:
    """Items claimed by a relay that died or ran out of time, now claimed by us."""
    model = MODELS[item_type]
    rows = session.execute(select(model.id, model.claimed_by, model.claim_expires_at).where(
        model.status == "claimed", model.claimed_by != owner, *where)).all()
    taken = []
    for item_id, holder, expires in rows:
        if not (aware(expires) is None or aware(expires) < now or owner_is_dead(holder)):
            continue
        result = session.execute(update(model).where(model.id == item_id, model.claimed_by == holder,
                                                     model.status == "claimed")
                                 .values(claimed_by=owner, claim_expires_at=now + ttl)
                                 .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            taken.append(item_id)
    return taken
