"""A sync killed mid-run (SIGKILL, as a power cut or the OOM killer would) loses nothing: the directory
is untouched, and the next run takes over the lease and converges, with no invitation doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop
from sync.faults import POINTS
from sync.synthetic import generate_district

ROSTERSYNC = Path(sys.executable).parent / "rostersync"


def comparable(data: dict) -> dict:
    """The directory without row ids and timestamps, so two databases can be compared."""
    students = {s["id"]: s["external_id"] for s in data["students"]}
    guardians = {g["id"]: g["external_id"] for g in data["guardians"]}
    return {
        "students": sorted((s["external_id"], s["status"], s["given_name"]) for s in data["students"]),
        "guardians": sorted((g["external_id"], g["status"], g["email"] or "", g["phone"] or "")
                            for g in data["guardians"]),
        "links": sorted((guardians[l["guardian_id"]], students[l["student_id"]]) for l in data["links"]),
        "classrooms": sorted((c["external_id"], len(c["student_ids"])) for c in data["classrooms"]),
    }


@pytest.mark.skipif(not ROSTERSYNC.exists(), reason="console script not installed (pip install -e .)")
@pytest.mark.parametrize("point", POINTS)
def test_killed_run_leaves_nothing_half_done_and_the_rerun_converges(cli, db_url, tmp_path, point):
    roster = generate_district(80, seed=3)
    write_oneroster_drop(roster, tmp_path / "drop")
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    before = cli.json("directory", "export", "maple", "--format", "json")

    marker = tmp_path / "reached"
    env = {**os.environ, "ROSTERSYNC_FAULT_POINT": point, "ROSTERSYNC_FAULT_FILE": str(marker)}
    proc = subprocess.Popen([str(ROSTERSYNC), "--db", db_url, "sync", "maple"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never reached the fault point"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert marker.read_text() == point
    assert cli.json("directory", "export", "maple", "--format", "json") == before  # nothing half-applied

    report = cli.json("sync", "maple", "--json")  # takes over the dead holder's lease
    assert report["status"] == "succeeded"
    runs = cli.json("runs", "maple", "--json")
    assert [r["status"] for r in runs] == ["succeeded", "failed"]  # the killed run is marked interrupted
    after = cli.json("directory", "export", "maple", "--format", "json")
    assert len(after["students"]) == len(roster.students)
    assert report["invitations_queued"] == report["counts"]["guardians"]["created"]

    # The same drop synced without a crash, in another district, gives the same directory.
    cli("district", "add", "twin", "--name", "Twin", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    cli("sync", "twin")
    assert comparable(after) == comparable(cli.json("directory", "export", "twin", "--format", "json"))
    # And nothing is applied twice: a further run finds the drop taken.
    assert "already applied" in cli.json("sync", "maple", "--json")["notes"][0]
