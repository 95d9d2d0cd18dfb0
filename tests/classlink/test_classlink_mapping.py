"""The mapping on plain values: the CSV reader's rules on OneRoster JSON, and per-record problems.

What a user notices: a bad record costs that record (with a problem that names the collection, the id
and the field, never a person's name or contact), not the night's sync; a departed student is marked
as leaving; guardians are linked to their children whichever side names the link.
"""

from __future__ import annotations

from connectors.classlink.mapping import map_roster
from connectors.classlink.mapping_users import ROLE_KIND
from connectors.sftp import oneroster_csv


def ref(sid: str, kind: str = "org") -> dict:
    return {"href": f"http://x/{sid}", "sourcedId": sid, "type": kind}


def user11(sid, role, orgs=("sch-1",), agents=(), status="active", **fields):
    return {"sourcedId": sid, "status": status, "dateLastModified": "2025-01-01T00:00:00Z", "role": role,
            "orgs": [ref(o) for o in orgs], "agents": [ref(a, "user") for a in agents], "givenName": "Given",
            "familyName": "Family", **fields}


ORGS = [{"sourcedId": "dist", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z", "name": "D",
         "type": "district"},
        {"sourcedId": "sch-1", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z", "name": "North",
         "type": "school", "identifier": "0101", "parent": ref("dist")},
        {"sourcedId": "dept", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z", "name": "Math",
         "type": "department", "parent": ref("sch-1")}]


def test_the_role_table_is_the_csv_readers():
    assert ROLE_KIND == oneroster_csv._ROLE_KIND


def test_guardians_are_linked_from_either_side_once_and_sms_is_a_mobile_number():
    users = [user11("s-1", "student", agents=["g-1"]), user11("s-2", "student", orgs=["dept"]),
             user11("g-1", "parent", agents=["s-1", "s-2"], sms="+1 555 0100", phone="555 0199"),
             user11("g-2", "relative", agents=["s-2"], phone="555 0142")]
    batch = map_roster({"orgs": ORGS, "users": users}, "1.1", full=True)
    assert batch.problems == []
    assert {s.external_id: s.school_id for s in batch.students} == {"s-1": "sch-1", "s-2": "sch-1"}  # dept -> school
    g1, g2 = batch.guardians
    assert [(link.student_id, link.relationship, link.contact_type) for link in g1.links] == [
        ("s-1", "parent", "parent"), ("s-2", "parent", "parent")]
    assert (g1.phone, g1.phone_type, g2.phone, g2.phone_type) == ("+1 555 0100", "cell", "555 0142", None)
    assert [link.contact_type for link in g2.links] == ["relative"]


def test_oneroster_12_roles_primary_first_and_primary_org_decide_the_school():
    orgs = ORGS + [{"sourcedId": "sch-2", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z",
                    "name": "South", "type": "school"}]
    user = {"sourcedId": "s-1", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z", "givenName": "A",
            "familyName": "B", "enabledUser": True, "grades": ["03"], "identifier": "700001",
            "roles": [{"roleType": "secondary", "role": "student", "org": ref("sch-2")},
                      {"roleType": "primary", "role": "student", "org": ref("sch-1")}]}
    batch = map_roster({"orgs": orgs, "users": [user]}, "1.2", full=True)
    assert [(s.school_id, s.grade, s.student_number) for s in batch.students] == [("sch-1", "03", "700001")]
    batch = map_roster({"orgs": orgs, "users": [{**user, "primaryOrg": ref("sch-2")}]}, "1.2", full=True)
    assert batch.students[0].school_id == "sch-2"


def test_bad_records_become_problems_naming_collection_id_and_field_and_the_rest_is_kept():
    users = [user11("s-1", "student"), user11("s-2", "wizard"), user11("s-3", "student", orgs=["nowhere"]),
             user11("s-4", "student", status="inactive"), user11("s-1", "student"),
             user11("t-1", "teacher", givenName="")]
    enrollments = [{"sourcedId": "e-1", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z",
                    "class": ref("c-1", "class"), "user": ref("s-3", "user"), "role": "student"},
                   {"sourcedId": "e-2", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z",
                    "class": ref("c-1", "class"), "user": ref("s-1", "user"), "role": "student"}]
    classes = [{"sourcedId": "c-1", "status": "active", "dateLastModified": "2025-01-01T00:00:00Z", "title": "Art",
                "school": ref("sch-1"), "course": ref("co-9", "course")}]
    batch = map_roster({"orgs": ORGS, "classes": classes, "users": users, "enrollments": enrollments}, "1.1",
                       full=True)
    assert [s.external_id for s in batch.students] == ["s-1"]
    assert [(e.external_id, e.user_id) for e in batch.enrollments] == [("e-2", "s-1")]
    found = {(p.file, p.record, p.field, p.code, p.severity) for p in batch.problems}
    assert found == {
        ("classes", "c-1", "course", "unknown_reference", "warning"),
        ("users", "s-2", "role", "invalid_value", "error"),
        ("users", "s-3", "orgs", "no_school", "error"),
        ("users", "s-4", "status", "invalid_status", "error"),
        ("users", "s-1", "sourcedId", "duplicate_id", "warning"),
        ("users", "t-1", "givenName", "missing_value", "error"),
        ("enrollments", "e-1", "user", "rejected_reference", "error"),
    }
    assert not any("Given" in p.message or "Family" in p.message for p in batch.problems)


def test_a_delta_marks_tobedeleted_records_deleted_and_trusts_ids_it_does_not_hold():
    users = [user11("s-9", "student", status="tobedeleted", givenName="", familyName=""),
             user11("s-8", "student", orgs=["sch-7"])]  # sch-7: not in this delta, known to the directory
    enrollments = [{"sourcedId": "e-9", "status": "tobedeleted", "dateLastModified": "2025-02-01T00:00:00Z",
                    "class": ref("c-4", "class"), "user": ref("s-9", "user"), "role": "student"},
                   {"sourcedId": "e-7", "dateLastModified": "2025-02-01T00:00:00Z",
                    "class": ref("c-4", "class"), "user": ref("s-8", "user"), "role": "student"}]
    batch = map_roster({"users": users, "enrollments": enrollments}, "1.1", full=False)
    assert (batch.mode, batch.complete) == ("delta", frozenset())
    assert [(s.external_id, s.school_id, s.deleted) for s in batch.students] == [("s-9", "sch-1", True),
                                                                                  ("s-8", "sch-7", False)]
    assert [(e.external_id, e.deleted) for e in batch.enrollments] == [("e-9", True)]
    assert [(p.record, p.code) for p in batch.problems] == [("e-7", "invalid_status")]  # status is required in a delta
    # the same unknown school in a full pull cannot exist: the student is refused
    full = map_roster({"orgs": ORGS, "users": users[1:]}, "1.1", full=True)
    assert full.students == [] and full.problems[0].code == "no_school"
