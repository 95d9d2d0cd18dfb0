"""Helpers of the load test (tests/ops/test_load.py): the rosters of two nights, the districts set up
before the load, and reading back what the editors did."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from click.testing import CliRunner

from connectors.sftp.drop_writer import write_oneroster_drop
from directory.contacts import normalize_phone
from sync.synthetic import generate_district, mutate_district_with_summary
from sync.synthetic_data import phone_for

LOCK_MESSAGE = ("error: {function} is locked: school '{school}' is synced from OneRoster CSV files (SFTP). "
                "Change the record in the student information system, or ask support to override the lock")
# Words that mean a transaction was chosen as a victim, in any log or report: never acceptable here.
VICTIM_WORDS = ("deadlock", "could not serialize", "serialization failure")


class WarmCli:
    """Like the `cli` fixture (the real command line, in process), but with one App, so one database
    engine, for all its commands: setting up and reading back twenty districts takes a few hundred
    commands, and a new engine with its connection and schema checks for each would double that time."""

    def __init__(self, url: str):
        from sync.cli_support import App

        self.url = url
        self.app = App()

    def __call__(self, *args, code: int = 0, env: dict | None = None):
        from sync.cli import cli

        result = CliRunner().invoke(cli, ["--db", self.url, *map(str, args)], obj=self.app, env=env,
                                    catch_exceptions=False)
        assert result.exit_code == code, (f"rostersync {' '.join(map(str, args))}: exit {result.exit_code}, "
                                          f"wanted {code}\nstdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def json(self, *args):
        return json.loads(self(*args).stdout)

    def close(self) -> None:
        if self.app._engine is not None:
            self.app._engine.dispose()


@dataclass
class Group:
    """One SIS roster that several districts receive (so they share every external id)."""

    name: str
    folder: Path
    night2: object  # RosterBatch
    stable: list[str]  # students unchanged on night 2 (same school, name, classes)
    targets: dict[str, str]  # guardian external id -> the new number the SIS gives them on night 2 (E.164)
    joiners: dict[str, str]  # likewise, for guardians who join during the load (the platform reports it)


def make_groups(tmp_path: Path, names: tuple[str, ...], students: int) -> list[Group]:
    """Night 1 written to each group's drop folder; night 2 kept to be written over it later.

    Night 2 is a realistic next night (students renamed, regraded, leaving, arriving) plus five
    guardians of unchanged students whose mobile number changed in the SIS. For three (the targets), in
    districts where the sync manages guardians it rewrites their rows while staff reset their email
    status; where it does not, staff edit those very numbers by hand. The other two join (sign up) during
    the load: a run must never write the SIS's number over a parent who joined before it decided.
    """
    groups = []
    for g, name in enumerate(names):
        night1 = generate_district(students, seed=200 + g, name=name)
        night2, summary = mutate_district_with_summary(night1, seed=300 + g, changed=0.15, gone=0.05, new=0.1)
        unstable = set(summary.changed) | set(summary.new) | set(summary.gone)
        stable = sorted(s.external_id for s in night2.students if s.external_id not in unstable)
        before = {x.external_id: x for x in night1.guardians}
        eligible = sorted((x for x in night2.guardians if x.external_id and x.email and x.phone
                           and x.phone_type == "cell" and before.get(x.external_id) == x
                           and all(link.student_id in stable and link.contact_type != "emergency"
                                   for link in x.links)), key=lambda x: x.external_id)
        assert len(eligible) >= 5, f"{name}: too few guardians of unchanged students to edit"
        new_numbers = {x.external_id: phone_for(300_000 + 10 * g + k) for k, x in enumerate(eligible[:5])}
        night2.guardians = [replace(x, phone=new_numbers[x.external_id]) if x.external_id in new_numbers else x
                            for x in night2.guardians]
        folder = tmp_path / f"drop-{name.lower()}"
        write_oneroster_drop(night1, folder)
        e164 = {k: normalize_phone(v, "US") for k, v in new_numbers.items()}
        groups.append(Group(name, folder, night2, stable, {x.external_id: e164[x.external_id] for x in eligible[:3]},
                            {x.external_id: e164[x.external_id] for x in eligible[3:5]}))
    return groups


@dataclass
class Setup:
    """What one district looks like when the load starts (directory row ids)."""

    slug: str
    group: Group
    manages_guardians: bool
    school: str  # the synced school's name
    synced_school: int
    hand_school: int
    invitation: int  # the hand-made guardian's invitation, already sent once
    targets: dict[int, str]  # guardian row id -> external id
    stable_students: dict[int, str]  # row id -> external id
    synced_guardian: int  # a synced guardian (locked edit attempts in districts whose sync manages guardians)
    joiners: dict[int, str]  # guardian row id -> external id
    phones: dict[int, str]  # guardian row id -> number before the load

    def editor_plan(self) -> dict:
        return {"slug": self.slug, "manages_guardians": self.manages_guardians, "synced_school": self.synced_school,
                "hand_school": self.hand_school, "invitation": self.invitation,
                "reset_targets": sorted(self.targets), "phone_targets": sorted(self.targets),
                "stable_students": sorted(self.stable_students)[:8], "synced_guardian": self.synced_guardian,
                "joiners": sorted(self.joiners)}


def read_results(files: list[Path]) -> list[dict]:
    """Every command the editors ran, in the order each editor ran them."""
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def overlapping(ops: list[dict], run) -> list[dict]:
    """The commands on the run's district that ran while the run was in progress."""
    start, end = run.started.timestamp(), run.finished.timestamp()
    return [op for op in ops if op["district"] == run.district and op["t0"] < end and op["t1"] > start]
