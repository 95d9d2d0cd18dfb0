"""The test server speaks Clever's published v3.0 API: every payload it sends validates against the spec's
definitions (strictly: no field the spec does not define), so the fake cannot drift from the real API.
Skips only when ../shared/samples is missing outside CI (the samples_dir fixture)."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from clever_spec import definitions, strict, validate, validate_event
from connectors.clever.pull import pull_clever
from connectors.http import ApiError
from connectors.records import StudentRecord
from sync.sandbox.clever_server import TOKEN


def exercise(clever) -> None:
    """Make the server send one of everything: pages of each collection, every event type the sync uses
    (and one it does not), and the error answers."""
    options = {"sleep": lambda s: None, "per_minute": 0, "max_attempts": 2}
    clever.change_student("s-000010", grade="Kindergarten")
    first = pull_clever(clever.url, TOKEN, None, True, limit=60, client_options=options)
    section = clever.data["sections"][3]
    clever.add_student(StudentRecord("s-900001", "sch-001", "Imani", "Okafor", "799001", "2016-03-09", "3"),
                       sections=[section["id"]])
    clever.change_student("s-000001", last="Okonkwo", school="sch-002")
    clever.remove_student("s-000020")
    clever.change_object("sections", section["id"], lambda s: s.update(teacher=None, teachers=[], name="Art"))
    clever.delete_object("sections", clever.data["sections"][7]["id"])
    clever.change_object("schools", "sch-001", lambda s: s.update(name="Maple Valley Academy", phone="555-0100"))
    clever.record_event("terms.created", {"id": "5e1f00000000000000000001", "district": "d", "name": "Fall",
                                          "start_date": "2025-08-20T00:00:00.000Z", "end_date": None})
    pull_clever(clever.url, TOKEN, first.cursor, False, limit=3, client_options=options)
    clever.expire_events()
    pull_clever(clever.url, TOKEN, first.cursor, False, client_options=options)  # 404, then a full pull
    for statuses in ([429], [500, 500], [400]):
        clever.fail_next(*statuses)
        try:
            pull_clever(clever.url, TOKEN, None, True, client_options=options)
        except ApiError:
            pass
    with pytest.raises(ApiError):
        pull_clever(clever.url, "wrong", None, True, client_options=options)


def test_every_payload_the_server_sends_is_what_the_spec_defines(samples_dir, clever):
    exercise(clever)
    routes = {(route, status) for route, status, _ in clever.sent}
    assert {("/v3.0/users", 200), ("/v3.0/sections", 200), ("/v3.0/schools", 200), ("/v3.0/events", 200),
            ("/v3.0/events", 404), ("/v3.0/events", 429), ("/v3.0/events", 500), ("/v3.0/events", 400),
            ("/v3.0/events", 401)} <= routes
    types = {item["data"]["type"] for route, status, body in clever.sent if route == "/v3.0/events" and status == 200
             for item in body["data"]}
    assert types == {"users.created", "users.updated", "users.deleted", "sections.updated", "sections.deleted",
                     "schools.updated", "terms.created"}
    for route, status, body in clever.sent:
        validate(samples_dir, route, status, body)


@pytest.fixture
def user_event(clever):
    clever.change_student("s-000001", last="Okonkwo")
    return copy.deepcopy(clever.events[-1])


def test_the_check_is_strict_enough_to_catch_drift(samples_dir, clever, user_event):
    """The validator fails on what a careless fake would do, so passing it means something."""
    defs = definitions(samples_dir)
    users = {"data": [{"data": copy.deepcopy(clever.data["users"][0])}], "links": []}
    validate(samples_dir, "/v3.0/users", 200, users)

    def broken(change) -> dict:
        body = copy.deepcopy(users)
        change(body["data"][0]["data"])
        return body

    for change in (lambda u: u["roles"]["student"].update(dob="2008-01-05"),  # ISO, not MM/DD/YYYY
                   lambda u: u["roles"]["student"].update(grade="K"),  # not in the grade enum
                   lambda u: u.update(given_name="Bryan"),  # a field Clever does not have
                   lambda u: u["roles"].update(parent={})):  # nor this role
        with pytest.raises(jsonschema.ValidationError):
            validate(samples_dir, "/v3.0/users", 200, broken(change))
    contact = next(u for u in clever.data["users"] if "contact" in u["roles"])
    bad_contact = copy.deepcopy(contact)
    bad_contact["roles"]["contact"]["phone_type"] = "cell"  # the enum is "Cell"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(strict(defs, defs["User"])).validate(bad_contact)
    validate_event(defs, user_event)
    for change in (lambda e: e.update(type="students.updated"),  # a v1.1 event type
                   lambda e: e["previous_attributes"].update(last_name="Smith"),  # not a field of User
                   lambda e: e.update(previous_attributes={"name": "Smith"})):  # name is an object
        event = copy.deepcopy(user_event)
        change(event)
        with pytest.raises(jsonschema.ValidationError):
            validate_event(defs, event)
