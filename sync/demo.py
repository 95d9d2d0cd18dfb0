"""`rostersync demo`: the main job on the embedded default, with a generated district.

Night 1: a realistic district (a few schools, hundreds of students, guardians shared by siblings, and a
few bad rows a real SIS export has) is dropped as OneRoster CSV in a local folder and synced into SQLite.
Night 2: the drop changes (a student leaves, one moves school, a guardian changes number) and is synced
again. The HTML report of each night is written next to the database.

`rostersync demo --sandbox` shows the API sources instead: the same kind of district is served by the
local Clever and OneRoster (ClassLink) fakes of ``sync.sandbox`` on 127.0.0.1, three districts are synced
from them in full, then one student is renamed and one leaves on every server, and the second syncs read
only those changes (Clever's events feed, OneRoster's dateLastModified filter).
"""

from __future__ import annotations

import csv
import json
import os
import random
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from connectors.records import RosterBatch
from connectors.sftp.drop_writer import write_oneroster_drop
from directory.audit import Actor
from directory.db import session_factory, transaction
from directory.districts import create_district
from directory.errors import ConfigError
from sync.report_render import render_html, trend_item
from sync.run import RunOutcome, run_sync
from sync.sources import validate_source
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
    # Night 2 is worked out first (it is pure): a district too small to show it is refused before night 1,
    # rather than crashing after it with a half-run demo.
    try:
        changed, what = demo_changes(batch)
    except ValueError as exc:
        raise ConfigError(f"the demo's second night cannot be shown for a district of {students} students "
                          f"({exc}); use --students 150 or more, or --sandbox") from None
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

    shutil.rmtree(drop)
    write_oneroster_drop(changed, drop)
    echo("night 2: the SIS changed:")
    for change in what:
        echo(f"  - {change}")
    second = run_sync(engine, "demo", requested_by="demo")
    trend.append(trend_item(second.report))
    report2 = write_report(folder, second, trend)
    echo_summary(echo, second, report2)
    deliver_to_outbox(engine, folder, echo)
    echo(f"open {report2} in a browser to read the school leader's report; "
         f"try `rostersync --db sqlite:///{folder / 'rostersync.db'} runs demo`")
    return second.exit_code


# Where the sandbox's secrets are put for the run: the districts name these variables, as a real
# district's configuration does, so the sync reads its secrets exactly the way it does in production.
SANDBOX_CLEVER_TOKEN_ENV = "ROSTERSYNC_SANDBOX_CLEVER_TOKEN"
SANDBOX_CLIENT_ID_ENV = "ROSTERSYNC_SANDBOX_ONEROSTER_CLIENT_ID"
SANDBOX_CLIENT_SECRET_ENV = "ROSTERSYNC_SANDBOX_ONEROSTER_CLIENT_SECRET"


@dataclass
class _SandboxDistrict:
    slug: str
    name: str
    source: str
    config: dict
    api: str  # what serves it, for the lines the demo prints


def run_sandbox_demo(engine, folder: Path, students: int, seed: int, echo) -> int:
    """`rostersync demo --sandbox`: one generated roster served by the Clever and OneRoster 1.1 / 1.2 fakes
    on 127.0.0.1, three districts synced from them, then a rename and a leaver synced incrementally.

    Returns 0 when every sync applied, else the exit code of the last sync that did not (a failure on the
    first district must not be hidden by a success on the last)."""
    # Imported here, as the command line imports this module: only the sandbox needs the fakes.
    from sync.sandbox.clever_json import to_clever
    from sync.sandbox.clever_server import CleverServer
    from sync.sandbox.oneroster_json import to_oneroster_json
    from sync.sandbox.oneroster_server import OneRosterServer, iso

    batch = generate_district(students, seed=seed, name="Maple Valley")
    # Random per run: nothing outside this process ever knows them, and they are never printed.
    values = {SANDBOX_CLEVER_TOKEN_ENV: secrets.token_urlsafe(24),
              SANDBOX_CLIENT_ID_ENV: f"rostersync-sandbox-{secrets.token_hex(4)}",
              SANDBOX_CLIENT_SECRET_ENV: secrets.token_urlsafe(24)}
    saved = {name: os.environ.get(name) for name in values}
    servers: list = []
    codes: list[int] = []
    try:
        os.environ.update(values)
        clever = CleverServer(to_clever(batch), values[SANDBOX_CLEVER_TOKEN_ENV]).start()
        servers.append(clever)
        # A real district's events feed has history from before the first sync. An empty feed gives the
        # full pull no event to continue from, and the next pull would be a full one again.
        for school in clever.data["schools"]:
            clever.record_event("schools.created", school)
        districts = [_SandboxDistrict("sandbox-clever", "Maple Valley (Clever sandbox)", "clever",
                                      {"clever_token_env": SANDBOX_CLEVER_TOKEN_ENV, "clever_base_url": clever.url},
                                      f"Clever API v3.0 at {clever.url}, token in ${SANDBOX_CLEVER_TOKEN_ENV}")]
        oneroster: list[OneRosterServer] = []
        for version, auth in (("1.1", "OAuth 1.0a signatures"), ("1.2", "OAuth 2 tokens")):
            # Started at once, before anything can fail: stop() waits for the serving thread, so a server
            # that was made but never started would hang the cleanup below.
            server = OneRosterServer(version, values[SANDBOX_CLIENT_ID_ENV], values[SANDBOX_CLIENT_SECRET_ENV]).start()
            servers.append(server)
            oneroster.append(server)
            # Last modified a day ago: the changes made below are newer than the first pull's cursor
            # whatever the date, as they would be in a SIS.
            server.load(to_oneroster_json(batch, version, root=server.root, stamp=iso(time.time() - 86_400)))
            config = {"oneroster_url": server.url, "oneroster_version": version,
                      "client_id_env": SANDBOX_CLIENT_ID_ENV, "client_secret_env": SANDBOX_CLIENT_SECRET_ENV}
            if version == "1.2":
                config["token_url"] = server.token_url
            districts.append(_SandboxDistrict(
                f"sandbox-classlink-{version.replace('.', '')}", f"Maple Valley (ClassLink OneRoster {version} sandbox)",
                "classlink", config, f"ClassLink OneRoster {version} ({auth}) at {server.root}, client id and "
                f"secret in ${SANDBOX_CLIENT_ID_ENV} and ${SANDBOX_CLIENT_SECRET_ENV}"))
        with transaction(session_factory(engine)) as s:
            for d in districts:
                # validated as `district add` would, so the sandbox cannot accept settings a user could not
                config = validate_source(d.source, d.config)
                create_district(s, Actor("user", "demo"), d.slug, d.name, d.source, config)

        echo(f"sandbox: generated {len(batch.schools)} schools, {len(batch.students)} students, "
             f"{len(batch.guardians)} guardians, served by local API fakes on 127.0.0.1 (random secrets for this "
             "run, in this process's environment only):")
        for d in districts:
            echo(f"  - {d.slug}: {d.api}")
        trends: dict[str, list[dict]] = {d.slug: [] for d in districts}

        def sync_all() -> Path:
            path = folder
            for d in districts:
                outcome = run_sync(engine, d.slug, requested_by="demo")
                codes.append(outcome.exit_code)
                trends[d.slug].append(trend_item(outcome.report))
                path = write_report(folder, outcome, trends[d.slug])
                echo(f"{d.slug}: {(outcome.report.get('drop') or {}).get('source') or 'nothing pulled'}")
                echo_summary(echo, outcome, path)
            return path

        echo("night 1: a full pull of each district")
        sync_all()

        # Two students of the district, the same on every server: one takes a new family name, one leaves.
        renamed, leaver = random.Random(f"{seed}:sandbox").sample(batch.students, 2)
        new_family = f"{renamed.family_name}-Okafor"
        clever.change_student(renamed.external_id, last=new_family)
        clever.remove_student(leaver.external_id)
        for server in oneroster:
            server.touch("users", renamed.external_id, familyName=new_family)
            server.delete_user(leaver.external_id)
        echo("night 2: the SIS changed, on every server:")
        echo(f"  - {renamed.given_name} {renamed.family_name} (grade {renamed.grade}) is now "
             f"{renamed.given_name} {new_family}.")
        echo(f"  - {leaver.given_name} {leaver.family_name} (grade {leaver.grade}) left the district.")
        echo("  each sync reads only what changed: Clever's events, OneRoster's records modified since the last pull")
        last_report = sync_all()
        echo(f"open {last_report} in a browser to read the school leader's report; "
             f"try `rostersync --db sqlite:///{folder / 'rostersync.db'} runs sandbox-clever`")
    finally:
        for server in servers:
            server.stop()
        # The secrets die with the fakes: a process that goes on (a test run) must not keep them.
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return next((code for code in reversed(codes) if code), 0)


def echo_summary(echo, outcome: RunOutcome, report_path: Path) -> None:
    from sync.cli_sync import summary_lines

    for line in summary_lines(outcome.report):
        echo(line)
    echo(f"  report: {report_path}")


def deliver_to_outbox(engine, folder: Path, echo) -> None:
    """Send the queued invitations the way a deployment without SMTP or SMS does: as files in an outbox
    folder. The demo always does this (never a configured server): its families are made up."""
    from messaging.config import load_config
    from messaging.relay import Relay

    config = folder / "messaging.toml"
    # json.dumps quotes and escapes a path the way a TOML basic string wants it
    config.write_text(f"[messaging]\noutbox_dir = {json.dumps(str(folder / 'outbox'))}\n"
                      f"delivery_log = {json.dumps(str(folder / 'delivery.log'))}\n", encoding="utf-8")
    result = Relay(engine, load_config({"ROSTERSYNC_CONFIG": str(config)})).run_once().as_dict()
    echo(f"invitations: {result['total_sent']} messages written to {folder / 'outbox'} "
         f"({result['sent']['email']} emails, {result['sent']['sms']} texts; no SMTP or SMS server is used)")
