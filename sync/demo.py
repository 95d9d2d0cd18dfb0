"""`rostersync demo`: the main job on the embedded default, with a generated district.

Night 1: a realistic district (a few schools, hundreds of students, guardians shared by siblings, and a
few bad rows a real SIS export has) is dropped as OneRoster CSV in a local folder and synced into SQLite.
Night 2: the drop changes (a student leaves, one moves school, a guardian changes number) and is synced
again. The HTML report of each night is written next to the database.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from connectors.records import RosterBatch
from connectors.sftp.drop_writer import write_oneroster_drop
from directory.audit import Actor
from directory.db import session_factory, transaction
from directory.districts import create_district
from sync.report_render import render_html, trend_item
from sync.run import RunOutcome, run_sync
from sync.synthetic import demo_changes, generate_district

MARKER = ".rostersync-demo"


def prepare_folder(folder: Path) -> None:
    """Start clean, but never wipe a folder the demo did not make."""
    if folder.exists():
        if not (folder / MARKER).exists():
            raise FileExistsError(f"{folder} exists and was not made by `rostersync demo`; choose another --dir")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by rostersync demo; removed and remade by the next demo run\n")


def add_bad_rows(drop: Path, batch: RosterBatch) -> list[str]:
    """Rows a real SIS export has: each must become a report entry, never a crashed run."""
    users = drop / "users.csv"
    with users.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    student = batch.students[0]

    def row(**values) -> list[str]:
        return [values.get(column, "") for column in header]

    rows = [
        row(sourcedId="bad-status-1", status="inactive", enabledUser="true", role="student", givenName="Ines",
            familyName="Status", orgSourcedIds=student.school_id, username="ines.status"),
        row(sourcedId="bad-parent-1", enabledUser="true", role="parent", givenName="Nadia", familyName="Nomail",
            email="nadia-at-example.org", orgSourcedIds=student.school_id, username="nadia.nomail",
            agentSourcedIds=student.external_id),
        row(sourcedId=student.external_id, enabledUser="true", role="student", givenName="Copy",
            familyName="Duplicate", orgSourcedIds=student.school_id, username="dup"),
    ]
    with users.open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    with (drop / "enrollments.csv").open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    with (drop / "enrollments.csv").open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerow(
            row(sourcedId="bad-enrollment-1", classSourcedId="no-such-class", schoolSourcedId=student.school_id,
                userSourcedId=student.external_id, role="student"))
    return ["a student with status 'inactive'", "a parent whose email has no @ and no phone",
            "a student id that appears twice", "an enrollment in a class that does not exist"]


def write_report(folder: Path, outcome: RunOutcome, trend: list[dict]) -> Path:
    path = folder / f"report-run-{outcome.run_id}.html"
    path.write_text(render_html(outcome.report, trend), encoding="utf-8")
    return path


def run_demo(engine, folder: Path, students: int, seed: int, echo) -> int:
    """Returns the exit code of the last sync."""
    drop = folder / "drop"
    batch = generate_district(students, seed=seed, name="Maple Valley")
    write_oneroster_drop(batch, drop)
    bad = add_bad_rows(drop, batch)
    echo(f"night 1: generated {len(batch.schools)} schools, {len(batch.students)} students, "
         f"{len(batch.guardians)} guardians in {drop} (OneRoster CSV), with bad rows:")
    for row in bad:
        echo(f"  - {row}")
    with transaction(session_factory(engine)) as s:
        create_district(s, Actor("user", "demo"), "demo", "Maple Valley Demo District", "oneroster-csv",
                        {"path": str(drop.resolve())})
    trend: list[dict] = []
    first = run_sync(engine, "demo", requested_by="demo")
    trend.append(trend_item(first.report))
    report1 = write_report(folder, first, trend)
    echo_summary(echo, first, report1)

    changed, what = demo_changes(batch)
    shutil.rmtree(drop)
    write_oneroster_drop(changed, drop)
    echo("night 2: the SIS changed:")
    for change in what:
        echo(f"  - {change}")
    second = run_sync(engine, "demo", requested_by="demo")
    trend.append(trend_item(second.report))
    report2 = write_report(folder, second, trend)
    echo_summary(echo, second, report2)
    echo(f"open {report2} in a browser to read the school leader's report; "
         f"try `rostersync --db sqlite:///{folder / 'rostersync.db'} runs demo`")
    return second.exit_code


def echo_summary(echo, outcome: RunOutcome, report_path: Path) -> None:
    from sync.cli_sync import summary_lines

    for line in summary_lines(outcome.report):
        echo(line)
    echo(f"  report: {report_path}")
