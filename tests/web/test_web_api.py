"""The JSON API and the webhooks over HTTP with a plain client, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import requests

from conftest import HOOK_TOKEN, SECRET, hold_a_run
from webclient import api


def _token(cli, email: str) -> str:
    return cli("user", "token", email).stdout.strip()


def test_the_api_needs_a_valid_token(web, cli):
    assert requests.get(f"{web.url}/api/districts").status_code == 401
    r = api(web.url, "rst_not-a-token").get(f"{web.url}/api/districts")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    token = _token(cli, "admin@maple.example.org")
    assert api(web.url, token).get(f"{web.url}/api/districts").status_code == 200
    # A new token replaces the old one; a disabled account's token stops working.
    newer = _token(cli, "admin@maple.example.org")
    assert api(web.url, token).get(f"{web.url}/api/districts").status_code == 401
    cli("user", "disable", "admin@maple.example.org")
    assert api(web.url, newer).get(f"{web.url}/api/districts").status_code == 401
    # A session cookie is no key to the API (so the API needs no CSRF token).
    from webclient import signed_in

    s = signed_in(web.url, "support@rostersync.example.org")
    assert s.get(f"{web.url}/api/districts").status_code == 401


def test_districts_runs_and_reports_as_json(web, cli, synced):
    s = api(web.url, _token(cli, "admin@maple.example.org"))
    districts = s.get(f"{web.url}/api/districts").json()
    assert [d["slug"] for d in districts] == ["maple"]
    d = districts[0]
    assert d["last_run"]["status"] == "succeeded" and d["source"] == "oneroster-csv" and d["in_progress"] is False
    detail = s.get(f"{web.url}/api/districts/maple").json()
    assert {x["id"] for x in detail["schools"]} == {x["id"] for x in synced["schools"]}
    runs = s.get(f"{web.url}/api/districts/maple/runs").json()
    assert [r["run_id"] for r in runs] == [1] and runs[0]["created"] > 0
    run = s.get(f"{web.url}/api/runs/1").json()
    assert run["report"] == synced["report"]  # the whole report, as `rostersync report --format json`
    assert s.get(f"{web.url}/api/runs/99").status_code == 404
    assert s.get(f"{web.url}/api/districts/nope").status_code == 404
    school = s.get(f"{web.url}/api/schools/{synced['school']['id']}").json()
    locks = {row["function"]: row for row in school["locks"]}
    assert locks["enroll student"]["locked"] and "synced from" in locks["enroll student"]["reason"]
    assert not locks["announce"]["locked"] and school["total"] > 0
    assert all("@" not in (g["email"] or "***@") .split("***")[0][1:] for st in school["students"]
               for g in st["guardians"])  # contacts masked


def test_a_leaders_report_is_filtered_and_other_schools_are_forbidden(web, cli, synced):
    s = api(web.url, _token(cli, "lead@maple.example.org"))
    mine, other = synced["school"], synced["other"]
    report = s.get(f"{web.url}/api/runs/1").json()["report"]
    assert [x["school"] for x in report["schools"]] == [mine["external_id"]]
    assert report["filtered_to_schools"] == [mine["external_id"]]
    assert {u["external_id"] for u in report.get("unreachable") or []} <= {mine["external_id"]}
    full = synced["report"]
    assert sum(report["counts"]["students"].values()) < sum(full["counts"]["students"].values())
    assert [x["id"] for x in s.get(f"{web.url}/api/districts/maple").json()["schools"]] == [mine["id"]]
    assert s.get(f"{web.url}/api/schools/{other['id']}").status_code == 403
    r = s.post(f"{web.url}/api/districts/maple/resync", json={"reason": "please"})
    assert r.status_code == 403
    # Another district is not theirs either.
    cli("district", "add", "oak", "--name", "Oak")
    assert s.get(f"{web.url}/api/districts/oak").status_code == 403
    assert [d["slug"] for d in s.get(f"{web.url}/api/districts").json()] == ["maple"]


def _wait_for_run(s, base, run_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = s.get(f"{base}/api/runs/{run_id}")
        if r.status_code == 200 and r.json()["run"]["status"] != "running":
            return r.json()
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def test_support_resyncs_and_approves_through_the_api(web, cli, synced, roster):
    s = api(web.url, _token(cli, "support@rostersync.example.org"))
    assert s.post(f"{web.url}/api/districts/maple/resync", json={"reason": ""}).status_code == 422
    r = s.post(f"{web.url}/api/districts/maple/resync", json={"reason": "ticket 7"})
    assert r.status_code == 202 and r.json()["mode"] == "embedded"
    done = _wait_for_run(s, web.url, 2)
    assert done["run"]["trigger"] == "resync" and done["run"]["requested_by"] == "support@rostersync.example.org"
    assert done["report"]["reason"] == "ticket 7" and done["run"]["status"] == "succeeded"
    held = hold_a_run(cli, roster, synced["folder"])
    assert [h["run_id"] for h in s.get(f"{web.url}/api/held").json()] == [held["run_id"]]
    r = s.post(f"{web.url}/api/runs/{held['run_id']}/approve", json={"reason": "end of year"})
    assert r.status_code == 200, r.text
    assert r.json()["report"]["approved"]["reason"] == "end of year" and r.json()["run"]["status"] == "succeeded"
    r = s.post(f"{web.url}/api/runs/{held['run_id']}/approve", json={})
    assert r.status_code == 400 and "not held" in r.json()["detail"]


def test_the_openapi_schema_documents_the_api(web):
    schema = requests.get(f"{web.url}/api/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/districts", "/api/districts/{slug}/runs", "/api/runs/{run_id}", "/api/schools/{school_id}",
                 "/api/districts/{slug}/resync", "/api/runs/{run_id}/approve"):
        assert path in paths, path
    assert not [p for p in paths if not p.startswith(("/api/", "/hooks/"))]  # pages are not API
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


# -- webhooks ------------------------------------------------------------------------------------------------

def _guardian_with_email(cli) -> dict:
    data = cli.json("directory", "export", "maple", "--format", "json")
    return next(g for g in data["guardians"] if g["email"] and g["status"] == "active")


def test_email_events_need_the_token_and_mark_the_address(web, cli):
    g = _guardian_with_email(cli)
    event = {"type": "bounce", "email": g["email"], "bounce": "hard"}
    assert requests.post(f"{web.url}/hooks/email", json=event).status_code == 401
    assert requests.post(f"{web.url}/hooks/email?token=wrong-token-123456", json=event).status_code == 401
    bad = requests.post(f"{web.url}/hooks/email", json=[event, {"type": "nonsense"}],
                        headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
    assert bad.status_code == 400 and "event 2" in bad.json()["detail"]
    assert _guardian_with_email(cli)["email"] == g["email"]  # all or none: the good event was not applied
    r = requests.post(f"{web.url}/hooks/email", data=json.dumps(event) + "\n",
                      headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
    assert r.status_code == 200 and r.json() == {"events": 1, "matched": 1, "requeued": 0}
    data = cli.json("directory", "export", "maple", "--format", "json")
    after = next(x for x in data["guardians"] if x["id"] == g["id"])
    assert (after["email_status"], after["email_status_reason"]) == ("unreachable", "invalid")


def test_sms_callbacks_need_the_providers_signature(web, cli, monkeypatch):
    from sync.web.signatures import sms_signature

    data = cli.json("directory", "export", "maple", "--format", "json")
    g = next(x for x in data["guardians"] if x["phone"])
    form = {"From": g["phone"], "Body": "STOP", "To": "+15005550006"}
    assert requests.post(f"{web.url}/hooks/sms", data=form).status_code == 503  # no SMS provider set up
    monkeypatch.setenv("ROSTERSYNC_SMS_URL", "http://127.0.0.1:9/2010-04-01")
    monkeypatch.setenv("ROSTERSYNC_SMS_ACCOUNT", "AC1")
    monkeypatch.setenv("ROSTERSYNC_SMS_TOKEN", "provider-auth-token")
    monkeypatch.setenv("ROSTERSYNC_SMS_FROM", "+15005550006")
    url = f"{web.url}/hooks/sms"
    assert requests.post(url, data=form, headers={"X-Twilio-Signature": "forged"}).status_code == 403
    signature = sms_signature("provider-auth-token", url, form.items())
    r = requests.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 204
    after = next(x for x in cli.json("directory", "export", "maple", "--format", "json")["guardians"]
                 if x["id"] == g["id"])
    assert after["phone_status"] == "opted_out"
    chat = {"From": g["phone"], "Body": "thanks!"}
    assert requests.post(url, data=chat, headers={"X-Twilio-Signature": sms_signature(
        "provider-auth-token", url, chat.items())}).status_code == 204  # not an event: acknowledged, ignored


def test_a_message_link_needs_its_signature_then_goes_to_the_join_page(web, monkeypatch):
    from sync.web.settings import WebSettings
    from sync.web.signatures import click_path

    monkeypatch.setenv("ROSTERSYNC_JOIN_URL", "https://join.maple.example.org/")
    key = WebSettings(SECRET, False, None, False, None).key("click")
    path = click_path(key, "no-such-message")
    r = requests.get(f"{web.url}{path}", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "https://join.maple.example.org/"
    assert requests.get(f"{web.url}{path[:-2]}xx", allow_redirects=False).status_code == 404
    assert requests.get(f"{web.url}/m/other-message/{path.rsplit('/', 1)[1]}").status_code == 404
