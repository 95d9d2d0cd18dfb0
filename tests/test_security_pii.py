"""Children's and guardians' personal data stays out of the logs, at DEBUG too (issue #9).

A roster whose first students and their guardians have distinctive names, emails, mobile numbers and
birth dates goes through what a night and a support desk do with it: a sync, a run held because those
students left, its approval, the invitations delivered, a drop that cannot be read, a search by name,
and hand edits refused for a bad or future birth date. Every log line (JSON and console) is then
searched for each value in every form it could take (a phone as typed, in E.164, as bare digits). Ids
may appear; people may not. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil

from connectors.records import GuardianLink, GuardianRecord
from connectors.sftp.drop_writer import write_oneroster_drop
from security_support import find_leaks, invoke
from sync.synthetic import generate_district

STUDENTS = [("Zebulonia", "Quillfeatherstone", "2013-02-17"), ("Ottoline", "Vandersnoot", "2014-09-03"),
            ("Peregrinus", "Wolfcastleby", "2012-12-29")]
GUARDIANS = [("Marisolveig", "Thornquist", "marisolveig.thornquist@pii-example.org", "(415) 555-0173"),
             ("Bartholomina", "Ashgrovely", "b.ashgrovely@pii-example.net", "415.555.0188"),
             ("Cassiopeo", "Drummondsworth", "cassiopeo@pii-example.com", "+1 415 555 0199")]


def distinctive_roster():
    batch = generate_district(20, seed=9)
    students = list(batch.students)
    for n, (given, family, born) in enumerate(STUDENTS):
        students[n] = dataclasses.replace(students[n], given_name=given, family_name=family, birth_date=born)
    guardians = [GuardianRecord(f"pii-g-{n}", given, family, email, phone, "cell",
                                (GuardianLink(students[n].external_id, "mother", "parent"),))
                 for n, (given, family, email, phone) in enumerate(GUARDIANS)]
    return dataclasses.replace(batch, students=students, guardians=guardians + list(batch.guardians))


def personal_values() -> dict[str, str]:
    """Every form a value could be logged in."""
    values = {}
    for given, family, born in STUDENTS:
        values.update({f"student {given}": given, f"student {family}": family, f"birth date {born}": born})
    for given, family, email, phone in GUARDIANS:
        digits = re.sub(r"\D", "", phone)[-10:]
        values.update({f"guardian {given}": given, f"guardian {family}": family, f"email {email}": email,
                       f"email user {email}": email.split("@")[0], f"phone {phone}": phone,
                       f"phone digits {digits}": digits, f"phone E.164 {digits}": f"+1{digits}",
                       f"phone line {digits}": f"{digits[3:6]}-{digits[6:]}"})
    return values


def test_personal_data_never_reaches_the_logs(cli, db_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("ROSTERSYNC_SMTP_URL", "ROSTERSYNC_SMS_URL", "ROSTERSYNC_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROSTERSYNC_OUTBOX_DIR", str(tmp_path / "outbox"))
    roster = distinctive_roster()
    folder = tmp_path / "drop"
    write_oneroster_drop(roster, folder)
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", folder)
    logs: dict[str, str] = {}

    def run(name, *args, code=0, fmt="json"):
        result = invoke(db_url, *args, fmt=fmt)
        assert result.exit_code == code, f"{name}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
        logs[name] = result.stderr
        return result

    run("sync", "sync", "maple")
    # The three leave the SIS: more than 10% of the school, so the run is held and names them in the
    # report (for the leader), then approved.
    leaving = {s.external_id for s in roster.students[:3]}
    shutil.rmtree(folder)
    write_oneroster_drop(dataclasses.replace(
        roster, students=roster.students[3:], enrollments=[e for e in roster.enrollments if e.user_id not in leaving],
        guardians=[g for g in roster.guardians if not {l.student_id for l in g.links} & leaving]), folder)
    held = run("held sync", "sync", "maple", "--json", code=3, fmt="console")
    assert "Quillfeatherstone" in held.stdout  # the report shows who would leave: the leader needs the names
    run("approve", "approve", str(json.loads(held.stdout)["run_id"]))
    run("relay", "messaging", "relay", "--once", fmt="console")
    # A drop that cannot be read: a row of the distinctive family cut off inside a quoted field.
    users = (folder / "users.csv").read_text(encoding="utf-8")
    (folder / "users.csv").write_text(users + '"pii-cut",,,true,,student,x,"Zebulonia,Quillfeatherstone\n',
                                      encoding="utf-8")
    failed = run("unreadable drop", "sync", "maple", code=1)
    assert "failed" in failed.stdout
    run("search", "directory", "search", "maple", "Quillfeatherstone", "--include-archived", fmt="console")
    students = {s["external_id"]: s for s in cli.json("directory", "export", "maple", "--format", "json")["students"]}
    active = next(s for s in students.values() if s["status"] == "active")
    run("future birth date", "student", "edit", "maple", active["id"], "--birth-date", "2099-02-17",
        "--override-lock", "typo test", code=5)
    run("bad birth date", "student", "enroll", "maple", "--school", active["school_id"], "--given-name",
        "Zebulonia", "--family-name", "Quillfeatherstone", "--birth-date", "2013-02-31", "--override-lock", "t",
        code=5)

    quiet = [name for name, text in logs.items() if not text]
    assert set(quiet) <= {"approve", "search"}, quiet  # the rest did log, so the search below means something
    assert any("run_id" in text for text in logs.values())  # ids may appear
    leaks = find_leaks({**personal_values(), "typed birth date 2099-02-17": "2099-02-17",
                        "typed birth date 2013-02-31": "2013-02-31"}, logs)
    assert leaks == [], leaks
    # The person who typed the bad value still learns what was wrong with it.
    assert "birth date [redacted] is in the future" in logs["future birth date"]
