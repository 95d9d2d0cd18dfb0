"""One manual editor of the load test (tests/ops/test_load.py): a process of its own that works through
the real command line on the districts it is given, for as long as the load lasts.

    python load_editor.py PLAN.json

It writes one JSON line per command to the plan's ``results`` file: the command, the exit code it
wanted, the exit code, stdout and stderr it got, and when it ran. It decides nothing about success;
the test reads the lines and checks them against the final directory and the audit log.

Two things make the edits meet the syncs: the editor prefers districts whose sync run is in progress at
that moment (read from ``sync_runs``), and it keeps going until the test creates the ``stop`` file. Then
it runs once each kind of command it has not run yet, so every kind is checked however short the load.
Every value it writes (an email, a phone number, a name) is used by nobody else, so each edit can be
found again afterwards. It goes through the command line in process (click's runner, as the test
suite's ``cli`` fixture does), one process per editor.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from directory.db import make_engine
from sync.cli import cli
from sync.cli_support import App
from sync.synthetic_data import phone_for

ON_CYCLE = ("enroll_hand", "join", "add_hand_guardian", "resend", "locked_enroll", "reset", "announce",
            "locked_archive", "locked_guardian_edit", "override_add", "locked_guardian_add")
OFF_CYCLE = ("enroll_hand", "add_hand_guardian", "phone_edit", "resend", "locked_enroll", "reset",
             "add_synced_guardian", "announce", "locked_archive", "phone_edit")

# Between two commands: staff do not type thirty commands a second, and the runs need the CPU too (the
# test runs on two cores with three workers and three editors).
PAUSE = 0.03


class District:
    def __init__(self, plan: dict):
        self.__dict__.update(plan)
        self.cycle = ON_CYCLE if self.manages_guardians else OFF_CYCLE
        self.done = 0  # commands run on it
        self.offset = 0  # where in the cycle it starts (spread, so a short load still sees every kind)
        self.hand_student: int | None = None  # the newest hand-made student still without a guardian
        self.resets = list(self.reset_targets)
        self.joining = list(self.joiners)


class Editor:
    def __init__(self, plan: dict):
        self.db = plan["db"]
        self.name = plan["name"]
        self.serial = plan["serial"]  # this editor's own block of phone numbers
        self.districts = [District(d) for d in plan["districts"]]
        for i, d in enumerate(self.districts):
            d.offset = 3 * i
        self.kinds_done: set[str] = set()
        self.out = Path(plan["results"]).open("a", encoding="utf-8")
        self.stop = Path(plan["stop"])
        self.rng = random.Random(plan["name"])
        self.n = 0
        self.runner = CliRunner()
        self.engine = make_engine(self.db)
        # One App for all its commands: the same command code as a process per command runs, without
        # paying each time for a new engine and the schema check (the load is the syncs, not start-up).
        self.app = App()

    # -- values nobody else writes -------------------------------------------------------------------
    def unique(self) -> int:
        self.n += 1
        return self.n

    def email(self, d: District, what: str) -> str:
        return f"{what}.{self.name}.{d.slug}.{self.unique()}@load.example.org"

    def phone(self) -> str:
        return phone_for(self.serial + self.unique())

    # -- choosing where to edit ------------------------------------------------------------------------
    def running(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.scalars(sa.text("SELECT d.slug FROM sync_runs r JOIN districts d ON d.id = r.district_id "
                                            "WHERE r.status = 'running'")))

    def pick(self) -> District:
        """One of ours being synced right now if there is one, else any; the one edited least."""
        busy = self.running()
        pool = [d for d in self.districts if d.slug in busy] or self.districts
        least = min(d.done for d in pool)
        return self.rng.choice([d for d in pool if d.done == least])

    # -- one command ---------------------------------------------------------------------------------
    def run(self, d: District, op: str, args: list, expect: int, **meta) -> dict | None:
        t0 = time.time()
        result = self.runner.invoke(cli, ["--db", self.db, *map(str, args)], obj=self.app, catch_exceptions=True)
        t1 = time.time()
        crash = None
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            crash = f"{type(result.exception).__name__}: {result.exception}"
        record = {"editor": self.name, "district": d.slug, "op": op, "args": [str(a) for a in args],
                  "expect": expect, "exit": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                  "crash": crash, "t0": t0, "t1": t1, **meta}
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()
        self.kinds_done.add(op)
        if result.exit_code == 0 and "--json" in args:
            return json.loads(result.stdout)
        return None

    def step(self, d: District, op: str | None = None) -> None:
        if op is None:
            op = d.cycle[(d.offset + d.done) % len(d.cycle)]
            d.done += 1
        n = self.unique()
        slug = d.slug
        if op == "enroll_hand":  # a hand-made school is open to every manual function
            out = self.run(d, op, ["student", "enroll", slug, "--school", d.hand_school, "--given-name", f"Hand{n}",
                                   "--family-name", f"Editor {self.name}", "--json"], 0)
            d.hand_student = out["id"] if out else None
        elif op == "add_hand_guardian" and d.hand_student is not None:
            student, d.hand_student = d.hand_student, None
            self.run(d, op, ["guardian", "add", slug, student, "--email", self.email(d, "hand"), "--phone",
                             self.phone(), "--given-name", "Hand", "--family-name", f"Guardian{n}", "--json"], 0,
                     student=student)
        elif op == "resend":  # requeue and deliver (to the outbox) the hand-made guardian's invitation
            self.run(d, op, ["invitations", "resend", slug, d.invitation, "--json"], 0, invitation=d.invitation)
        elif op == "reset" and d.resets:
            guardian = d.resets.pop(0)
            self.run(d, op, ["contact", "reset", slug, guardian, "--channel", "email", "--json"], 0,
                     guardian=guardian)
        elif op == "join" and d.joining:  # what the platform reports when a parent signs up
            guardian = d.joining.pop(0)
            self.run(d, op, ["guardian", "joined", slug, guardian], 0, guardian=guardian)
        elif op == "announce":
            student = self.rng.choice(d.stable_students)
            self.run(d, op, ["announce", slug, "--subject", f"Load {self.name} {n}", "--message",
                             "The school is closed on Friday.", "--student", student, "--queue-only", "--json"], 0,
                     student=student)
        elif op == "phone_edit":  # the sync of this district does not manage guardians
            guardian = self.rng.choice(d.phone_targets)
            self.run(d, op, ["guardian", "edit", slug, guardian, "--phone", self.phone(), "--json"], 0,
                     guardian=guardian)
        elif op == "add_synced_guardian":  # likewise: a guardian added by hand to a synced student
            student = self.rng.choice(d.stable_students)
            self.run(d, op, ["guardian", "add", slug, student, "--email", self.email(d, "aunt"),
                             "--relationship", "aunt", "--json"], 0, student=student)
        elif op == "override_add":  # support overrides the lock: the link is made by hand, the sync keeps it
            student = self.rng.choice(d.stable_students)
            self.run(d, op, ["guardian", "add", slug, student, "--email", self.email(d, "support"),
                             "--relationship", "grandparent", "--override-lock", f"family asked, call {n}",
                             "--json"], 0, student=student)
        elif op == "locked_enroll":
            self.run(d, op, ["student", "enroll", slug, "--school", d.synced_school, "--given-name", "Locked",
                             "--family-name", f"Attempt{n}"], 8, function="enroll student")
        elif op == "locked_archive":
            student = self.rng.choice(d.stable_students)
            self.run(d, op, ["student", "archive", slug, student], 8, function="archive student", student=student)
        elif op == "locked_guardian_edit":
            self.run(d, op, ["guardian", "edit", slug, d.synced_guardian, "--phone", self.phone()], 8,
                     function="edit guardian", guardian=d.synced_guardian)
        elif op == "locked_guardian_add":
            student = self.rng.choice(d.stable_students)
            self.run(d, op, ["guardian", "add", slug, student, "--email", self.email(d, "locked")], 8,
                     function="add guardian", student=student)

    def complete(self) -> None:
        """After the load: each kind of command this editor has not run yet, once, so every kind is checked
        however short the load was (on a fast machine twenty small runs take a few seconds)."""
        for d in self.districts:
            for op in d.cycle:
                if op in self.kinds_done:
                    continue
                if op == "add_hand_guardian" and d.hand_student is None:
                    self.step(d, "enroll_hand")
                self.step(d, op)

    def work(self) -> None:
        try:
            while not self.stop.exists():
                self.step(self.pick())
                time.sleep(PAUSE)
            self.complete()
        finally:
            self.out.close()
            self.engine.dispose()
            if self.app._engine is not None:
                self.app._engine.dispose()


if __name__ == "__main__":
    Editor(json.loads(Path(sys.argv[1]).read_text())).work()
