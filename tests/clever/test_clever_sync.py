"""A Clever district synced end to end through the CLI (`rostersync sync`) from the test server: the
directory a school leader exports after the first sync and after a night of changes sent as events.
On SQLite, and PostgreSQL when present (the cli fixture)."""

from __future__ import annotations

import json

from connectors.records import StudentRecord
from connectors.sftp.drop_writer import write_clever_drop
from sync.sandbox.clever_json import clever_view
from sync.sandbox.clever_server import TOKEN

ENV = {"CLEVER_TEST_TOKEN": TOKEN}
NEW = StudentRecord("s-900001", "sch-001", "Imani", "Okafor", "799001", "2016-03-09", "3")


def export(cli) -> dict:
    return cli.json("directory", "export", "maple", "--format", "json")


def active(data: dict, kind: str) -> dict:
    return {r["external_id"]: r for r in data[kind] if r["status"] == "active"}


def classrooms_of(data: dict, student: str) -> set[str]:
    ids = {r["id"]: r["external_id"] for r in data["classrooms"]}
    row = next(s for s in data["students"] if s["external_id"] == student)
    return {ids[c] for c in row["classroom_ids"]}


def comparable(data: dict) -> dict:
    """A directory export keyed by source ids, without row ids and the source name, so that two districts
    synced from two sources can be compared."""
    def key(r):
        return r["external_id"]
    ids = {kind: {r["id"]: key(r) for r in data[kind]} for kind in ("schools", "students", "guardians",
                                                                     "teachers", "classrooms")}
    drop = {"id", "source", "school_id", "classroom_ids", "teacher_ids", "student_ids"}
    out = {kind: {key(r): {k: v for k, v in r.items() if k not in drop} for r in data[kind]}
           for kind in ("schools", "students", "guardians", "teachers", "classrooms")}
    for r in data["students"]:
        out["students"][key(r)]["school"] = ids["schools"][r["school_id"]]
    for r in data["classrooms"]:
        out["classrooms"][key(r)]["teachers"] = sorted(ids["teachers"][t] for t in r["teacher_ids"])
        out["classrooms"][key(r)]["students"] = sorted(ids["students"][t] for t in r["student_ids"])
    out["links"] = sorted((ids["guardians"][l["guardian_id"]], ids["students"][l["student_id"]], l["relationship"],
                           l["contact_type"]) for l in data["links"])
    return out


def test_a_clever_district_syncs_fully_then_from_events(cli, clever, district, tmp_path):
    clever.change_student("s-000010", grade="4")  # Clever's feed has history before our first sync
    cli("district", "add", "maple", "--name", "Maple", "--source", "clever", "--clever-token-env",
        "CLEVER_TEST_TOKEN", "--clever-base-url", clever.url)
    first = cli("sync", "maple", "--json", env=ENV)
    assert TOKEN not in first.stdout + first.stderr
    data = export(cli)
    assert set(active(data, "students")) == {s.external_id for s in district.students}

    # The same roster as a Clever SFTP drop, synced into a second district, gives the same directory.
    write_clever_drop(clever_view(district), tmp_path / "drop")
    cli("district", "add", "oak", "--name", "Oak", "--source", "clever-csv", "--path", tmp_path / "drop")
    cli("sync", "oak")
    via_api = comparable(export(cli))
    via_csv = comparable(cli.json("directory", "export", "oak", "--format", "json"))
    via_api["students"]["s-000010"]["grade"] = via_csv["students"]["s-000010"]["grade"]  # the pre-sync change
    for kind in via_csv:
        assert via_api[kind] == via_csv[kind], kind
    assert len(via_api["links"]) > len(district.students) and len(via_api["guardians"]) > 100

    section = sorted(classrooms_of(data, "s-000004"))[0]
    clever.change_student("s-000001", last="Okonkwo")
    clever.add_student(NEW, sections=[section])
    clever.remove_student("s-000020")
    members = next(s["students"] for s in clever.data["sections"] if s["id"] == section)
    clever.set_section_students(section, [m for m in members if m != "s-000004"])
    before_requests = len(clever.log)
    second = json.loads(cli("sync", "maple", "--json", env=ENV).stdout)
    assert second["status"] == "succeeded"
    assert [r.path for r in clever.log[before_requests:]] == ["/v3.0/events"]  # one request, not a full pull

    after = export(cli)
    students = {s["external_id"]: s for s in after["students"]}
    assert students["s-000001"]["family_name"] == "Okonkwo"
    assert students[NEW.external_id]["status"] == "active" and section in classrooms_of(after, NEW.external_id)
    assert students["s-000020"]["status"] == "archived"  # explicitly deleted in Clever: archived, not deleted
    assert section not in classrooms_of(after, "s-000004")  # left the section
    assert len(active(after, "students")) == len(district.students)  # one in, one out, nobody else touched
