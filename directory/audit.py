"""The audit log: who (a user, support, or a sync run) changed what, when, before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from directory.models import AuditEntry

ACTOR_TYPES = ("user", "support", "sync")


@dataclass(frozen=True)
class Actor:
    type: str  # user | support | sync
    name: str
    reason: str | None = None  # required for support actions (why the lock was overridden, ...)
    run_id: int | None = None

    def __post_init__(self):
        if self.type not in ACTOR_TYPES:
            raise ValueError(f"actor type must be one of {ACTOR_TYPES}")


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


# Bookkeeping columns that would only add noise to every before/after.
_SKIP = {"created_at", "updated_at", "district_id"}


def snapshot(row, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """A JSON-safe dict of the row's column values (or the named fields)."""
    names = fields or [c.key for c in sa_inspect(row).mapper.column_attrs if c.key not in _SKIP]
    return {name: _plain(getattr(row, name)) for name in names}


def record(session: Session, actor: Actor, action: str, entity: str, entity_id: int | None,
           district_id: int | None, before: dict | None = None, after: dict | None = None) -> AuditEntry:
    if before is not None and after is not None:
        # Keep only what changed (plus id) so an entry reads as the change it is.
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        before = {k: v for k, v in before.items() if k in changed or k == "id"}
        after = {k: v for k, v in after.items() if k in changed or k == "id"}
    entry = AuditEntry(district_id=district_id, actor_type=actor.type, actor=actor.name, run_id=actor.run_id,
                       action=action, entity=entity, entity_id=entity_id, before=before, after=after,
                       reason=actor.reason)
    session.add(entry)
    return entry
