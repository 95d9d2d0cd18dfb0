"""Hostile and broken API answers (issue #9), synced through `rostersync sync` on SQLite and PostgreSQL.

Clever (Data API v3.0) and ClassLink (OneRoster REST 1.1) districts are synced from the sandbox servers
(sync/sandbox/), told to misbehave, or from a tiny HTTP server of this file that answers 200 with what
no API promises. What a user must see (README, "API sources"): a page that repeats, loops, is not a page
or stops mid-way fails the run with an error naming the API and the URL, and the directory stays exactly
as it was (the export before equals the one after), never a partial roster taken for the whole one; a
record the directory cannot hold is reported and skipped while the rest applies.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sync.sandbox.clever_json import to_clever
from sync.sandbox.clever_server import TOKEN, CleverServer
from sync.sandbox.oneroster_json import to_oneroster_json
from sync.sandbox.oneroster_server import OneRosterServer
from sync.synthetic import generate_district

ROSTER = generate_district(40, seed=5)  # 107 users: two OneRoster pages of 100 (the CLI's page size)
CLEVER_ROSTER = generate_district(12, seed=5)  # Clever pages are made by the tests themselves
CLIENT_ID, CLIENT_SECRET = "hostile-district", "hostile-secret-0c1d"
RENAMED = "s-000003"  # renamed on the server before each broken pull: it must not reach the directory


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def quick_retries(monkeypatch):
    """No waiting between retries: how long the HTTP layer backs off is tested in tests/clever and
    tests/classlink with a fake clock; here only the outcome after the last retry matters."""
    monkeypatch.setattr("connectors.http.backoff", lambda attempt, **kwargs: 0.0)


@pytest.fixture
def clever(cli, monkeypatch):
    server = CleverServer(to_clever(CLEVER_ROSTER), TOKEN).start()
    monkeypatch.setenv("HOSTILE_CLEVER_TOKEN", TOKEN)
    cli("district", "add", "maple", "--name", "Maple", "--source", "clever", "--clever-token-env",
        "HOSTILE_CLEVER_TOKEN", "--clever-base-url", server.url)
    assert sync(cli)["status"] == "succeeded"
    server.change_student(RENAMED, last="Renamed")
    yield server
    server.stop()


@pytest.fixture
def classlink(cli, monkeypatch):
    server = OneRosterServer("1.1", CLIENT_ID, CLIENT_SECRET)
    server.load(to_oneroster_json(ROSTER, "1.1", root=server.root))
    server.start()
    monkeypatch.setenv("HOSTILE_CL_ID", CLIENT_ID)
    monkeypatch.setenv("HOSTILE_CL_SECRET", CLIENT_SECRET)
    cli("district", "add", "maple", "--name", "Maple", "--source", "classlink", "--oneroster-url", server.url,
        "--oneroster-version", "1.1", "--client-id-env", "HOSTILE_CL_ID", "--client-secret-env", "HOSTILE_CL_SECRET")
    assert sync(cli)["status"] == "succeeded"
    server.touch("users", RENAMED, familyName="Renamed")
    yield server
    server.stop()


class _Junk(BaseHTTPRequestHandler):
    """Answers every GET with 200 and ``server.body`` as ``server.content_type``: what a proxy's error page,
    a maintenance page or a body cut short by a crashing backend look like to a client."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.paths.append(self.path)
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def junk():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Junk)
    server.daemon_threads = True
    server.paths = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------------------------ helpers
def sync(cli, code: int = 0) -> dict:
    return json.loads(cli("sync", "maple", "--full", "--json", code=code).stdout)


def export(cli) -> dict:
    return cli.json("directory", "export", "maple", "--format", "json")


def family_name(data: dict, sid: str) -> str:
    return next(s["family_name"] for s in data["students"] if s["external_id"] == sid)


def fails_and_changes_nothing(cli, code: str, *words: str) -> dict:
    """Sync (full); assert it failed with ``code`` and ``words`` in its one error, and that the directory is
    as it was. Returns that error."""
    before = export(cli)
    report = sync(cli, code=1)
    assert report["status"] == "failed" and report["directory_state"] == "failed"
    [error] = report["errors"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], (word, error["message"])
    assert export(cli) == before
    assert family_name(before, RENAMED) != "Renamed"
    return error


def clever_page(server: CleverServer, users: list[dict], next_uri: str | None) -> dict:
    links = [{"rel": "next", "uri": next_uri}] if next_uri else []
    return {"data": [{"data": user} for user in users], "links": links}


def serve_users_pages(server: CleverServer, pages) -> None:
    """From now on /v3.0/users answers ``pages(n)`` to its n-th request (0 first), other paths as usual."""
    earlier = len(server.requests("/v3.0/users"))

    def choose(path: str) -> None:
        server.bad_body = pages(len(server.requests("/v3.0/users")) - earlier) if path == "/v3.0/users" else None
    server.on_request = choose


# ------------------------------------------------------------------------------------------------ loops
def test_clever_giving_the_same_next_link_twice_fails_the_sync_instead_of_looping(cli, clever):
    users = clever.data["users"]
    again = f"/v3.0/users?limit=1000&starting_after={users[9]['id']}"
    # Page 1 links to page 2, and page 2 links to page 2 again.
    serve_users_pages(clever, lambda n: clever_page(clever, users[:10] if n == 0 else users[10:20], again))
    users_before = len(clever.requests("/v3.0/users"))
    fails_and_changes_nothing(cli, "api_bad_response", "the same next page link came twice", "/v3.0/users")
    assert len(clever.requests("/v3.0/users")) - users_before == 2


def test_clever_ignoring_starting_after_fails_the_sync_instead_of_paging_forever(cli, clever):
    # Every page is the first one again, each time with a fresh next link: without a check, it never ends.
    # (After 50 pages this server gives up with a last page, so that a client without the check fails
    # this test instead of hanging it.)
    users = clever.data["users"]
    serve_users_pages(clever, lambda n: clever_page(clever, users[:10],
                                                    f"/v3.0/users?limit=1000&page={n + 1}" if n < 50 else None))
    users_before = len(clever.requests("/v3.0/users"))
    fails_and_changes_nothing(cli, "api_bad_response", "holds only records already received")
    assert len(clever.requests("/v3.0/users")) - users_before == 2


def test_classlink_linking_a_page_to_itself_fails_the_sync_instead_of_looping(cli, classlink):
    classlink.fail("users", offset=100, headers={"Link": f'<{classlink.root}users?limit=100&offset=100>; rel="next"'})
    fails_and_changes_nothing(cli, "api_bad_response", "the same page twice", "users")
    assert [r.query["offset"] for r in classlink.requests_to("users")][-2:] == ["0", "100"]


def test_classlink_ignoring_offset_fails_the_sync_instead_of_taking_one_page_for_all(cli, classlink):
    # With X-Total-Count = 107, a client that counted records would stop after two copies of the first
    # page, with 7 users never read: and a full pull would archive them.
    first = list(classlink.store["users"].values())[:100]
    classlink.fail("users", body={"users": first}, times=10)
    fails_and_changes_nothing(cli, "api_bad_response", "holds only records already received",
                              "ignore the offset")


# ------------------------------------------------------------------------------------- 200 that is not a page
def test_clever_answering_200_with_an_error_body_fails_the_sync(cli, clever):
    for body, why in (({"error": "internal_error", "message": "try later"}, "no 'data' list"),
                      ([], "a JSON list"), ({"data": [{"id": "s-000001"}]}, "item 0 without a 'data' object")):
        serve_users_pages(clever, lambda n: body)
        fails_and_changes_nothing(cli, "api_bad_response", why, "not a page of Clever data", "/v3.0/users")


def test_classlink_answering_200_with_an_error_body_fails_the_sync(cli, classlink):
    classlink.fail("users", offset=100, body={"imsx_codeMajor": "failure", "imsx_description": "backend down"})
    fails_and_changes_nothing(cli, "api_bad_response", "has no 'users' collection", "imsx_codeMajor")


@pytest.mark.parametrize("api", ["clever", "classlink"])
def test_a_200_that_is_html_or_json_cut_short_fails_the_sync(api, cli, request, junk):
    request.getfixturevalue(api)  # the district, synced once from the real server
    cli("district", "set", "maple", "clever_base_url" if api == "clever" else "oneroster_url", junk.url)
    for content_type, body in (("text/html", b"<html><body><h1>Down for maintenance</h1></body></html>"),
                               ("application/json", b'{"data": [{"data": {"id": "s-000001", "name": {"fir')):
        junk.content_type, junk.body, junk.paths = content_type, body, []
        fails_and_changes_nothing(cli, "api_bad_response", "answered HTTP 200 with a body that is not JSON",
                                  junk.url)
        assert len(junk.paths) == 1  # not retried: the same answer would come again


# --------------------------------------------------------------------------------------- stopping mid-way
def test_clever_dropping_the_connection_mid_page_is_retried_then_fails_the_sync(cli, clever, quick_retries):
    clever.on_request = lambda path: setattr(clever, "drop_next", 1 if path == "/v3.0/users" else 0)
    users_before = len(clever.requests("/v3.0/users"))
    fails_and_changes_nothing(cli, "api_unavailable", "/v3.0/users", "after 6 attempts", "try again later")
    assert len(clever.requests("/v3.0/users")) - users_before == 6


def test_classlink_dropping_the_connection_on_a_later_page_fails_the_whole_sync(cli, classlink, quick_retries):
    # The first page of users arrives, the second never does: the 100 users already read are not applied
    # as if they were everyone.
    classlink.fail("users", offset=100, drop=True, times=99)
    fails_and_changes_nothing(cli, "api_unavailable", "offset=100", "after 6 attempts")
    assert [r.query["offset"] for r in classlink.requests_to("users")].count("100") == 1 + 6  # first sync + 6


@pytest.mark.parametrize("api", ["clever", "classlink"])
def test_one_dropped_connection_is_retried_and_the_sync_applies(api, cli, request):
    server = request.getfixturevalue(api)
    if api == "clever":
        earlier = len(server.requests("/v3.0/users"))
        server.on_request = lambda path: setattr(server, "drop_next", 1) if path == "/v3.0/users" and \
            len(server.requests("/v3.0/users")) == earlier else None
    else:
        server.fail("users", offset=100, drop=True)
    report = sync(cli)
    assert report["status"] == "succeeded" and report["errors"] == []
    assert family_name(export(cli), RENAMED) == "Renamed"


# ----------------------------------------------------------------------------- records the directory cannot hold
def test_api_records_with_a_nul_or_an_endless_name_are_skipped_and_the_rest_applies(cli, classlink):
    # PostgreSQL stores no NUL in text and no 5000 characters in a 100-character column: one such record
    # used to fail the whole run there (and pass on SQLite).
    before = {s["external_id"]: s for s in export(cli)["students"]}
    classlink.touch("users", "s-000001", givenName="Ab\u0000cd")
    classlink.touch("users", "s-000002", familyName="X" * 5000)
    classlink.store["users"]["s-000004"]["dateLastModified"] = "last tuesday"
    report = sync(cli)
    assert report["status"] == "succeeded"
    found = {(p["code"], p["severity"], p.get("record"), p.get("field"), p.get("file")) for p in
             report["errors"] + report["warnings"]}
    assert ("invalid_value", "error", "s-000001", "given_name", "users") in found
    assert ("value_too_long", "error", "s-000002", "family_name", "users") in found
    assert ("invalid_date", "warning", "s-000004", "dateLastModified", "users") in found
    assert "XXXXXXXXXX" not in json.dumps(report) and "\\u0000" not in json.dumps(report)
    after = {s["external_id"]: s for s in export(cli)["students"]}
    assert after["s-000001"] == before["s-000001"] and after["s-000002"] == before["s-000002"]
    assert after[RENAMED]["family_name"] == "Renamed" and "s-000004" in after


def test_a_clever_user_who_is_its_own_contact_is_not_its_own_guardian(cli, clever):
    student = next(u for u in clever.data["users"] if u["id"] == "s-000005")
    student["roles"]["contact"] = {"phone": "", "phone_type": "", "sis_id": "",
                                   "student_relationships": [{"student": "s-000005", "relationship": "Parent",
                                                              "type": "Parent/Guardian"}]}
    report = sync(cli)
    assert report["status"] == "succeeded"
    assert any(p["code"] == "agent_self" and p.get("record") == "s-000005" for p in report["warnings"])
    data = export(cli)
    guardians = {g["id"]: g["external_id"] for g in data["guardians"]}
    students = {s["id"]: s["external_id"] for s in data["students"]}
    assert not [l for l in data["links"] if guardians[l["guardian_id"]] == students[l["student_id"]]]
