"""`rostersync serve`, a real process: districts sync on their schedules, schedules are re-read while it
runs, a paused district is left alone, and SIGTERM lets a running sync commit before the process ends."""

from __future__ import annotations

import signal

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop
from ops_helpers import ROSTERSYNC, Process, assert_no_overlap, runs, wait_for
from sync.schedule import parse_schedule, previous_slot
from sync.synthetic import generate_district

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not ROSTERSYNC.exists(), reason="console script not installed (pip install -e .)")]


def test_serve_runs_schedules_and_stops_cleanly_on_sigterm(cli, db_url, tmp_path):
    write_oneroster_drop(generate_district(20, seed=1), tmp_path / "small")
    write_oneroster_drop(generate_district(2000, seed=2), tmp_path / "big")
    for slug in ("quick", "idle"):
        cli("district", "add", slug, "--name", slug, "--source", "oneroster-csv", "--path", tmp_path / "small")
    cli("district", "set", "quick", "schedule", "every 2s")
    cli("pause", "idle", "--reason", "summer")

    serve = Process(db_url, ["serve", "--reload-every", "0.5", "--relay-every", "0"], tmp_path, "serve")
    try:
        wait_for(lambda: "serving" in serve.stdout(), 30, "serve to start", [serve])
        wait_for(lambda: len(runs(db_url).get("quick", [])) >= 4, 30, "four runs of quick", [serve])

        # Changed and added while serving: re-read within a reload.
        cli("district", "set", "quick", "schedule", "every 1h")
        cli("district", "add", "late", "--name", "Late", "--source", "oneroster-csv", "--path", tmp_path / "big")
        running = wait_for(lambda: [r for r in runs(db_url).get("late", []) if r.status == "running"], 30,
                           "the new district's first run to start", [serve])
        serve.signal(signal.SIGTERM)  # mid-run: it must finish (commit) before the process ends
        assert serve.wait(timeout=120) == 0, serve.err.read_text()[-3000:]
    finally:
        serve.kill()

    out = serve.stdout()
    assert "waiting for 1 running sync(s) to finish" in out and out.rstrip().endswith("stopped")
    late = runs(db_url)["late"]
    assert [(r.id, r.status) for r in late] == [(running[0].id, "succeeded")]
    assert cli.json("status", "late", "--json")[0]["in_progress"] is False  # the lease was released
    assert len(cli.json("directory", "export", "late", "--format", "json")["students"]) == 2000

    quick = runs(db_url)["quick"]
    assert {r.trigger for r in quick} == {"schedule"} and {r.status for r in quick} == {"succeeded"}
    assert_no_overlap(quick)
    every2s = parse_schedule("every 2s")
    slots = [previous_slot(every2s, "quick", r.started) for r in quick[1:]]  # the first: owed at start
    assert len(set(slots)) == len(slots)  # never two runs for one slot
    assert "idle" not in runs(db_url)  # paused: never synced

    events = serve.events()
    rescheduled = [e for e in events if e["event"] == "district_scheduled" and e.get("district") == "quick"]
    assert [e["schedule"] for e in rescheduled] == ["every 2s", "every 1h"]
    started = [e for e in events if e["event"] == "sync_started"]
    assert {(e["district"], e["run_id"]) for e in started} == {(r.district, r.id) for rs in runs(db_url).values()
                                                                for r in rs}
    assert all(e["command"] == "serve" and e["request_id"] for e in started)
    assert len({e["request_id"] for e in started}) == len(started)  # one request id per run
