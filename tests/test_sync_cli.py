"""The sync engine end to end through the CLI, from local drops, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from connectors.records import RosterBatch
from connectors.sftp.drop_writer import write_clever_drop, write_oneroster_drop
from sync.synthetic import demo_changes, generate_district

STUDENTS = 150


@pytest.fixture(scope="module")
def roster() -> RosterBatch:
    return generate_district(STUDENTS, seed=11)


def drop(folder: Path, batch: RosterBatch, fmt: str = "oneroster") -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    (write_oneroster_drop if fmt == "oneroster" else write_clever_drop)(batch, folder)
    return folder


@pytest.fixture
def synced(cli, roster, tmp_path):
    """A district synced once from a OneRoster drop."""
    folder = drop(tmp_path / "drop", roster)
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", folder)
    result = cli.json("sync", "maple", "--json")
    return {"folder": folder, "report": result}


def export(cli) -> dict:
    return cli.json("directory", "export", "maple", "--format", "json")


def active(data: dict, kind: str) -> dict:
    return {r["external_id"]: r for r in data[kind] if r["status"] == "active"}


def test_first_sync_builds_the_directory(cli, roster, synced):
    report = synced["report"]
    assert report["status"] == "succeeded" and report["directory_state"] == "updated"
    assert report["counts"]["students"]["created"] == len(roster.students)
    data = export(cli)
    assert set(active(data, "students")) == {s.external_id for s in roster.students}
    assert set(active(data, "schools")) == {s.external_id for s in roster.schools}
    assert all(s["synced"] for s in data["schools"])
    # Siblings share one guardian: fewer guardian rows than guardian-student links.
    linked_students = {}
    for link in data["links"]:
        linked_students.setdefault(link["guardian_id"], set()).add(link["student_id"])
    assert any(len(s) > 1 for s in linked_students.values())
    # Every guardian the sync created and can reach got an invitation queued.
    assert report["invitations_queued"] == report["counts"]["guardians"]["created"] > 0
    # Guardians without a usable contact were reported, not silently dropped.
    codes = {w["code"] for w in report["warnings"]}
    assert "guardian_no_contact" in codes or all(g.email or g.phone for g in roster.guardians)
    # A school is now synced, so manual roster functions are locked there.
    school_id = data["schools"][0]["id"]
    r = cli("student", "enroll", "maple", "--school", school_id, "--given-name", "A", "--family-name", "B", code=8)
    assert "synced from OneRoster CSV files" in r.stderr


def test_same_drop_again_is_not_applied_twice_but_resync_does(cli, synced):
    again = cli.json("sync", "maple", "--json")
    assert again["status"] == "succeeded" and "already applied by run" in again["notes"][0]
    assert again["counts"] == {}
    resync = cli.json("resync", "maple", "--reason", "support ticket 12", "--json")
    assert resync["trigger"] == "resync" and resync["reason"] == "support ticket 12"
    assert resync["counts"]["students"]["unchanged"] == STUDENTS and resync["directory_state"] == "unchanged"
    assert any(e["action"] == "sync.resync" and e["reason"] == "support ticket 12" for e in
               cli.json("audit", "maple", "--json"))


def test_second_night_archives_moves_and_updates(cli, roster, synced, tmp_path):
    changed, what = demo_changes(roster)
    drop(synced["folder"], changed)
    before = export(cli)
    r = cli("sync", "maple")
    assert "run 2 succeeded" in r.stdout
    after = export(cli)
    gone = set(active(before, "students")) - set(active(after, "students"))
    assert len(gone) == 1
    archived = {s["external_id"]: s for s in after["students"]}[gone.pop()]
    assert archived["status"] == "archived"  # kept, not deleted
    moved = [k for k, s in active(after, "students").items() if s["school_id"] != active(before, "students")[k]["school_id"]]
    assert len(moved) == 1
    phones_before = {g["external_id"]: g["phone"] for g in before["guardians"]}
    changed_phone = [g for g in after["guardians"] if g["external_id"] in phones_before
                     and g["phone"] != phones_before[g["external_id"]]]
    assert len(changed_phone) == 1
    report = cli.json("report", "maple", "--format", "json")
    assert report["counts"]["students"]["archived"] == 1 and report["counts"]["students"]["updated"] >= 1
    # The per-school section names who left and who moved.
    items = [i for s in report["schools"] for action in ("archived", "updated")
             for i in s.get("students", {}).get(action, {}).get("items", [])]
    assert any(i.get("moved_from") for i in items)


def test_mass_removal_is_held_until_approved(cli, roster, synced):
    school = roster.schools[0].external_id
    in_school = [s.external_id for s in roster.students if s.school_id == school]
    leaving = set(in_school[: len(in_school) // 4])
    smaller = dataclasses.replace(roster, students=[s for s in roster.students if s.external_id not in leaving],
                                  enrollments=[e for e in roster.enrollments if e.user_id not in leaving],
                                  guardians=[dataclasses.replace(g, links=tuple(l for l in g.links
                                                                                if l.student_id not in leaving))
                                             for g in roster.guardians])
    drop(synced["folder"], smaller)
    r = cli("sync", "maple", "--json", code=3)
    import json

    report = json.loads(r.stdout)
    assert report["status"] == "held"
    assert {s["id"] for s in report["held"]["students"]} == leaving
    assert set(active(export(cli), "students")) >= leaving  # nobody archived yet
    cli("approve", str(report["run_id"]), "--reason", "end of term, checked with the office")
    after = export(cli)
    assert not leaving & set(active(after, "students"))
    runs = cli.json("runs", "maple", "--json")
    assert runs[0]["status"] == "succeeded"


def test_dry_run_writes_nothing_and_says_so(cli, roster, synced):
    changed, _ = demo_changes(roster)
    drop(synced["folder"], changed)
    before = export(cli)
    report = cli.json("sync", "maple", "--dry-run", "--json")
    assert report["dry_run"] is True and report["directory_state"] == "dry_run"
    assert "nothing was written" in report["directory"]
    assert report["counts"]["students"]["archived"] == 1
    assert export(cli) == before
    # The drop was not marked as taken: the real sync applies it.
    assert cli.json("sync", "maple", "--json")["counts"]["students"]["archived"] == 1


def test_incomplete_drop_fails_whole_and_touches_nothing(cli, roster, synced):
    changed, _ = demo_changes(roster)
    drop(synced["folder"], changed)
    (synced["folder"] / "enrollments.csv").unlink()
    before = export(cli)
    r = cli("sync", "maple", "--json", code=1)
    import json

    report = json.loads(r.stdout)
    assert report["status"] == "failed" and report["directory_state"] == "failed"
    assert "enrollments.csv" in report["errors"][0]["message"]
    assert export(cli) == before
    assert cli.json("runs", "maple", "--json")[0]["status"] == "failed"


def test_delta_never_archives_absent_records(cli, roster, synced, tmp_path):
    # A delta drop with only one changed student: everyone else is absent, and must stay.
    one = roster.students[0]
    delta = RosterBatch(source="oneroster-csv", mode="delta", schools=list(roster.schools),
                        students=[dataclasses.replace(one, given_name="Renamed")])
    folder = synced["folder"]
    shutil.rmtree(folder)
    write_oneroster_drop(delta, folder, mode="delta")
    report = cli.json("sync", "maple", "--json")
    assert report["mode"] == "delta" and report["counts"]["students"]["archived"] == 0
    data = export(cli)
    assert len(active(data, "students")) == STUDENTS
    assert active(data, "students")[one.external_id]["given_name"] == "Renamed"


def test_clever_csv_reaches_the_same_directory_as_oneroster(cli, roster, tmp_path):
    # OneRoster cannot say a phone is a work line or a contact is for emergencies only (Clever can, and
    # the sync leaves those out), so the shared roster has mobiles and parents/guardians only: what both
    # formats can carry must land the same.
    guardians = []
    for g in roster.guardians:
        links = tuple(l for l in g.links if l.contact_type != "emergency")
        if links:
            guardians.append(dataclasses.replace(g, phone_type="cell" if g.phone else None, links=links))
    roster = dataclasses.replace(roster, guardians=guardians)
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path",
        drop(tmp_path / "or", roster))
    cli("district", "add", "clever", "--name", "Clever twin", "--source", "clever-csv", "--path",
        drop(tmp_path / "cl", roster, "clever"))
    cli("sync", "maple")
    cli("sync", "clever")

    def shape(slug):
        data = cli.json("directory", "export", slug, "--format", "json")
        students = {s["external_id"]: (s["given_name"], s["family_name"], s["student_number"]) for s in data["students"]}
        ext = {s["id"]: s["external_id"] for s in data["students"]}
        guardians = {g["id"]: (g["email"], g["phone"]) for g in data["guardians"]}
        links = {(guardians[l["guardian_id"]], ext[l["student_id"]]) for l in data["links"]}
        return students, links

    assert shape("maple") == shape("clever")


def test_bad_rows_become_report_entries_with_file_and_line(cli, roster, tmp_path):
    from sync.demo import add_bad_rows

    folder = drop(tmp_path / "drop", roster)
    add_bad_rows(folder, roster)
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", folder)
    report = cli.json("sync", "maple", "--json")
    assert report["status"] == "succeeded"
    problems = report["errors"] + report["warnings"]
    status = next(p for p in problems if p.get("record") == "bad-status-1")
    assert status["file"] == "users.csv" and status["line"] > 1 and status["field"] == "status"
    assert any(p.get("record") == roster.students[0].external_id and "duplicate" in p["code"] for p in problems)
    assert any(p["code"] in ("invalid_email", "guardian_no_contact") for p in problems)
    assert report["counts"]["students"]["created"] == STUDENTS


def test_report_formats_and_school_filter(cli, roster, synced, tmp_path):
    html = tmp_path / "r.html"
    cli("report", "maple", "--format", "html", "-o", html)
    page = html.read_text()
    assert "<html" in page and "Maple" in page and roster.students[0].family_name in page
    csv_text = cli("report", "maple", "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("run_id,")
    school = roster.schools[0]
    one = cli.json("report", "maple", "--school", school.external_id, "--format", "json")
    assert [s["school"] for s in one["schools"]] == [school.external_id]
    r = cli("report", "maple", "--run", "999", code=4)
    assert "run 999" in r.stderr


def test_second_sync_while_one_runs_is_refused(cli, synced, db_url):
    from sqlalchemy import update

    from directory.db import make_engine
    from directory.models import SyncState

    engine = make_engine(db_url)
    with engine.begin() as conn:  # a live holder on another machine
        conn.execute(update(SyncState).values(lease_holder="otherhost:1:abc", lease_run_id=1,
                                              lease_expires_at=__import__("datetime").datetime(2999, 1, 1)))
    r = cli("sync", "maple", code=1)
    assert "already in progress" in r.stderr and "otherhost" in r.stderr
    with engine.begin() as conn:  # a retention purge holds it: no run of its own to name
        conn.execute(update(SyncState).values(lease_run_id=None))
    r = cli("sync", "maple", code=1)
    assert "rollback or retention purge on otherhost" in r.stderr and "run None" not in r.stderr
    engine.dispose()


def test_a_student_whose_row_turned_bad_is_kept_not_archived(cli, roster, synced):
    # Tonight the SIS export has a typo in one student's row (no family name): that row is reported,
    # and the student is neither changed nor archived, although the users file is a complete bulk file.
    victim = roster.students[5]
    broken = dataclasses.replace(roster, students=[dataclasses.replace(s, family_name="") if s is victim else s
                                                   for s in roster.students])
    drop(synced["folder"], broken)
    report = cli.json("sync", "maple", "--json")
    assert any(e.get("record") == victim.external_id and e.get("file") == "users.csv" for e in report["errors"])
    assert report["counts"]["students"]["archived"] == 0
    student = active(export(cli), "students")[victim.external_id]
    assert student["family_name"] == victim.family_name
