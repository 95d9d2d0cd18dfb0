"""When a file drop may be skipped unread: it holds what the last run applied, and nothing else moved.

A drop with the same content key (connectors/sftp/content_key.py) as the drop the district's last run
applied can only change the directory if something besides the drop changed since:
- the district's sync settings (excluded contact types, guardian limits ...): their key is saved with the
  cursor, and a different key means the drop is read and compared again;
- the directory, by hand or by support (an override on a synced school, a guardian added, a setting
  changed, a held run approved): any such audit entry for the district since the last applied run started
  means the same.
Anything else (a contact reset, a message sent, a web user created) cannot change what a sync decides.
`rostersync resync` and `sync --full` always read and compare.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import AuditEntry
from sync.changes import DiffSettings

# Audit entities whose manual change can alter a sync's diff (see directory/scope.py, directory/districts.py).
_RELEVANT = ("school", "teacher", "classroom", "student", "guardian", "district", "run")


def settings_key(settings: DiffSettings) -> str:
    values = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(settings).items()}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


class LastContent(NamedTuple):
    """What the last applied drop held: its content key, and each file's (hex), where the run saved them."""

    key: str
    files: dict[str, str] | None = None


def cursor_entries(content: str | None, settings: DiffSettings, started: datetime,
                   files: dict[str, str] | None = None) -> dict:
    """What the run that applies a drop saves with the cursor, for the next run to decide on. The files'
    own keys let the next run stop hashing at the first file that changed (sync/sources.py)."""
    if content is None:
        return {}
    return {"content": content, "settings": settings_key(settings), "content_since": started.isoformat(),
            **({"content_files": files} if files else {})}


def skippable_content(session: Session, district_id: int, cursor: dict | None,
                      settings: DiffSettings) -> LastContent | None:
    """What a drop must hold to be skipped unread, or None when every drop must be read."""
    cursor = cursor or {}
    content, since = cursor.get("content"), cursor.get("content_since")
    if not content or not since or cursor.get("settings") != settings_key(settings):
        return None
    touched = session.scalar(select(AuditEntry.id).where(
        AuditEntry.district_id == district_id, AuditEntry.at >= datetime.fromisoformat(since),
        AuditEntry.actor_type != "sync", AuditEntry.entity.in_(_RELEVANT)).limit(1))
    return None if touched is not None else LastContent(content, cursor.get("content_files"))
