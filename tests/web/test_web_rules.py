"""The web app's decisions on plain values: roles, a leader's view of a report, filters, signatures,
passwords, CSRF tokens, redirects. No database, no server."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from sync.web import csrf
from sync.web.access import (ADMIN, LEADER, SUPPORT, Principal, account_problems, can_approve, can_change_roster,
                             can_resync, can_see_district, can_see_school, report_filter, sees_whole_district)
from sync.web.passwords import check_strength, hash_password, session_stamp, token_digest, verify_password
from sync.web.report_view import Filters, counts_from_schools, filter_page, filter_report, problem_visible
from sync.web.routes_auth import safe_next
from sync.web.settings import WebSettings, load_settings, parse_listen
from sync.web.signatures import click_path, link_ok, sms_signature, sms_signature_ok, token_ok

LEAD = Principal(1, "lead@x.org", LEADER, district_id=10, school_ids=frozenset({100}))
ADMIN_P = Principal(2, "admin@x.org", ADMIN, district_id=10)
SUPPORT_P = Principal(3, "support@x.org", SUPPORT)


# -- roles -------------------------------------------------------------------------------------------------

def test_a_leader_sees_their_schools_of_their_district_only():
    assert can_see_district(LEAD, 10) and not can_see_district(LEAD, 11)
    assert can_see_school(LEAD, 10, 100)
    assert not can_see_school(LEAD, 10, 101)  # another school of the same district
    assert not can_see_school(LEAD, 11, 100)  # a school id claimed in another district
    assert not sees_whole_district(LEAD, 10) and report_filter(LEAD, 10) == frozenset({100})


def test_a_district_admin_sees_the_district_and_support_everything():
    assert can_see_school(ADMIN_P, 10, 101) and not can_see_district(ADMIN_P, 11)
    assert report_filter(ADMIN_P, 10) is None
    assert all(can_see_district(SUPPORT_P, d) for d in (10, 11)) and report_filter(SUPPORT_P, 11) is None


def test_only_support_resyncs_approves_and_overrides_the_lock():
    assert [can_resync(p) for p in (LEAD, ADMIN_P, SUPPORT_P)] == [False, False, True]
    assert [can_approve(p) for p in (LEAD, ADMIN_P, SUPPORT_P)] == [False, False, True]
    assert [can_change_roster(p, 10, 100, locked=True) for p in (LEAD, ADMIN_P, SUPPORT_P)] == [False, False, True]
    # On a hand-made school (no lock) the school's leader and the admin may archive and restore.
    assert [can_change_roster(p, 10, 100, locked=False) for p in (LEAD, ADMIN_P, SUPPORT_P)] == [True, True, True]
    assert not can_change_roster(LEAD, 10, 101, locked=False)


@pytest.mark.parametrize("role, district, schools, in_district, problem", [
    ("leader", 1, [5], {5, 6}, None),
    ("leader", None, [5], None, "needs --district"),
    ("leader", 1, [], {5}, "at least one --school"),
    ("leader", 1, [9], {5}, "school 9 is not in that district"),
    ("district-admin", 1, [], {5}, None),
    ("district-admin", 1, [5], {5}, "give no --school"),
    ("support", None, [], None, None),
    ("support", 1, [], {5}, "give no --district"),
    ("teacher", 1, [], {5}, "role must be one of"),
])
def test_account_shapes(role, district, schools, in_district, problem):
    problems = account_problems(role, district, schools, in_district)
    assert (problems == []) if problem is None else any(problem in p for p in problems), problems


# -- a leader's view of a report ---------------------------------------------------------------------------

def _report() -> dict:
    group = lambda *names: {"count": len(names), "items": [{"id": n, "name": n} for n in names]}  # noqa: E731
    return {
        "run_id": 7, "status": "held", "district": "maple",
        "counts": {"students": {"created": 3, "archived": 2}, "guardians": {"created": 9}},
        "invitations_queued": 9,
        "schools": [{"school": "A", "name": "Alder", "students": {"created": group("Ann", "Abe")}},
                    {"school": "B", "name": "Birch", "students": {"created": group("Bea"), "archived": group("Bob")}}],
        "held": {"threshold_pct": 10, "schools": [{"school": "B", "active": 4, "leaving": 2, "percent": 50.0}],
                 "students": [{"id": "s9", "name": "Bob", "school": "B"}], "removals": {"archives": {"students": ["s9"]}}},
        "errors": [{"code": "missing_value", "message": "row of Bea", "record": "s-bea"},
                   {"code": "wrong_field_count", "message": "line 9 is short", "file": "users.csv", "line": 9}],
        "warnings": [{"code": "invalid_email", "message": "Ann's parent", "record": "g-ann"}],
        "unreachable": [{"school_id": 1, "school": "Alder", "external_id": "A", "guardians": [{"name": "Al"}]},
                        {"school_id": 2, "school": "Birch", "external_id": "B", "guardians": [{"name": "Bo"}]}],
        "notes": [],
    }


def test_a_filtered_report_keeps_only_the_schools_records_and_counts_of_the_leader():
    records = {"s-bea": {"B"}, "g-ann": {"A"}}
    out = filter_report(_report(), {"A"}, records)
    assert [s["school"] for s in out["schools"]] == ["A"]
    assert out["counts"] == {"students": {"created": 2}}  # recomputed: not the district's 3
    assert "held" not in out  # nobody of school A would leave
    assert [e["code"] for e in out["errors"]] == ["wrong_field_count"]  # a file problem names nobody
    assert [w["record"] for w in out["warnings"]] == ["g-ann"]
    assert "invitations_queued" not in out and out["filtered_to_schools"] == ["A"]
    assert [u["school"] for u in out["unreachable"]] == ["Alder"]  # other schools' families stay out
    assert "1 problem about other schools" in out["notes"][-1]
    assert _report()["schools"][1]["school"] == "B"  # the input is untouched


def test_the_held_part_is_filtered_and_its_removals_never_shown_to_a_leader():
    out = filter_report(_report(), {"B"}, {})
    assert out["held"]["students"] == [{"id": "s9", "name": "Bob", "school": "B"}]
    assert out["held"]["removals"] == {}
    assert out["counts"] == {"students": {"created": 1, "archived": 1}}


def test_problem_visibility():
    assert problem_visible({"message": "file"}, {"A"}, {})
    assert not problem_visible({"record": "x"}, {"A"}, {})  # not in the directory: could be anyone's
    assert problem_visible({"record": "x"}, {"A"}, {"x": {"B", "A"}})


def test_counts_from_schools_adds_up_every_action():
    assert counts_from_schools(_report()["schools"]) == {"students": {"created": 3, "archived": 1}}


# -- search and filters on the page ------------------------------------------------------------------------

def _page() -> dict:
    from sync.report_render import page_context as page

    return page(_report(), [])


def test_filters_ignore_unknown_values_from_urls():
    f = Filters.of(q="  ann ", action="explode", kind="students", severity="fatal", school="A")
    assert f == Filters(q="ann", school="A", action="", kind="students", severity="")
    assert not Filters.of().active


def test_search_finds_names_and_problems_and_counts_matches():
    page = filter_page(_page(), Filters.of(q="bea"))
    names = [i["name"] for s in page["schools"] for k in s["kinds"] for g in k["groups"] for i in g["items"]]
    assert names == ["Bea"]
    assert [i["message"] for g in page["problem_groups"] for i in g["items"]] == ["row of Bea"]
    assert page["matches"] == 2 and page["error_count"] == 1 and page["warning_count"] == 0


def test_filter_by_school_action_and_severity():
    page = filter_page(_page(), Filters.of(school="B", action="archived", severity="warning"))
    assert [s["id"] for s in page["schools"]] == ["B"]
    assert [g["action"] for s in page["schools"] for k in s["kinds"] for g in k["groups"]] == ["archived"]
    assert {g["severity"] for g in page["problem_groups"]} == {"warning"}


# -- signatures, tokens, passwords ---------------------------------------------------------------------------

def test_sms_signature_follows_the_providers_documented_scheme():
    url, fields = "https://web.example.org/hooks/sms", [("MessageStatus", "delivered"), ("MessageSid", "SM1")]
    # By hand: the URL, then each field's name and value sorted by name, HMAC-SHA1, base64.
    data = url + "MessageSid" + "SM1" + "MessageStatus" + "delivered"
    expected = base64.b64encode(hmac.new(b"tok", data.encode(), hashlib.sha1).digest()).decode()
    assert sms_signature("tok", url, fields) == expected
    assert sms_signature_ok("tok", url, list(reversed(fields)), expected)
    assert not sms_signature_ok("tok", url + "?x=1", fields, expected)
    assert not sms_signature_ok("other", url, fields, expected)
    assert not sms_signature_ok("tok", url, fields, None)


def test_tokens_and_links():
    assert token_ok("abc", "abc") and not token_ok("abc", "abd") and not token_ok(None, "x") and not token_ok("a", None)
    key = b"k" * 32
    path = click_path(key, "msg-1")
    _, m, msg, sig = path.split("/")
    assert (m, msg) == ("m", "msg-1") and link_ok(key, "msg-1", sig)
    assert not link_ok(key, "msg-2", sig) and not link_ok(b"x" * 32, "msg-1", sig)


def test_passwords_are_scrypt_hashed_salted_and_checked():
    a, b = hash_password("a long passphrase", n=2 ** 10), hash_password("a long passphrase", n=2 ** 10)
    assert a.startswith("scrypt$1024$8$1$") and a != b  # salted
    assert "a long passphrase" not in a
    assert verify_password("a long passphrase", a) and not verify_password("a long passphrase!", a)
    assert not verify_password("x", "md5$abc") and not verify_password("x", "garbage")
    assert check_strength("short") and check_strength(" padded password ") and check_strength("twelve chars") is None
    assert session_stamp(a) != session_stamp(b) and len(token_digest("t")) == 64


def test_csrf_tokens():
    session: dict = {}
    token = csrf.token(session)
    assert csrf.token(session) == token and csrf.valid(session, token)
    assert not csrf.valid(session, token + "x") and not csrf.valid(session, None) and not csrf.valid({}, token)
    assert csrf.rotate(session) != token and not csrf.valid(session, token)


@pytest.mark.parametrize("value, expected", [("/runs/3", "/runs/3"), ("//evil.example/x", "/"),
                                             ("https://evil.example", "/"), ("/\\evil", "/"), (None, "/")])
def test_sign_in_only_redirects_within_the_site(value, expected):
    assert safe_next(value) == expected


def test_settings():
    s = load_settings({})
    assert s.ephemeral_secret and len(s.secret) == 64 and s.webhook_token is None
    s = load_settings({"ROSTERSYNC_WEB_SECRET": "x" * 32, "ROSTERSYNC_WEB_SECURE_COOKIES": "1",
                       "ROSTERSYNC_WEB_PUBLIC_URL": "https://web.example.org/"})
    assert not s.ephemeral_secret and s.secure_cookies and s.public_url == "https://web.example.org"
    assert s.key("session") != s.key("click")
    from directory.errors import ConfigError

    for bad in ({"ROSTERSYNC_WEB_SECRET": "short"}, {"ROSTERSYNC_WEBHOOK_TOKEN": "short"},
                {"ROSTERSYNC_WEB_PUBLIC_URL": "web.example.org"}):
        with pytest.raises(ConfigError):
            load_settings(bad)
    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000) and parse_listen("9000") == ("127.0.0.1", 9000)
    assert parse_listen("[::1]:80") == ("::1", 80)
    with pytest.raises(ConfigError):
        parse_listen("host:http")
    assert isinstance(s, WebSettings)


def test_message_links_for_messaging():
    from sync.web.links import message_link

    assert message_link("k1", {}) is None  # nothing configured: messages carry no link
    env = {"ROSTERSYNC_WEB_SECRET": "x" * 32, "ROSTERSYNC_WEB_PUBLIC_URL": "https://web.example.org"}
    url = message_link("k1", env)
    assert url.startswith("https://web.example.org/m/k1/")
    assert link_ok(load_settings(env).key("click"), "k1", url.rsplit("/", 1)[1])
