"""Named points in a run where a test can stop the process, to prove a crash loses nothing.

Production runs never set ROSTERSYNC_FAULT_POINT, and then `checkpoint` is one dictionary lookup.
With it set to a point's name, the process writes ROSTERSYNC_FAULT_FILE (so the test knows where it
is) and waits to be killed, as a power cut or an OOM kill would stop it there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

POINTS = ("pulled", "diffed", "applied")  # after the drop is read; after the diff; after apply, before commit


def checkpoint(name: str) -> None:
    if os.environ.get("ROSTERSYNC_FAULT_POINT") != name:
        return
    marker = os.environ.get("ROSTERSYNC_FAULT_FILE")
    if marker:
        Path(marker).write_text(name)
    while True:  # wait for SIGKILL
        time.sleep(1)
