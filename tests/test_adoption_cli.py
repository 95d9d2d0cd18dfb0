"""First sync into a school that already has hand-made students: matches adopted, the rest reported."""

from __future__ import annotations

import dataclasses

from connectors.sftp.drop_writer import write_oneroster_drop
from sync.synthetic import generate_district


def test_first_sync_adopts_hand_made_students_and_reports_the_rest(cli, tmp_path):
    roster = generate_district(40, seed=9)
    school = roster.schools[0]
    by_number, by_birth = roster.students[0], roster.students[1]
    cli("district", "add", "maple", "--name", "Maple")
    sid = cli.json("school", "add", "maple", "--name", school.name, "--json")["id"]
    a = cli.json("student", "enroll", "maple", "--school", sid, "--given-name", "Nick", "--family-name", "Name",
                 "--number", by_number.student_number, "--json")["id"]
    b = cli.json("student", "enroll", "maple", "--school", sid, "--given-name", by_birth.given_name.upper(),
                 "--family-name", by_birth.family_name, "--birth-date", by_birth.birth_date, "--json")["id"]
    c = cli.json("student", "enroll", "maple", "--school", sid, "--given-name", "Only", "--family-name", "Byhand",
                 "--json")["id"]
    g = cli.json("guardian", "add", "maple", a, "--email", "kept@example.org", "--json")["id"]
    roster = dataclasses.replace(roster, students=[dataclasses.replace(s, school_id=school.external_id)
                                                   if s in (by_number, by_birth) else s for s in roster.students])
    write_oneroster_drop(roster, tmp_path / "drop")
    # A district that was edited by hand connects its SIS: folder first, then the source.
    cli("district", "set", "maple", "path", tmp_path / "drop")
    cli("district", "set", "maple", "source", "oneroster-csv")
    report = cli.json("sync", "maple", "--json")
    assert report["counts"]["students"]["adopted"] == 2 and report["counts"]["schools"]["adopted"] == 1
    students = {s["id"]: s for s in cli.json("directory", "export", "maple", "--format", "json")["students"]}
    assert students[a]["external_id"] == by_number.external_id and students[a]["given_name"] == by_number.given_name
    assert students[b]["external_id"] == by_birth.external_id
    assert students[c]["status"] == "active" and students[c]["source"] is None  # reported, not archived
    unmatched = [w for w in report["warnings"] if w["code"] == "unmatched_manual_student"]
    assert len(unmatched) == 1 and "Only Byhand" in unmatched[0]["message"]
    # The hand-made guardian of the adopted student stays linked, also after later complete rosters.
    cli("resync", "maple", "--reason", "check stickiness")
    export = cli.json("directory", "export", "maple", "--format", "json")
    assert any(l["guardian_id"] == g and l["student_id"] == a for l in export["links"])
    assert {x["id"]: x["status"] for x in export["guardians"]}[g] == "active"
