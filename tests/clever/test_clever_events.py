"""Incremental Clever pulls from the events feed: changes arrive in order as a delta that brings the
directory to what a full pull would show; replaying is harmless; a lost place in the feed means a full pull."""

from __future__ import annotations

import copy

import pytest

from connectors.clever.pull import pull_clever
from connectors.http import ApiBadResponse, ApiUnavailable
from connectors.records import KINDS, StudentRecord
from sync.sandbox.clever_server import TOKEN

NEW = StudentRecord("s-900001", "sch-001", "Imani", "Okafor", "799001", "2016-03-09", "3")


def pull(server, cursor, **kwargs):
    return pull_clever(server.url, TOKEN, cursor, False, client_options={"per_minute": 0}, **kwargs)


def apply(state: dict | None, batch) -> dict:
    """A minimal directory: a full batch replaces what it is complete for; a delta upserts what it carries
    and removes what it marks deleted. (The real reconciler does more; this is the contract it relies on.)"""
    state = {k: dict(v) for k, v in (state or {kind: {} for kind in KINDS}).items()}
    for kind in KINDS:
        records = getattr(batch, kind)
        if kind in batch.complete:
            state[kind] = {}
        for r in records:
            key = (r.classroom_id, r.user_id, r.role) if kind == "enrollments" else r.external_id
            if r.deleted:
                state[kind].pop(key, None)
            else:
                state[kind][key] = r
    return state


def teacher_pairs(state: dict) -> set:
    """The classroom-teacher pairs the classes name."""
    return {(c.external_id, t) for c in state["classrooms"].values() for t in c.teacher_ids}


@pytest.fixture
def synced(clever):
    """A district synced once, with one change already in Clever's feed before that first sync."""
    clever.change_student("s-000010", grade="4")
    first = pull_clever(clever.url, TOKEN, None, True, client_options={"per_minute": 0})
    assert first.cursor == {"last_event_id": clever.events[-1]["id"]} and first.notes == []
    return first


def sections_of(clever, student: str) -> list[str]:
    return [s["id"] for s in clever.data["sections"] if student in s["students"]]


def test_changes_arrive_in_order_as_a_delta(clever, synced):
    section = sections_of(clever, "s-000004")[0]
    c1 = clever.data["sections"][0]["id"]
    leaving = sections_of(clever, "s-000020")
    contacts = {u["id"] for u in clever.data["users"] if "s-000020" in
                [r["student"] for r in ((u["roles"].get("contact") or {}).get("student_relationships") or [])]}
    assert contacts
    clever.change_student("s-000001", last="Okonkwo-Hale")
    clever.change_student("s-000001", last="Okonkwo", grade="7")  # the later event wins
    clever.add_student(NEW, sections=[c1])
    clever.remove_student("s-000020")
    members = next(s["students"] for s in clever.data["sections"] if s["id"] == section)
    clever.set_section_students(section, [m for m in members if m != "s-000004"])

    delta = pull(clever, synced.cursor)
    batch = delta.batch
    assert (batch.mode, batch.complete, batch.problems) == ("delta", frozenset(), [])
    assert delta.cursor == {"last_event_id": clever.events[-1]["id"]}
    students = {s.external_id: s for s in batch.students}
    assert set(students) == {"s-000001", NEW.external_id, "s-000020"}  # only what changed
    assert {g.external_id for g in batch.guardians} == contacts  # s-000020 is no longer their child
    assert all("s-000020" not in {link.student_id for link in g.links} for g in batch.guardians if not g.deleted)
    assert (students["s-000001"].family_name, students["s-000001"].grade) == ("Okonkwo", "7")
    assert students[NEW.external_id] == NEW
    assert students["s-000020"].deleted
    gone = {(e.classroom_id, e.user_id) for e in batch.enrollments if e.deleted}
    assert gone == {(s, "s-000020") for s in leaving} | {(section, "s-000004")}
    assert (c1, NEW.external_id, "student") in {(e.classroom_id, e.user_id, e.role) for e in batch.enrollments
                                                if not e.deleted}
    since = [e["id"] for e in clever.events].index(synced.cursor["last_event_id"]) + 1
    assert f"{len(clever.events) - since} events" in delta.description


def test_the_delta_brings_the_directory_to_what_a_full_pull_shows(clever, synced):
    section = sections_of(clever, "s-000004")[0]
    clever.change_student("s-000002", first="Nia")
    clever.add_student(NEW, sections=[section])
    clever.remove_student("s-000021")
    members = next(s["students"] for s in clever.data["sections"] if s["id"] == section)
    clever.set_section_students(section, [m for m in members if m != "s-000004"])
    teacher_section = next(s for s in clever.data["sections"] if s["teachers"])
    teachers_before = list(teacher_section["teachers"])  # the server changes the dict itself
    clever.change_object("sections", teacher_section["id"], lambda s: s.update(teacher=None, teachers=[]))
    delta = pull(clever, synced.cursor)

    after = apply(apply(None, synced.batch), delta.batch)
    truth = apply(None, pull_clever(clever.url, TOKEN, None, True, client_options={"per_minute": 0}).batch)
    for kind in KINDS:
        assert after[kind] == truth[kind], kind
    assert teacher_pairs(after) == teacher_pairs(truth)
    removed_teachers = {(e.classroom_id, e.user_id) for e in delta.batch.enrollments
                        if e.deleted and e.role == "teacher"}
    assert removed_teachers == {(teacher_section["id"], t) for t in teachers_before} != set()


def test_replaying_the_same_events_is_harmless(clever, synced):
    clever.change_student("s-000003", last="Reyes")
    clever.remove_student("s-000022")
    once = pull(clever, synced.cursor)
    again = pull(clever, synced.cursor)
    assert again.batch == once.batch and again.cursor == once.cursor
    state = apply(apply(None, synced.batch), once.batch)
    assert apply(state, again.batch) == state
    caught_up = pull(clever, once.cursor)
    assert caught_up.cursor == once.cursor and caught_up.batch.counts() == dict.fromkeys(KINDS, 0)


def test_a_change_made_during_the_full_pull_comes_with_the_next_pull(clever):
    clever.change_student("s-000010", grade="4")

    def change_after_users_were_read(path: str) -> None:
        if path == "/v3.0/sections" and not clever.requests("/v3.0/sections"):
            clever.change_student("s-000005", last="Midsync")
    clever.on_request = change_after_users_were_read
    first = pull_clever(clever.url, TOKEN, None, True, client_options={"per_minute": 0})
    assert next(s for s in first.batch.students if s.external_id == "s-000005").family_name != "Midsync"
    nxt = pull(clever, first.cursor)
    assert [s.family_name for s in nxt.batch.students if s.external_id == "s-000005"] == ["Midsync"]


def test_an_event_id_clever_no_longer_keeps_means_a_full_pull_with_a_note(clever, synced, district):
    clever.change_student("s-000003", last="Reyes")
    clever.expire_events(keep_last=1)  # 30 days later: the saved event is gone from the feed
    result = pull(clever, synced.cursor)
    assert result.batch.mode == "full" and result.batch.complete == frozenset(KINDS)
    assert len(result.batch.students) == len(district.students)
    assert any("no longer knows the saved event" in n and "full pull" in n for n in result.notes)
    assert clever.log[len(clever.log) - result.requests].status == 404  # asked for the events first
    assert result.cursor == {"last_event_id": clever.events[-1]["id"]}


def test_no_event_at_the_first_full_pull_means_a_full_pull_next_time(clever):
    first = pull_clever(clever.url, TOKEN, None, True, client_options={"per_minute": 0})
    assert first.cursor == {"last_event_id": None}
    nxt = pull(clever, first.cursor)
    assert nxt.batch.mode == "full" and any("no event" in n for n in nxt.notes)


def test_a_lost_role_a_deleted_section_a_renamed_school_and_events_of_no_use(clever, synced):
    section = clever.data["sections"][5]
    contact_role = {"contact": {"phone": None, "phone_type": None, "sis_id": None, "student_relationships": [
        {"student": "s-000001", "relationship": "Sibling", "type": "Family"}]}}
    clever.change_user("s-000030", lambda u: u.update(roles=copy.deepcopy(contact_role)))
    clever.delete_object("sections", section["id"])
    clever.change_object("schools", "sch-001", lambda s: s.update(name="Maple Valley Academy"))
    clever.record_event("terms.created", {"id": "5e1f00000000000000000001", "district": "d", "name": "Fall",
                                          "start_date": "2025-08-20T00:00:00.000Z", "end_date": None})
    batch = (result := pull(clever, synced.cursor)).batch
    assert [(s.external_id, s.deleted) for s in batch.students] == [("s-000030", True)]
    assert [(g.external_id, g.deleted) for g in batch.guardians] == [("s-000030", False)]
    assert [(c.external_id, c.deleted) for c in batch.classrooms] == [(section["id"], True)]
    assert {(e.user_id, e.deleted) for e in batch.enrollments} == \
        {(u, True) for u in section["students"] + section["teachers"]}
    assert [s.name for s in batch.schools] == ["Maple Valley Academy"]
    assert any("1 terms.created" in n for n in result.notes)


def test_a_failing_events_page_fails_the_pull_rather_than_pulling_everything(clever, synced):
    clever.always_status = 503
    before = len(clever.log)
    with pytest.raises(ApiUnavailable):
        pull_clever(clever.url, TOKEN, synced.cursor, False, client_options={"sleep": lambda s: None})
    assert {r.path for r in clever.log[before:]} == {"/v3.0/events"}


def test_an_error_other_than_404_for_the_events_is_not_taken_for_an_expired_id(clever, synced):
    clever.fail_next(400)
    with pytest.raises(ApiBadResponse, match="HTTP 400"):
        pull(clever, synced.cursor)


def test_an_event_without_an_id_stops_the_pull(clever, synced):
    clever.change_student("s-000003", last="Reyes")
    del clever.events[-1]["id"]
    with pytest.raises(ApiBadResponse, match="without an id"):
        pull(clever, synced.cursor)
