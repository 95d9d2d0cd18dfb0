"""Kill points in the relay, for the crash tests (like sync/faults.py, whose waiting it reuses).

``ROSTERSYNC_FAULT_POINT`` names the point; ``ROSTERSYNC_FAULT_AFTER=N`` (default 1) stops at its N-th
pass, so a test can kill a relay in the middle of a batch. Production never sets them.
"""

from __future__ import annotations

import os

from sync.faults import wait_here as _wait_here

# provider_accepted: the provider took the message; nothing about it is recorded yet (no log, no row).
# delivery_logged:   SMTP only: the delivery log has "accepted"; the database does not know yet.
POINTS = ("provider_accepted", "delivery_logged")
_passes: dict[str, int] = {}


def checkpoint(name: str) -> None:
    if os.environ.get("ROSTERSYNC_FAULT_POINT") != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(os.environ.get("ROSTERSYNC_FAULT_AFTER", "1")):
        _wait_here(name)
