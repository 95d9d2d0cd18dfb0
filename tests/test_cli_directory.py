"""The manual functions and the lock, through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture
def district(cli):
    """A district with one hand-made school and one synced school, a teacher and a classroom in each."""
    cli("district", "add", "lincoln", "--name", "Lincoln Unified")
    manual = cli.json("school", "add", "lincoln", "--name", "Adams Elementary", "--json")["id"]
    synced = cli.json("school", "add", "lincoln", "--name", "Banneker High", "--source", "clever",
                      "--external-id", "sch-9", "--json")["id"]
    teacher = cli.json("teacher", "add", "lincoln", "--given-name", "Mary", "--family-name", "Rivera", "--json")["id"]
    room = cli.json("classroom", "add", "lincoln", "--school", manual, "--name", "Room 4", "--teacher", teacher,
                    "--json")["id"]
    synced_room = cli.json("classroom", "add", "lincoln", "--school", synced, "--name", "Biology",
                           "--json")["id"]
    return {"manual": manual, "synced": synced, "teacher": teacher, "room": room, "synced_room": synced_room}


def export(cli) -> dict:
    return cli.json("directory", "export", "lincoln", "--format", "json")


def enroll(cli, school, given="Ada", family="Lovelace", *extra, code=0):
    r = cli("student", "enroll", "lincoln", "--school", school, "--given-name", given, "--family-name", family,
            "--json", *extra, code=code)
    return r


def test_enroll_and_assign_show_in_export(cli, district):
    sid = cli.json("student", "enroll", "lincoln", "--school", district["manual"], "--given-name", "Ada",
                   "--family-name", "Lovelace", "--number", "1001", "--birth-date", "2015-03-04", "--grade", "4",
                   "--json")["id"]
    room2 = cli.json("classroom", "add", "lincoln", "--school", district["manual"], "--name", "Music", "--json")["id"]
    cli("student", "assign", "lincoln", sid, room2)
    data = export(cli)
    (student,) = data["students"]
    assert (student["given_name"], student["student_number"], student["birth_date"], student["grade"]) == \
        ("Ada", "1001", "2015-03-04", "4")
    assert student["status"] == "active" and student["source"] is None
    assert student["classroom_ids"] == [room2] or set(student["classroom_ids"]) == {room2}
    rooms = {c["id"]: c for c in data["classrooms"]}
    assert rooms[district["room"]]["teacher_ids"] == [district["teacher"]]
    assert rooms[room2]["student_ids"] == [sid]
    # Assigning twice is a duplicate, and changes nothing.
    r = cli("student", "assign", "lincoln", sid, room2, code=6)
    assert "already in classroom" in r.stderr


def test_edit_archive_many_restore(cli, district):
    ids = [cli.json("student", "enroll", "lincoln", "--school", district["manual"], "--given-name", n,
                    "--family-name", "Curie", "--json")["id"] for n in ("Marie", "Irene", "Eve")]
    cli("student", "edit", "lincoln", ids[0], "--family-name", "Sklodowska-Curie", "--grade", "5")
    cli("student", "archive", "lincoln", ids[0], ids[1])
    students = {s["id"]: s for s in export(cli)["students"]}
    assert students[ids[0]]["family_name"] == "Sklodowska-Curie" and students[ids[0]]["grade"] == "5"
    assert [students[i]["status"] for i in ids] == ["archived", "archived", "active"]
    cli("student", "restore", "lincoln", ids[0])
    assert {s["id"]: s["status"] for s in export(cli)["students"]}[ids[0]] == "active"
    # Archived students do not show in search unless asked for.
    assert [r["id"] for r in cli.json("directory", "search", "lincoln", "Irene", "--json")] == []
    assert [r["id"] for r in cli.json("directory", "search", "lincoln", "Irene", "--include-archived",
                                      "--json")] == [ids[1]]


def test_archive_many_is_all_or_nothing(cli, district):
    sid = enroll(cli, district["manual"]).stdout
    sid = __import__("json").loads(sid)["id"]
    r = cli("student", "archive", "lincoln", sid, 9999, code=4)
    assert "unknown student 9999" in r.stderr
    assert export(cli)["students"][0]["status"] == "active"


def test_guardian_add_edit_remove(cli, district):
    import json

    a = json.loads(enroll(cli, district["manual"], "Ann").stdout)["id"]
    b = json.loads(enroll(cli, district["manual"], "Ben").stdout)["id"]
    g = cli.json("guardian", "add", "lincoln", a, "--email", " Parent@Example.ORG ", "--phone", "(201) 555-0123",
                 "--given-name", "Pat", "--family-name", "Lovelace", "--relationship", "mother", "--json")
    assert (g["email"], g["phone"], g["state"], g["outcome"]) == ("parent@example.org", "+12015550123", "pending",
                                                                 "created")
    # A sibling names the same parent by phone only: one guardian, two links.
    g2 = cli.json("guardian", "add", "lincoln", b, "--phone", "+1 201 555 0123", "--json")
    assert g2["id"] == g["id"] and g2["outcome"] == "linked"
    data = export(cli)
    assert len(data["guardians"]) == 1
    assert sorted((l["student_id"], l["relationship"]) for l in data["links"]) == [(a, "mother"), (b, None)]

    cli("guardian", "edit", "lincoln", g["id"], "--email", "pat@example.net", "--given-name", "Patricia")
    (guardian,) = export(cli)["guardians"]
    assert (guardian["email"], guardian["given_name"]) == ("pat@example.net", "Patricia")

    cli("guardian", "remove", "lincoln", g["id"], "--student", a)
    data = export(cli)
    assert [l["student_id"] for l in data["links"]] == [b]
    assert data["guardians"][0]["status"] == "active"
    cli("guardian", "remove", "lincoln", g["id"])
    data = export(cli)
    assert data["links"] == [] and data["guardians"][0]["status"] == "removed"


def test_remove_all_guardians_of_many_students(cli, district):
    import json

    ids = [json.loads(enroll(cli, district["manual"], n).stdout)["id"] for n in ("Cy", "Di", "Ed")]
    for i, sid in enumerate(ids):
        cli("guardian", "add", "lincoln", sid, "--email", f"p{i}@example.org")
        cli("guardian", "add", "lincoln", sid, "--email", "shared@example.org")
    r = cli("guardian", "remove-all", "lincoln", ids[0], ids[1])
    assert "4 guardian link(s) removed from 2 student(s)" in r.stdout
    links = export(cli)["links"]
    assert sorted(l["student_id"] for l in links) == [ids[2], ids[2]]


def test_email_and_phone_rule(cli, district):
    import json

    a = json.loads(enroll(cli, district["manual"], "Ann").stdout)["id"]
    b = json.loads(enroll(cli, district["manual"], "Ben").stdout)["id"]
    g = cli.json("guardian", "add", "lincoln", a, "--email", "mom@example.org", "--json")["id"]
    cli("guardian", "joined", "lincoln", g)
    # The email belongs to an account now: the pair with a new phone is refused, nothing changes.
    r = cli("guardian", "add", "lincoln", b, "--email", "mom@example.org", "--phone", "+12015550188", code=7)
    assert "This email and phone can't be used at the same time" in r.stderr
    assert f"guardian {g}" in r.stderr and "--invite-existing" in r.stderr
    data = export(cli)
    assert [l["student_id"] for l in data["links"]] == [a]
    assert data["guardians"][0]["phone"] is None
    # Inviting the existing account instead links it, without touching its contacts.
    out = cli.json("guardian", "add", "lincoln", b, "--email", "mom@example.org", "--phone", "+12015550188",
                   "--invite-existing", "--json")
    assert out["id"] == g and out["outcome"] == "linked" and out["phone"] is None
    # Staff cannot edit the contacts of a joined guardian: the parent controls them.
    r = cli("guardian", "edit", "lincoln", g, "--phone", "+12015550188", code=7)
    assert "account settings" in r.stderr


def test_pending_guardian_gains_the_other_contact(cli, district):
    import json

    a = json.loads(enroll(cli, district["manual"], "Ann").stdout)["id"]
    b = json.loads(enroll(cli, district["manual"], "Ben").stdout)["id"]
    g = cli.json("guardian", "add", "lincoln", a, "--email", "dad@example.org", "--json")["id"]
    out = cli.json("guardian", "add", "lincoln", b, "--email", "dad@example.org", "--phone", "2015550177", "--json")
    assert out["id"] == g and out["outcome"] == "extended" and out["phone"] == "+12015550177"


@pytest.mark.parametrize("args,code,message", [
    (("student", "enroll", "nowhere", "--school", "1", "--given-name", "A", "--family-name", "B"), 4,
     "unknown district 'nowhere'"),
    (("student", "edit", "lincoln", "4242", "--grade", "3"), 4, "unknown student 4242"),
    (("guardian", "add", "lincoln", "{sid}", "--email", "not-an-address"), 5, "invalid email address"),
    (("guardian", "add", "lincoln", "{sid}", "--phone", "555"), 5, "invalid mobile number"),
    (("guardian", "add", "lincoln", "{sid}", "--phone", "+44 20 7946 0018"), 5, "landline"),
    (("guardian", "add", "lincoln", "{sid}"), 5, "needs an email address or a mobile number"),
    (("student", "enroll", "lincoln", "--school", "{manual}", "--given-name", "A", "--family-name", "B",
      "--number", "1001"), 6, "student number 1001 is already used"),
    (("student", "enroll", "lincoln", "--school", "{manual}", "--given-name", "A", "--family-name", "B",
      "--birth-date", "04/03/2015"), 5, "YYYY-MM-DD"),
    (("district", "add", "lincoln", "--name", "Again"), 6, "already exists"),
    (("district", "set", "lincoln", "archive_threshold_pct", "150"), 2, "0 to 100"),
    (("district", "set", "lincoln", "colour", "red"), 2, "unknown setting"),
])
def test_bad_input_one_line_distinct_code_no_change(cli, district, args, code, message):
    import json

    sid = json.loads(enroll(cli, district["manual"], "Ann", "Other", "--number", "1001").stdout)["id"]
    before = export(cli)
    r = cli(*[a.format(sid=sid, **district) for a in args], code=code)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert export(cli) == before


LOCKED = [
    ("student", "enroll", "lincoln", "--school", "{synced}", "--given-name", "A", "--family-name", "B"),
    ("student", "assign", "lincoln", "{synced_student}", "{room}"),
    ("student", "assign", "lincoln", "{manual_student}", "{synced_room}"),
    ("student", "edit", "lincoln", "{synced_student}", "--grade", "9"),
    ("student", "archive", "lincoln", "{manual_student}", "{synced_student}"),
    ("guardian", "add", "lincoln", "{synced_student}", "--email", "new@example.org"),
    ("guardian", "edit", "lincoln", "{synced_guardian}", "--given-name", "X"),
    ("guardian", "remove", "lincoln", "{synced_guardian}"),
    ("guardian", "remove-all", "lincoln", "{synced_student}"),
]


@pytest.fixture
def with_synced_student(cli, district):
    """A student and guardian in the synced school, put there by support (as a sync would)."""
    import json

    reason = ("--override-lock", "seeding the test")
    synced_student = json.loads(enroll(cli, district["synced"], "Syd", "Synced", *reason).stdout)["id"]
    manual_student = json.loads(enroll(cli, district["manual"], "Manny", "Manual").stdout)["id"]
    synced_guardian = cli.json("guardian", "add", "lincoln", synced_student, "--email", "sg@example.org",
                               *reason, "--json")["id"]
    return {**district, "synced_student": synced_student, "manual_student": manual_student,
            "synced_guardian": synced_guardian}


@pytest.mark.parametrize("args", LOCKED, ids=lambda a: " ".join(a[:2]) + (" " + a[-1] if a[0] == "student" else ""))
def test_lock_refuses_and_names_the_source(cli, with_synced_student, args):
    before = export(cli)
    r = cli(*[a.format(**with_synced_student) for a in args], code=8)
    assert "is locked: school 'Banneker High' is synced from Clever" in r.stderr
    assert "student information system" in r.stderr and "ask support" in r.stderr
    assert export(cli) == before


def test_lock_leaves_search_and_export_open_and_manual_school_unlocked(cli, with_synced_student):
    ids = with_synced_student
    assert [r["id"] for r in cli.json("directory", "search", "lincoln", "Syd", "--json")] == [ids["synced_student"]]
    cli("student", "edit", "lincoln", ids["manual_student"], "--grade", "2")
    cli("guardian", "add", "lincoln", ids["manual_student"], "--email", "ok@example.org")


def test_guardian_functions_open_when_sync_does_not_manage_guardians(cli, with_synced_student):
    ids = with_synced_student
    cli("district", "set", "lincoln", "sync_manages_guardians", "off")
    cli("guardian", "add", "lincoln", ids["synced_student"], "--email", "aunt@example.org")
    cli("guardian", "edit", "lincoln", ids["synced_guardian"], "--given-name", "Sam")
    # ... but the roster itself stays locked.
    cli("student", "edit", "lincoln", ids["synced_student"], "--grade", "9", code=8)


def test_support_override_is_audited_with_reason(cli, with_synced_student):
    ids = with_synced_student
    cli("student", "edit", "lincoln", ids["synced_student"], "--grade", "9", "--override-lock",
        "SIS is down, ticket 4711")
    assert {s["id"]: s["grade"] for s in export(cli)["students"]}[ids["synced_student"]] == "9"
    entries = cli.json("audit", "lincoln", "--json")
    override = next(e for e in entries if e["action"] == "lock.override")
    edit = next(e for e in entries if e["action"] == "student.edit")
    assert override["actor_type"] == "support" and override["reason"] == "SIS is down, ticket 4711"
    assert edit["before"]["grade"] is None and edit["after"]["grade"] == "9"
    # An override without a reason is refused.
    r = cli("student", "edit", "lincoln", ids["synced_student"], "--grade", "8", "--override-lock", " ", code=5)
    assert "reason" in r.stderr


def test_audit_log_keeps_who_what_before_after(cli, district):
    import json

    sid = json.loads(enroll(cli, district["manual"], "Ann").stdout)["id"]
    cli("student", "edit", "lincoln", sid, "--given-name", "Anne", env={"ROSTERSYNC_ACTOR": "ms.rivera"})
    entry = cli.json("audit", "lincoln", "--limit", "1", "--json")[0]
    assert (entry["actor_type"], entry["actor"], entry["action"], entry["entity"], entry["entity_id"]) == \
        ("user", "ms.rivera", "student.edit", "student", sid)
    assert entry["before"]["given_name"] == "Ann" and entry["after"]["given_name"] == "Anne"
    assert "grade" not in entry["after"]  # only what changed


def test_export_csv_one_row_per_student_and_guardian(cli, district):
    import csv
    import io
    import json

    sid = json.loads(enroll(cli, district["manual"], "=cmd|'/C calc'!A0", "Hacker").stdout)["id"]
    json.loads(enroll(cli, district["manual"], "Lone", "Student").stdout)
    cli("guardian", "add", "lincoln", sid, "--email", "a@example.org")
    cli("guardian", "add", "lincoln", sid, "--phone", "+12015550142")
    rows = list(csv.DictReader(io.StringIO(cli("directory", "export", "lincoln", "--format", "csv").stdout)))
    assert len(rows) == 3
    hacker = [r for r in rows if r["student_id"] == str(sid)]
    assert sorted((r["email"], r["phone"]) for r in hacker) == [("", "+12015550142"), ("a@example.org", "")]
    # A name that a spreadsheet would run as a formula is neutralized.
    assert hacker[0]["given_name"] == "'=cmd|'/C calc'!A0"
    assert hacker[0]["classrooms"] == "" and hacker[0]["school"] == "Adams Elementary"
