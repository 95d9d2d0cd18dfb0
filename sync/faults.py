"""Named points in a sync or a relay where a test can stop the process, to prove a crash loses nothing.

Production never sets ROSTERSYNC_FAULT_POINT, and then `checkpoint` costs one dictionary lookup. With it
set to a point's name, the process counts its passes there; at the N-th (ROSTERSYNC_FAULT_AFTER=N,
default 1) it writes the point's name to ROSTERSYNC_FAULT_FILE (so the test knows it is there) and waits
to be killed, as a power cut or the OOM killer would stop it. tests/test_crash_matrix.py kills a real
`rostersync` process at every point in PHASES, on SQLite and PostgreSQL.

PHASES lists every point by phase, with where it is and what is true when the process dies there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PHASES: dict[str, tuple[tuple[str, str], ...]] = {
    "download": (
        ("sftp_listed", "connectors/sftp/transport.py: the SFTP folder listed, nothing copied yet"),
        ("sftp_mid_file", "connectors/sftp/transport.py: one chunk of a file copied, the rest still on the server"),
        ("sftp_file_fetched", "connectors/sftp/transport.py: a file's last byte copied, the file still open"),
        ("clever_page", "connectors/clever/client.py: a page of a Clever collection received and checked"),
        ("classlink_page", "connectors/classlink/client.py: a page of a OneRoster collection received and checked"),
    ),
    "parse": (
        ("csv_file_parsed", "connectors/sftp/oneroster_csv.py: one file of a OneRoster drop turned into records"),
        ("pulled", "sync/run.py: the whole pull read into one batch; no transaction open yet"),
    ),
    "diff": (
        ("snapshot_loaded", "sync/run.py: the directory read, in the run's transaction"),
        ("diffed", "sync/run.py: the change set computed; nothing written"),
        ("guard_decided", "sync/run.py: the archive threshold decided and the report's counts filled in"),
    ),
    "apply": (
        ("entities_written", "sync/apply.py: schools, teachers, classrooms, students, guardians written"),
        ("memberships_written", "sync/apply.py: enrollments, classroom teachers and guardian links written"),
        ("archives_written", "sync/apply.py: archives and removals written"),
        ("invitations_written", "sync/apply.py: invitations queued (and the audit not yet written)"),
        ("applied", "sync/run.py: drop taken and cursor saved; the run row not finished, nothing committed"),
    ),
    "commit": (
        ("committed", "sync/run.py: the run's transaction committed; no report printed, no log line yet"),
    ),
    "relay": (
        ("relay_claimed", "messaging/relay.py: a batch claimed and committed; none of it sent"),
        ("relay_attempt_recorded", "messaging/relay.py: the attempt row committed; the message not handed over"),
        ("provider_accepted", "messaging/*_transport.py: the provider took the message; no log line, no row"),
        ("delivery_logged", "messaging/smtp_transport.py: the delivery log says accepted; the database does not"),
        ("relay_result_pending", "messaging/relay.py: 'sent' decided, its transaction not committed"),
    ),
}
POINTS = tuple(name for points in PHASES.values() for name, _ in points)
PHASE_OF = {name: phase for phase, points in PHASES.items() for name, _ in points}

_passes: dict[str, int] = {}


def checkpoint(name: str) -> None:
    if os.environ.get("ROSTERSYNC_FAULT_POINT") != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(os.environ.get("ROSTERSYNC_FAULT_AFTER") or 1):
        wait_here(name)


def wait_here(name: str) -> None:
    """Say where we are, then wait for SIGKILL (never returns)."""
    marker = os.environ.get("ROSTERSYNC_FAULT_FILE")
    if marker:
        # Written aside, then renamed: a test that sees the file may kill at once, and must find it whole.
        Path(f"{marker}.part").write_text(name)
        os.replace(f"{marker}.part", marker)
    while True:
        time.sleep(1)
