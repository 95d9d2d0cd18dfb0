"""`rostersync retention`: archived students past the district's retention period are deleted with their
links, messages and the guardians left with no student; everything else stays. On SQLite and PostgreSQL.

Time passing is simulated the only honest way there is without waiting a year: the archive (and removal)
timestamps the sync wrote are moved back in the database, as if the sync had archived them then.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import timedelta

import pytest
import sqlalchemy as sa

from connectors.sftp.drop_writer import write_oneroster_drop
from directory.db import make_engine
from directory.models import Delivery, utcnow
from sync.retention import choose_guardians
from sync.synthetic import generate_district

OLD, RECENT = timedelta(days=400), timedelta(days=20)

def drop(folder, batch, leaving=()):
    leaving = set(leaving)
    smaller = dataclasses.replace(
        batch, students=[s for s in batch.students if s.external_id not in leaving],
        enrollments=[e for e in batch.enrollments if e.user_id not in leaving],
        guardians=[g for g in (dataclasses.replace(g, links=tuple(l for l in g.links if l.student_id not in leaving))
                               for g in batch.guardians) if g.links])
    if folder.exists():
        shutil.rmtree(folder)
    write_oneroster_drop(smaller, folder)


def export(cli) -> dict:
    """The directory's rows (without the district's settings, which these tests change)."""
    data = cli.json("directory", "export", "maple", "--format", "json")
    del data["district"]
    return data


def by_ext(rows) -> dict:
    return {r["external_id"]: r for r in rows}


def age(db_url, students: list[int], guardians: list[int], by: timedelta) -> None:
    """Move the archive time of students (and the removal time of guardians) back by ``by``."""
    engine = make_engine(db_url)
    when = utcnow() - by
    with engine.begin() as conn:
        if students:
            conn.execute(sa.text("UPDATE students SET archived_at = :t WHERE id IN :ids")
                         .bindparams(sa.bindparam("ids", expanding=True)), {"t": when, "ids": students})
        if guardians:
            conn.execute(sa.text("UPDATE guardians SET updated_at = :t WHERE id IN :ids")
                         .bindparams(sa.bindparam("ids", expanding=True)), {"t": when, "ids": guardians})
    engine.dispose()


def count(db_url, model, *where) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        n = conn.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
    engine.dispose()
    return n


def families(data: dict) -> tuple[dict, dict]:
    """(student external id -> guardian external ids, guardian external id -> student external ids)."""
    students = {r["id"]: r["external_id"] for r in data["students"]}
    guardians = {r["id"]: r["external_id"] for r in data["guardians"]}
    of_student, of_guardian = {}, {}
    for link in data["links"]:
        s, g = students[link["student_id"]], guardians[link["guardian_id"]]
        of_student.setdefault(s, set()).add(g)
        of_guardian.setdefault(g, set()).add(s)
    return of_student, of_guardian


@pytest.fixture
def archived(cli, db_url, tmp_path, monkeypatch):
    """District maple synced, messages delivered to the outbox, then four students archived: two by the
    SIS 400 days ago (one an only child, one with a sibling who stays), one by the SIS 20 days ago, one by
    hand 400 days ago (links kept). The sibling's parent has joined."""
    monkeypatch.chdir(tmp_path)
    for var in ("ROSTERSYNC_SMTP_URL", "ROSTERSYNC_SMS_URL", "ROSTERSYNC_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROSTERSYNC_OUTBOX_DIR", str(tmp_path / "outbox"))
    batch = generate_district(20, seed=3)
    folder = tmp_path / "drop"
    drop(folder, batch)
    cli("district", "add", "maple", "--name", "Maple", "--source", "oneroster-csv", "--path", folder)
    cli("district", "set", "maple", "archive_threshold_pct", "50")  # 3 of 20 leave at once: not a mistake here
    cli("sync", "maple")
    cli("messaging", "relay", "--once", "--district", "maple")  # every invitation now has a delivery row
    before = export(cli)
    of_student, of_guardian = families(before)
    only_children = [s for s, gs in sorted(of_student.items()) if all(of_guardian[g] == {s} for g in gs)]
    gone_old, gone_recent, hand = only_children[:3]
    sibling_old = next(s for s, gs in sorted(of_student.items()) if any(len(of_guardian[g]) == 2 for g in gs))
    parent = next(g for g in sorted(of_student[sibling_old]) if len(of_guardian[g]) == 2)
    sibling_stays = next(iter(of_guardian[parent] - {sibling_old}))
    students, guardians = by_ext(before["students"]), by_ext(before["guardians"])
    cli("guardian", "joined", "maple", guardians[parent]["id"])
    drop(folder, batch, leaving=[gone_old, sibling_old, gone_recent])
    cli("sync", "maple")
    cli("student", "archive", "maple", students[hand]["id"], "--override-lock", "left mid-year")
    age(db_url, [students[s]["id"] for s in (gone_old, sibling_old, hand)],
        [guardians[g]["id"] for g in of_student[gone_old]], OLD)
    age(db_url, [students[gone_recent]["id"]], [guardians[g]["id"] for g in of_student[gone_recent]], RECENT)
    return {"before": export(cli), "ids": {k: v["id"] for k, v in students.items()},
            "gids": {k: v["id"] for k, v in guardians.items()},
            "purged_students": {gone_old, sibling_old, hand},
            "purged_guardians": of_student[gone_old] | of_student[hand],
            "gone_recent": gone_recent, "recent_guardians": of_student[gone_recent],
            "sibling_stays": sibling_stays, "parent": parent, "hand": hand}


def test_retention_purges_old_archived_students_and_their_lone_guardians(cli, db_url, archived):
    ids, gids, parent = archived["ids"], archived["gids"], archived["parent"]
    purged_students, purged_guardians = archived["purged_students"], archived["purged_guardians"]
    invitations_before = cli.json("invitations", "list", "maple", "--json", "--limit", "1000")
    assert {i["guardian_id"] for i in invitations_before} >= {gids[g] for g in purged_guardians}

    # Off by default: nothing is purged, and the command says how to switch it on.
    off = cli("retention", "maple")
    assert "retention is off" in off.stdout and "retention_days" in off.stdout
    assert export(cli) == archived["before"]

    cli("district", "set", "maple", "retention_days", "365")
    dry = cli.json("retention", "maple", "--dry-run", "--json")
    assert dry["status"] == "would_purge" and dry["counts"]["students"] == 3
    assert dry["counts"]["guardians"] == len(purged_guardians)
    assert set(dry["student_external_ids"]) == purged_students
    assert export(cli) == archived["before"]  # a dry run deletes nothing
    assert not [e for e in cli.json("audit", "maple", "--json") if e["action"] == "retention.purge"]

    result = cli.json("retention", "maple", "--json")
    assert result["status"] == "purged" and result["counts"] == dry["counts"]
    assert set(result["student_external_ids"]) == purged_students
    assert set(result["guardian_external_ids"]) == purged_guardians

    after = export(cli)
    students, guardians = by_ext(after["students"]), by_ext(after["guardians"])
    assert purged_students.isdisjoint(students)
    assert students[archived["gone_recent"]]["status"] == "archived"  # archived 20 days ago: kept
    assert students[archived["sibling_stays"]]["status"] == "active"
    assert len(students) == len(archived["before"]["students"]) - 3
    assert purged_guardians.isdisjoint(guardians)
    # The joined parent of the sibling who stays keeps the account and the link to that child.
    assert guardians[parent]["state"] == "joined" and guardians[parent]["status"] == "active"
    linked = {(l["guardian_id"], l["student_id"]) for l in after["links"]}
    assert (gids[parent], ids[archived["sibling_stays"]]) in linked
    assert not {ids[s] for s in purged_students} & {s for _, s in linked}
    # The recently archived student's guardians (removed 20 days ago) are kept too.
    assert archived["recent_guardians"] <= set(guardians)
    # Messages to purged guardians are gone with them; the others' stay.
    invitations = cli.json("invitations", "list", "maple", "--json", "--limit", "1000")
    assert not {i["guardian_id"] for i in invitations} & {gids[g] for g in purged_guardians}
    assert gids[parent] in {i["guardian_id"] for i in invitations}
    assert count(db_url, Delivery, Delivery.guardian_id.in_([gids[g] for g in purged_guardians])) == 0
    assert count(db_url, Delivery) == len(invitations)

    # The audit log says what went: counts and ids, never a name or a contact.
    entry = next(e for e in cli.json("audit", "maple", "--json") if e["action"] == "retention.purge")
    assert entry["actor_type"] == "support" and "365 days" in entry["reason"]
    assert set(entry["after"]["student_external_ids"]) == purged_students
    assert sorted(entry["after"]["student_ids"]) == sorted(ids[s] for s in purged_students)
    assert entry["after"]["counts"]["guardians"] == len(purged_guardians)
    text = str(entry)
    for row in archived["before"]["students"]:
        if row["external_id"] in purged_students:
            assert row["family_name"] not in text and row["given_name"] not in text
    for row in archived["before"]["guardians"]:
        if row["external_id"] in purged_guardians:
            assert row["email"] not in text and (row["phone"] or "@@") not in text

    # Again: nothing left to purge, no new audit entry.
    again = cli.json("retention", "maple", "--json")
    assert again["status"] == "nothing_to_purge"
    assert len([e for e in cli.json("audit", "maple", "--json") if e["action"] == "retention.purge"]) == 1
    # The sync still works on the purged directory. Students who left the SIS stay gone; the one archived
    # by hand while the SIS still lists them comes back, as a new record, as any new student would.
    report = cli.json("sync", "maple", "--full", "--json")
    assert report["status"] == "succeeded" and report["counts"]["students"]["created"] == 1
    back = by_ext(export(cli)["students"])
    assert set(back) & purged_students == {archived["hand"]} and back[archived["hand"]]["id"] != ids[archived["hand"]]


def test_retention_all_skips_off_districts_and_waits_for_a_running_sync(cli, db_url):
    from directory.db import session_factory, transaction
    from directory.models import District
    from sync import lease

    # Two hand-made districts, each with a student archived 400 days ago; oak keeps retention off.
    for slug in ("maple", "oak"):
        cli("district", "add", slug, "--name", slug.title())
        cli("school", "add", slug, "--name", "Main Street")
        school = cli.json("directory", "export", slug, "--format", "json")["schools"][0]["id"]
        student = cli.json("student", "enroll", slug, "--school", school, "--given-name", "Ada", "--family-name",
                           "Byron", "--json")["id"]
        cli("student", "archive", slug, student)
        age(db_url, [student], [], OLD)
    assert cli.json("retention", "--all", "--json") == {"districts": [], "busy": []}
    cli("district", "set", "maple", "retention_days", "30")
    # A sync of maple holds the lease (this process stands in for it): maple is not purged, exit 1.
    engine = make_engine(db_url)
    with transaction(session_factory(engine)) as s:
        district_id = s.scalar(sa.select(District.id).where(District.slug == "maple"))
        holder = lease.make_holder()
        assert lease.acquire(s, district_id, holder, 99) is None
    busy = cli("retention", "--all", "--json", code=1)
    assert json.loads(busy.stdout)["busy"][0]["district"] == "maple" and "in progress" in busy.stdout
    assert len(export(cli)["students"]) == 1
    with transaction(session_factory(engine)) as s:
        lease.release(s, district_id, holder)
    engine.dispose()
    done = cli.json("retention", "--all", "--json")
    assert [(d["district"], d["counts"]["students"]) for d in done["districts"]] == [("maple", 1)]
    assert export(cli)["students"] == []
    assert len(cli.json("directory", "export", "oak", "--format", "json")["students"]) == 1  # retention off


def test_retention_days_setting_is_checked_and_can_be_switched_off(cli, tmp_path):
    cli("district", "add", "maple", "--name", "Maple")
    for bad in ("0", "a year", "1.5"):
        result = cli("district", "set", "maple", "retention_days", bad, code=2)
        assert "retention_days" in result.stderr and "at least 1, or off" in result.stderr
    cli("district", "set", "maple", "retention_days", "730")
    assert cli.json("district", "show", "maple")["settings"]["retention_days"] == 730
    cli("district", "set", "maple", "retention_days", "off")
    assert cli.json("district", "show", "maple")["settings"]["retention_days"] is None
    # From a district file too (kept in version control), and false there means off.
    toml = tmp_path / "districts.toml"
    toml.write_text('[[district]]\nslug = "maple"\nname = "Maple"\n[district.settings]\nretention_days = 400\n'
                    '[[district]]\nslug = "oak"\nname = "Oak"\n[district.settings]\nretention_days = false\n',
                    encoding="utf-8")
    cli("district", "load", toml)
    assert cli.json("district", "show", "maple")["settings"]["retention_days"] == 400
    assert cli.json("district", "show", "oak")["settings"]["retention_days"] is None
    assert cli("retention", code=5).stderr.startswith("error: give one district SLUG or --all")
    assert cli("retention", "nope", code=4).stderr.startswith("error: unknown district")


def test_choose_guardians_keeps_anyone_with_a_student_who_stays():
    links = [(1, 10), (2, 10), (2, 11), (3, 12), (4, 11)]
    # 10 purged: guardian 1 goes, 2 keeps 11; 5 was removed long ago with no link; 4 is only linked to 11.
    assert choose_guardians(links, {10}, {5}) == {1, 5}
    # A removed guardian who still has a link to a staying student is never purged.
    assert choose_guardians(links, set(), {4}) == set()
    assert choose_guardians(links, {10, 11, 12}, set()) == {1, 2, 3, 4}


def test_upgrading_to_0005_keeps_every_district_and_leaves_retention_off(db_url):
    from alembic import command

    from directory import migrate

    engine = make_engine(db_url)
    cfg = migrate._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO districts (slug, name, source_config, default_channel, auto_invite, "
                             "archive_threshold_pct, sync_manages_guardians, sync_updates_joined_contacts, "
                             "excluded_contact_types, max_guardians_per_student, phone_region, paused, created_at, "
                             "updated_at) VALUES ('old', 'Old USD', '{}', 'email', true, 10, true, false, '[]', 6, "
                             "'US', false, :t, :t)"), {"t": utcnow()})
    assert migrate.upgrade(engine) == ("0004", "0006")  # 0005 retention, 0006 a wider grade
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT slug, retention_days FROM districts")).all() == [("old", None)]
    grade = next(c for c in sa.inspect(engine).get_columns("students") if c["name"] == "grade")
    assert grade["type"].length == 32  # Clever's "TransitionalKindergarten" fits
    engine.dispose()
