"""The SMTP delivery log: an append-only file, fsynced line by line, that outlives the process.

SMTP has no way to ask a server "did you take message X?", so the relay keeps its own record, written
around each hand-over, before the database hears of it:

    handing KEY    written (and fsynced) right before MAIL FROM
    accepted KEY   written (and fsynced) right after the server's 250 to the end of DATA

On recovery, a delivery left in ``sending`` is resolved from it: ``accepted`` -> sent; no line at all ->
the message never left, send it again; ``handing`` without ``accepted`` -> in doubt, reported and not
resent. That last case is the one window nothing can close: the server said 250, and the process died
before the ``accepted`` line reached the disk (microseconds of a write and an fsync).

Lines are short JSON objects with the key only (no address), below PIPE_BUF, written with O_APPEND so
several relays on one host can share the file. Relays on several hosts need the file on shared storage,
or each host resolves only its own attempts (others stay in doubt, which is the safe side).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

HANDING, ACCEPTED = "handing", "accepted"


class DeliveryLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if created:  # the new file's name must survive a power cut too
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        return self._fd

    def write(self, event: str, key: str) -> None:
        line = json.dumps({"at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                           "event": event, "key": key}, separators=(",", ":")) + "\n"
        fd = self._open()
        os.write(fd, line.encode())
        os.fsync(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def lookup(self, keys: set[str]) -> dict[str, str]:
        """For each key found: ``accepted`` if that line is there, else ``handing``."""
        found: dict[str, str] = {}
        if not keys or not self.path.exists():
            return found
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: its fsync never returned, so it never counted
                key = entry.get("key")
                if key in keys and found.get(key) != ACCEPTED:
                    found[key] = entry.get("event", HANDING)
        return found
