"""`rostersync rollback RUN --reason TEXT`: the directory back as it was before a run (SQLite and PostgreSQL).

Night 1 syncs a generated district; night 2 is the SIS's next export (students renamed, regraded, gone
and new, new families, a guardian renamed, another's links retyped), so the run to roll back creates,
updates, archives and relinks. The planner's rules are also tested on plain values at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import replace

import sqlalchemy as sa

from connectors.records import GuardianLink
from connectors.sftp.drop_writer import write_oneroster_drop
from directory.db import make_engine
from sync.rollback_plan import Entry, plan_rollback
from sync.synthetic import generate_district
from sync.synthetic_mutate import mutate_district_with_summary

KINDS = ("schools", "teachers", "classrooms", "students", "guardians")
REASON = "night 2 drop was exported from the test SIS"


def export(cli) -> dict:
    return cli.json("directory", "export", "maple", "--format", "json")


def view(data: dict) -> dict:
    """The directory by external id, every field a user sees, references as external ids (no row ids)."""
    ext = {(kind, r["id"]): r["external_id"] for kind in KINDS for r in data[kind]}
    out: dict = {}
    for kind in KINDS:
        rows = {}
        for r in data[kind]:
            v = {k: val for k, val in r.items() if k != "id"}
            if "school_id" in v:
                v["school_id"] = ext[("schools", v["school_id"])]
            for field, ref in (("classroom_ids", "classrooms"), ("student_ids", "students"),
                               ("teacher_ids", "teachers")):
                if field in v:
                    v[field] = sorted(ext[(ref, i)] for i in v[field])
            rows[r["external_id"]] = v
        out[kind] = rows
    out["links"] = sorted((ext[("guardians", l["guardian_id"])], ext[("students", l["student_id"])],
                           l["relationship"] or "", l["contact_type"] or "") for l in data["links"])
    return out


def assert_as_before(before: dict, now: dict) -> None:
    """Every record as it was; records made since are there (never deleted) but archived and unlinked."""
    b, a = view(before), view(now)
    for kind in KINDS:
        for key, row in a[kind].items():
            if key in b[kind]:
                assert row == b[kind][key], f"{kind} {key} differs from before the run"
            else:
                assert row["status"] in ("archived", "removed"), f"{kind} {key} was created by the run and is active"
                assert not row.get("classroom_ids") and not row.get("student_ids"), f"{kind} {key} still linked"
        assert set(b[kind]) <= set(a[kind]), f"{kind} went missing"
    assert a["links"] == b["links"]


def write_night(batch, folder) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    write_oneroster_drop(batch, folder)


def two_nights(cli, tmp_path, students: int = 40, invite_night1: bool = True):
    """Night 1 synced (run 1), night 2 synced (run 2); returns (export before run 2, night 2's batch, summary)."""
    drop = tmp_path / "drop"
    night1 = generate_district(students, seed=5)
    write_night(night1, drop)
    cli("district", "add", "maple", "--name", "Maple USD", "--source", "oneroster-csv", "--path", drop)
    cli("district", "set", "maple", "archive_threshold_pct", "100")  # a small district: never held
    if not invite_night1:
        cli("district", "set", "maple", "auto_invite", "off")
    cli("sync", "maple")
    cli("district", "set", "maple", "auto_invite", "on")

    night2, summary = mutate_district_with_summary(night1, seed=9, changed=0.1, gone=0.05, new=0.1)
    stable = set(s.external_id for s in night1.students) - set(summary.changed) - set(summary.gone)
    # One guardian renamed, another's links retyped (parent -> guardian: relationship and contact type).
    contactable = [g for g in night2.guardians
                   if g.email and g.external_id and {link.student_id for link in g.links} <= stable]
    renamed, retyped = contactable[0], next(g for g in contactable[1:] if g.links[0].contact_type == "parent")
    guardians = [replace(g, given_name=g.given_name + "-Ann") if g is renamed else
                 replace(g, links=tuple(GuardianLink(l.student_id, "guardian", "guardian") for l in g.links))
                 if g is retyped else g for g in night2.guardians]
    night2 = replace(night2, guardians=guardians)
    write_night(night2, drop)
    before = export(cli)
    report = cli.json("sync", "maple", "--json")
    counts = report["counts"]
    # The run to roll back does every kind of change, or these tests would prove little.
    assert counts["students"]["created"] and counts["students"]["updated"] and counts["students"]["archived"]
    assert counts["guardians"]["created"] and counts["guardians"]["updated"]
    assert counts["enrollments"]["added"] and counts["enrollments"]["removed"]
    assert counts["guardian_links"]["added"] and counts["guardian_links"]["updated"]
    return before, night2, summary


def run_status(cli, run_id: int) -> str:
    return next(r["status"] for r in cli.json("runs", "maple", "--json") if r["run_id"] == run_id)


def audit(cli) -> list[dict]:
    return cli.json("audit", "maple", "--limit", "100000", "--json")


def test_rollback_puts_back_the_directory_as_before_the_run_and_only_once(cli, tmp_path):
    before, _, summary = two_nights(cli, tmp_path)
    entries_before = len(audit(cli))

    out = cli("rollback", "2", "--reason", REASON, env={"ROSTERSYNC_ACTOR": "sam.support"}).stdout
    assert out.startswith("run 2 of maple rolled back")
    assert f"students: {len(summary.new)} archived (created by the run)" in out

    assert_as_before(before, export(cli))
    assert run_status(cli, 2) == "rolled_back"
    report = cli.json("report", "maple", "--run", "2")
    assert report["status"] == "rolled_back" and report["rolled_back"]["by"] == "sam.support"
    assert report["rolled_back"]["reason"] == REASON

    # Every reversal is audited as support, with the reason and the run it undid.
    added = audit(cli)[:len(audit(cli)) - entries_before]
    actions = {e["action"] for e in added}
    assert {"rollback.create", "rollback.update", "rollback.archive", "rollback.memberships",
            "rollback.run"} <= actions
    assert all(e["actor_type"] == "support" and e["actor"] == "sam.support" and e["reason"] == REASON
               and e["run_id"] == 2 for e in added)
    renamed_back = [e for e in added if e["action"] == "rollback.update" and e["entity"] == "guardian"]
    assert renamed_back and renamed_back[0]["before"]["given_name"].endswith("-Ann")

    # Twice is refused, and says when it was done; so is an unknown run or a blank reason.
    again = cli("rollback", "2", "--reason", REASON, code=5)
    assert "already rolled back by sam.support" in again.stderr
    assert "unknown run 99" in cli("rollback", "99", "--reason", REASON, code=4).stderr
    assert "reason" in cli("rollback", "1", "--reason", "  ", code=5).stderr
    assert_as_before(before, export(cli))


def test_dry_run_shows_the_plan_and_changes_nothing(cli, tmp_path):
    before, _, summary = two_nights(cli, tmp_path)
    after_run = export(cli)
    entries = len(audit(cli))

    plan = cli.json("rollback", "2", "--reason", REASON, "--dry-run", "--json")
    assert plan["status"] == "dry_run" and not plan["conflicts"]
    assert plan["counts"]["students"]["created_archived"] == len(summary.new)
    assert plan["counts"]["students"]["restored"] == len(summary.gone)
    assert {r["external_id"] for r in plan["records"] if r["undo"] == "create" and r["kind"] == "student"} \
        == set(summary.new)
    assert plan["counts"]["guardian_links"]["reverted"]
    assert plan["invitations"]["cancelled"], "the new guardians' invitations would be cancelled"

    assert export(cli) == after_run
    assert len(audit(cli)) == entries
    assert run_status(cli, 2) == "succeeded"
    queued = cli.json("invitations", "list", "maple", "--status", "queued", "--json")
    assert {i["id"] for i in plan["invitations"]["cancelled"]} <= {i["id"] for i in queued}

    cli("rollback", "2", "--reason", REASON)  # and the plan was what happens
    assert_as_before(before, export(cli))


def _student_id(data: dict, external_id: str) -> int:
    return next(s["id"] for s in data["students"] if s["external_id"] == external_id)


def test_a_later_manual_change_refuses_naming_the_record_until_forced(cli, tmp_path, db_url):
    before, night2, summary = two_nights(cli, tmp_path)
    now = export(cli)
    updated = summary.changed[0]
    sid = _student_id(now, updated)
    # Support corrects, by hand, the very field the run changed.
    field = next(f for f in ("grade", "given_name", "family_name")
                 if view(before)["students"][updated][f] != view(now)["students"][updated][f])
    cli("student", "edit", "maple", sid, "--" + field.replace("_", "-"), "Zed", "--override-lock", "parent called",
        env={"ROSTERSYNC_ACTOR": "pat.support"})
    new_guardian = next(g for g in now["guardians"] if g["external_id"] not in view(before)["guardians"]
                        and g["status"] == "active")
    cli("guardian", "joined", "maple", new_guardian["id"], env={"ROSTERSYNC_ACTOR": "ms.rivera"})
    edited = export(cli)

    refused = cli("rollback", "2", "--reason", REASON, code=10)
    name = next(f"{s['given_name']} {s['family_name']}" for s in edited["students"] if s["external_id"] == updated)
    assert f"student {updated} ({name}) changed since by support pat.support" in refused.stderr
    assert "changed since by user ms.rivera" in refused.stderr
    assert "NOT rolled back" in refused.stdout
    assert export(cli) == edited and run_status(cli, 2) == "succeeded"

    dry = json.loads(cli("rollback", "2", "--reason", REASON, "--dry-run", "--json", code=10).stdout)
    assert dry["status"] == "dry_run"
    conflicts = dry["conflicts"]
    named = {(c["kind"], c["external_id"]): c for c in conflicts}
    assert named[("student", updated)]["touched_by"] == ["support pat.support"]
    assert named[("student", updated)]["name"] == name
    assert named[("guardian", new_guardian["external_id"])]["touched_by"] == ["user ms.rivera"]
    # Only what was changed again is in conflict: the run's other records are not named.
    assert len([c for c in conflicts if c["kind"] == "student"]) == 1

    # A sync holding the district's lease: the rollback waits for it (refused, nothing changed).
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sync_state SET lease_holder = :h, lease_run_id = 2, "
                             "lease_expires_at = :t"), {"h": f"{socket.gethostname()}:{os.getpid()}:test",
                                                       "t": "2999-01-01 00:00:00"})
    assert "in progress" in cli("rollback", "2", "--reason", REASON, "--force", code=1).stderr
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE sync_state SET lease_holder = NULL, lease_run_id = NULL, lease_expires_at = NULL"))
    engine.dispose()
    assert export(cli) == edited

    forced = cli.json("rollback", "2", "--reason", REASON, "--force", "--json")
    assert forced["status"] == "rolled_back" and len(forced["conflicts"]) == len(conflicts)
    restored = view(export(cli))
    assert restored["students"][updated] == view(before)["students"][updated]  # the later edit undone too
    assert restored["guardians"][new_guardian["external_id"]]["status"] == "removed"


def test_a_later_run_refuses_and_rolling_back_newest_first_needs_no_force(cli, tmp_path):
    before, night2, summary = two_nights(cli, tmp_path)
    target = summary.changed[0]
    # Night 3 renames a student night 2 changed, and brings back (restores) one who left on night 2.
    night1 = generate_district(40, seed=5)
    back = next(s for s in night1.students if s.external_id == summary.gone[0])
    night3 = replace(night2, students=[replace(s, family_name="Night-Three") if s.external_id == target else s
                                       for s in night2.students] + [back],
                     enrollments=night2.enrollments + [e for e in night1.enrollments if e.user_id == back.external_id])
    write_night(night3, tmp_path / "drop")
    before_run3 = export(cli)
    counts = cli.json("sync", "maple", "--json")["counts"]
    assert counts["students"]["restored"] == 1 and counts["students"]["updated"] == 1

    refused = cli("rollback", "2", "--reason", REASON, code=10)
    assert f"student {target} (" in refused.stderr and f"student {back.external_id} (" in refused.stderr
    assert "changed since by run 3" in refused.stderr

    undone = cli.json("rollback", "3", "--reason", "undo night 3 first", "--json")
    assert undone["counts"]["students"] == {"reverted": 1, "archived_again": 1}
    assert_as_before(before_run3, export(cli))
    # Run 3 and its rollback cancel out: run 2 now rolls back without --force.
    cli("rollback", "2", "--reason", REASON)
    assert_as_before(before, export(cli))


def test_sent_invitations_are_reported_not_unsent_and_queued_ones_cancelled(cli, tmp_path):
    env = {"ROSTERSYNC_OUTBOX_DIR": str(tmp_path / "outbox"), "ROSTERSYNC_DELIVERY_LOG": str(tmp_path / "d.log"),
           "ROSTERSYNC_SMTP_URL": "", "ROSTERSYNC_SMS_URL": "", "ROSTERSYNC_CONFIG": str(tmp_path / "m.toml")}
    (tmp_path / "m.toml").write_text("[messaging]\n")  # no servers: messages become outbox files
    two_nights(cli, tmp_path, invite_night1=False)  # only run 2 invites: the relay has little to do
    run2 = cli.json("invitations", "list", "maple", "--json")
    assert run2 and all(i["run_id"] == 2 and i["status"] == "queued" for i in run2)
    # The invitations of one classroom's new families go out before the rollback, the others stay queued.
    data = export(cli)
    classrooms_of = {s["id"]: s["classroom_ids"] for s in data["students"]}
    covered: dict[int, set[int]] = {}
    for i in run2:
        for link in data["links"]:
            if link["guardian_id"] == i["guardian_id"]:
                for c in classrooms_of[link["student_id"]]:
                    covered.setdefault(c, set()).add(i["id"])
    classroom = min((c for c, ids in covered.items() if len(ids) < len(run2)), key=lambda c: len(covered[c]))
    cli("invitations", "send", "maple", "--classroom", classroom, env=env)
    states = {i["id"]: i["status"] for i in cli.json("invitations", "list", "maple", "--json")}
    sent = {i for i, status in states.items() if status == "sent"}
    assert sent and sent != set(states)

    plan = cli.json("rollback", "2", "--reason", REASON, "--dry-run", "--json")
    assert {i["id"] for i in plan["invitations"]["sent"]} == sent
    assert {i["id"] for i in plan["invitations"]["cancelled"]} == set(states) - sent
    assert all(i["channel"] in ("email", "sms") and i["sent_at"] for i in plan["invitations"]["sent"])

    out = cli("rollback", "2", "--reason", REASON).stdout
    assert f"invitations cancelled, never sent: {len(states) - len(sent)}" in out
    assert f"invitations already sent, not unsent: {len(sent)}" in out
    for i in plan["invitations"]["sent"]:
        assert f"invitation {i['id']} (invite) to guardian {i['guardian_id']} {i['guardian']}: sent by" in out

    # The relay never sends a cancelled one.
    cli("messaging", "relay", "--once", env=env)
    after = {i["id"]: i["status"] for i in cli.json("invitations", "list", "maple", "--json")}
    assert after == {i: ("sent" if i in sent else "cancelled") for i in states}


def test_rolling_back_a_first_sync_into_hand_made_data_gives_back_the_hand_made_records(cli, tmp_path):
    roster = generate_district(20, seed=5)
    write_night(roster, tmp_path / "drop")
    cli("district", "add", "maple", "--name", "Maple USD", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    school, student = roster.schools[0], roster.students[0]
    cli("school", "add", "maple", "--name", school.name, "--number", school.school_number)
    cli("student", "enroll", "maple", "--school", "1", "--given-name", student.given_name, "--family-name",
        student.family_name, "--number", student.student_number)
    report = cli.json("sync", "maple", "--json")
    assert report["counts"]["schools"]["adopted"] == 1 and report["counts"]["students"]["adopted"] == 1

    result = cli.json("rollback", "1", "--reason", "connected the wrong SIS", "--json")
    assert any("adopted are released" in w for w in result["warnings"])
    data = export(cli)
    schools = [(s["id"], s["source"], s["external_id"], s["status"]) for s in data["schools"]]
    assert schools == [(1, None, None, "active")]
    active = [(s["id"], s["source"]) for s in data["students"] if s["status"] == "active"]
    assert active == [(1, None)]  # the hand-made student, released; the 19 the run created are archived
    assert not data["links"] and all(not c["student_ids"] for c in data["classrooms"])
    assert all(g["status"] == "removed" for g in data["guardians"])


# -- the planner, on plain values ------------------------------------------------------------------------

KEYS = {"school": {"sch-1": 1}, "classroom": {"c-1": 10, "c-2": 11}, "student": {"s-1": 100, "s-2": 101},
        "guardian": {"g-1": 200}, "teacher": {}}


def _e(id_, action, entity, entity_id=None, before=None, after=None, actor_type="sync", actor="", run_id=2):
    return Entry(id_, action, entity, entity_id, before, after, actor_type, actor, run_id)


def test_a_later_enrollment_in_a_created_classroom_conflicts_but_a_later_one_elsewhere_does_not():
    run = [_e(1, "sync.create", "classroom", after={"count": 1, "ids": [11]}),
           _e(2, "sync.update", "student", 100, before={"grade": "3"}, after={"grade": "4"})]
    later = [_e(5, "sync.memberships", "enrollments", after={"added": [["c-2", "s-2"]], "removed": []}, run_id=3),
             _e(6, "student.assign", "student", 101, after={"classroom_id": 10}, actor_type="user", actor="al",
                run_id=None)]
    plan = plan_rollback(run, later, KEYS)
    assert [(c.entity, c.ids, c.touched_by) for c in plan.conflicts] == [("classroom", (11,), ["run 3"])]
    # A membership change of the updated student is not a change of their fields.
    assert plan.counts() == {"classrooms": {"created_archived": 1}, "students": {"reverted": 1}}


def test_changes_of_runs_already_rolled_back_cancel_out():
    run = [_e(1, "sync.update", "student", 100, before={"given_name": "Al"}, after={"given_name": "Alan"})]
    later = [_e(4, "sync.update", "student", 100, before={"given_name": "Alan"}, after={"given_name": "Alain"},
                run_id=3),
             _e(9, "rollback.update", "student", 100, before={"given_name": "Alain"}, after={"given_name": "Alan"},
                actor_type="support", actor="sam", run_id=3)]
    assert plan_rollback(run, later, KEYS).conflicts
    assert not plan_rollback(run, later, KEYS, ignore_runs={3}).conflicts


def test_a_removed_link_gets_back_the_relationship_an_earlier_run_gave_it():
    earlier = [_e(1, "sync.memberships", "guardian_links", run_id=1,
                  after={"added": [["g-1", "s-1"]], "removed": [], "values": [["g-1", "s-1", "mother", "parent"]]}),
               _e(3, "sync.memberships", "guardian_links", run_id=1,
                  after={"added": [], "removed": [], "updated": [["g-1", "s-1"]],
                         "values": [["g-1", "s-1", "grandparent", "relative"]]})]
    run = [_e(7, "sync.memberships", "guardian_links", after={"added": [], "removed": [["g-1", "s-1"]]})]
    (pair,) = plan_rollback(run, [], KEYS, earlier).pairs
    assert (pair.ids, pair.undo, pair.values) == ((200, 100), "removed", ("grandparent", "relative"))
    # A link whose earlier values were never recorded is put back without them, and says so.
    plan = plan_rollback(run, [], KEYS, [])
    assert plan.pairs[0].values == (None, None) and "without a relationship" in plan.warnings[0]


def test_a_move_back_to_a_school_the_source_does_not_own_is_a_warning_not_a_guess():
    run = [_e(1, "sync.update", "student", 100, before={"school_id": None, "grade": "2"},
              after={"school_id": "sch-1", "grade": "3"})]
    plan = plan_rollback(run, [], KEYS)
    assert plan.records[0].fields == (("grade", "2"),)
    assert "cannot be found" in plan.warnings[0]
