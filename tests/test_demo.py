"""`rostersync demo`, run through the command line as a user would: the file-drop demo, the sandbox demo
(Clever and ClassLink API fakes on 127.0.0.1), and the folder guard. Asserts what the user sees: the exit
code, the summary lines of each run, the HTML reports, and the directory the runs left behind."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.cli import cli

# A user's own database setting must not redirect the demo away from its folder.
ENV = {"ROSTERSYNC_DATABASE_URL": None}
SANDBOX = ("sandbox-clever", "sandbox-classlink-11", "sandbox-classlink-12")


def rostersync(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], env=ENV, catch_exceptions=False)


def runs(output: str) -> dict[int, dict]:
    """Each run in the demo's output: the line printed just before it (the sandbox names the district and
    what was pulled there), its status, and the indented summary lines under it."""
    out: dict[int, dict] = {}
    lines = output.splitlines()
    current = None
    for i, line in enumerate(lines):
        match = re.match(r"run (\d+) (\w+): ", line)
        if match:
            current = out[int(match.group(1))] = {"before": lines[i - 1], "status": match.group(2), "lines": []}
        elif current is not None and line.startswith("  "):
            current["lines"].append(line.strip())
        else:
            current = None
    return out


def record_lines(run: dict) -> list[str]:
    """The lines that count records, without the report path, notes and problem counts."""
    return [line for line in run["lines"] if re.match(r"[a-z ]+: \d", line)]


def reports(folder: Path, output: str) -> list[Path]:
    paths = [Path(line.split("report: ", 1)[1]) for line in output.splitlines() if line.startswith("  report: ")]
    assert paths and all(p.parent == folder for p in paths)
    return paths


def export(folder: Path, slug: str) -> dict:
    result = rostersync("--db", f"sqlite:///{folder / 'rostersync.db'}", "directory", "export", slug)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_the_file_demo_syncs_a_drop_then_the_next_nights_changes(tmp_path):
    folder = tmp_path / "demo"
    result = rostersync("demo", "--dir", folder, "--students", 150)
    assert result.exit_code == 0, result.output + result.stderr
    out = result.stdout
    by_run = runs(out)
    assert sorted(by_run) == [1, 2]

    night1 = by_run[1]
    assert night1["status"] == "succeeded"
    assert "students: 150 created" in night1["lines"]
    # the export's bad rows are reported as problems, and the run still applies everything else
    assert any(line.startswith("3 error(s)") for line in night1["lines"])

    night2 = by_run[2]
    assert night2["status"] == "succeeded"
    assert re.search(r"^  - .+ left .+\.$", out, re.M) and re.search(r"^  - .+ moved from .+ to .+\.$", out, re.M)
    assert "students: 1 updated, 1 archived" in night2["lines"]  # the mover, the leaver
    assert "guardians: 1 updated" in night2["lines"]  # the new phone number
    assert not [line for line in record_lines(night2) if "created" in line]

    paths = reports(folder, out)
    assert [p.name for p in paths] == ["report-run-1.html", "report-run-2.html"]
    for path in paths:
        assert "Maple Valley Demo District" in path.read_text(encoding="utf-8")


def test_the_file_demo_refuses_a_district_too_small_for_its_second_night(tmp_path):
    # one school: nobody can move school on night 2, so the demo says so before night 1, not with a crash
    folder = tmp_path / "demo"
    result = rostersync("demo", "--dir", folder, "--students", 120)
    assert result.exit_code == 2
    assert "--students 150 or more" in result.stderr and "Traceback" not in result.output + result.stderr
    assert not list(folder.glob("report-*.html")) and not (folder / "drop").exists()


@pytest.mark.slow
def test_the_sandbox_demo_syncs_three_api_districts_then_only_what_changed(tmp_path):
    folder = tmp_path / "demo"
    result = rostersync("demo", "--sandbox", "--dir", folder, "--students", 120)
    assert result.exit_code == 0, result.output + result.stderr
    out = result.stdout
    by_run = runs(out)
    assert sorted(by_run) == [1, 2, 3, 4, 5, 6]

    # night 1: a full pull of each district, each with the same 120 students
    for run_id, slug in zip((1, 2, 3), SANDBOX):
        run = by_run[run_id]
        assert run["before"].startswith(f"{slug}: ") and "full pull" in run["before"]
        assert run["status"] == "succeeded"
        assert "students: 120 created" in run["lines"]

    # night 2: one student renamed, one gone, on every server; each sync reads and applies only that
    renamed = re.search(r"^  - (.+) \(grade \w+\) is now (.+)\.$", out, re.M)
    assert renamed and re.search(r"^  - .+ left the district\.$", out, re.M)
    new_name = renamed.group(2)
    assert by_run[4]["before"].startswith("sandbox-clever: Clever events after ")  # the events feed, not a pull
    for run_id, slug in zip((4, 5, 6), SANDBOX):
        run = by_run[run_id]
        assert run["before"].startswith(f"{slug}: ")
        if slug != "sandbox-clever":
            assert "changes since" in run["before"] and "2 students" in run["before"]
        assert run["status"] == "succeeded"
        counted = record_lines(run)
        assert "students: 1 updated, 1 archived" in counted
        assert not [line for line in counted if line.split(":")[0] in ("schools", "classrooms", "teachers")]
        assert not [line for line in counted if "created" in line or "restored" in line]

    paths = reports(folder, out)
    assert [p.name for p in paths] == [f"report-run-{n}.html" for n in range(1, 7)]
    names = {"sandbox-clever": "Maple Valley (Clever sandbox)",
             "sandbox-classlink-11": "Maple Valley (ClassLink OneRoster 1.1 sandbox)",
             "sandbox-classlink-12": "Maple Valley (ClassLink OneRoster 1.2 sandbox)"}
    for path, slug in zip(paths, SANDBOX * 2):
        assert names[slug] in path.read_text(encoding="utf-8")

    # the directory each district was left with: 119 active students, one of them renamed
    for slug in SANDBOX:
        students = export(folder, slug)["students"]
        assert sum(s["status"] == "active" for s in students) == 119
        assert sum(s["status"] == "archived" for s in students) == 1
        assert [s["status"] for s in students if f"{s['given_name']} {s['family_name']}" == new_name] == ["active"]
    # the run's secrets went with the fakes
    assert not [name for name in os.environ if name.startswith("ROSTERSYNC_SANDBOX_")]


@pytest.mark.parametrize("mode", [[], ["--sandbox"]], ids=["file", "sandbox"])
def test_the_demo_never_wipes_a_folder_it_did_not_make(tmp_path, mode):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("four years of work\n")
    result = rostersync("demo", *mode, "--dir", folder, "--students", 150)
    assert result.exit_code == 2
    assert "was not made by `rostersync demo`" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]
    assert (folder / "thesis.txt").read_text() == "four years of work\n"
