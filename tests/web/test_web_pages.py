"""The pages over HTTP, on SQLite and PostgreSQL: sign-in, roles, CSRF on every form, escaping of what a SIS
sends, downloads neutralised against formula injection, and the security headers."""

from __future__ import annotations

import csv
import io

import requests

from conftest import FORMULA_NAME, SCRIPT_NAME, hold_a_run
from webclient import csrf_of, post_form, signed_in

LEAD, OTHER, ADMIN, SUPPORT = ("lead@maple.example.org", "other@maple.example.org", "admin@maple.example.org",
                               "support@rostersync.example.org")


def test_pages_need_a_sign_in_and_a_wrong_password_gets_no_hint(web):
    r = requests.get(f"{web.url}/districts/maple", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/districts/maple"
    s = requests.Session()
    token = csrf_of(s.get(f"{web.url}/login").text)
    for email, password in ((LEAD, "wrong password!"), ("nobody@maple.example.org", "whatever password")):
        r = s.post(f"{web.url}/login", data={"email": email, "password": password, "csrf_token": token})
        assert r.status_code == 401 and "do not match an active account" in r.text
    # After signing in, the page it was sent from.
    r = s.post(f"{web.url}/login", data={"email": LEAD, "password": "correct horse battery staple",
                                        "csrf_token": token, "next": "/districts/maple"}, allow_redirects=False)
    assert r.headers["location"] == "/districts/maple"


def test_every_form_needs_the_csrf_token(web, synced):
    s = signed_in(web.url, SUPPORT)
    school = synced["school"]["id"]
    forms = [("/districts/maple/resync", {"reason": "ticket 1"}), ("/runs/1/approve", {"reason": "x"}),
             (f"/schools/{school}/students/1/archive", {"reason": "x"}), ("/account/token", {}), ("/logout", {})]
    for action, data in forms:
        for token in (None, "forged-token"):
            body = dict(data, **({"csrf_token": token} if token else {}))
            r = s.post(f"{web.url}{action}", data=body, allow_redirects=False)
            assert r.status_code == 403 and "CSRF" in r.text, (action, token, r.status_code)
    # A token from another session (an attacker's own) does not pass either.
    attacker = signed_in(web.url, LEAD)
    foreign = csrf_of(attacker.get(f"{web.url}/account").text)
    r = s.post(f"{web.url}/account/token", data={"csrf_token": foreign}, allow_redirects=False)
    assert r.status_code == 403
    # Sign-in itself is protected (no logging a victim into the attacker's account).
    r = requests.post(f"{web.url}/login", data={"email": LEAD, "password": "correct horse battery staple"})
    assert r.status_code == 403
    # Nothing was changed by the refused posts: still one run, still signed in.
    assert s.get(f"{web.url}/runs/2").status_code == 404
    assert s.get(f"{web.url}/account").status_code == 200


def test_a_students_name_is_shown_as_text_never_run(web, synced):
    s = signed_in(web.url, ADMIN)
    school = synced["school"]["id"]
    for path in ("/runs/1", "/runs/1?q=script", f"/schools/{school}?q=Tester", "/runs/1/report.html"):
        html = s.get(f"{web.url}{path}").text
        assert SCRIPT_NAME not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    # What the user typed is escaped too (the search box echoes it).
    html = s.get(f"{web.url}/runs/1", params={"q": '"><script>alert(2)</script>'}).text
    assert "<script>alert(2)" not in html and "&#34;&gt;&lt;script&gt;alert(2)" in html


def test_the_csv_download_neutralises_formulas(web, synced):
    s = signed_in(web.url, LEAD)
    r = s.get(f"{web.url}/runs/1/report.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="rostersync-maple-run-1.csv"' == r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    names = [row["name"] for row in rows]
    assert "'" + FORMULA_NAME + " Formula" in names
    assert not [row for row in rows for cell in row.values() if cell and cell[0] in "=+@"]
    assert not [row for row in rows for cell in row.values()
                if cell and cell[0] == "-" and not cell.lstrip("-").replace(".", "").isdigit()]


def test_a_leader_sees_their_school_only_and_gets_403_elsewhere(web, synced):
    s = signed_in(web.url, LEAD)
    mine, other = synced["school"], synced["other"]
    run = s.get(f"{web.url}/runs/1").text
    assert mine["name"] in run and "This report shows only your schools." in run
    assert "<h3 id=\"school-2\">" not in run  # one school section only
    assert s.get(f"{web.url}/schools/{mine['id']}").status_code == 200
    r = s.get(f"{web.url}/schools/{other['id']}")
    assert r.status_code == 403 and "may not see this school" in r.text
    # Buttons of support are neither shown nor accepted.
    district = s.get(f"{web.url}/districts/maple").text
    assert "Resync now" not in district and other["name"] not in district
    r = post_form(s, web.url, "/districts/maple", "/districts/maple/resync", {"reason": "let me"})
    assert r.status_code == 403
    # The other leader sees the same run with their school instead.
    s2 = signed_in(web.url, OTHER)
    assert other["name"] in s2.get(f"{web.url}/runs/1").text
    assert s2.get(f"{web.url}/schools/{mine['id']}").status_code == 403


def test_the_lock_is_shown_and_support_overrides_it_with_a_reason(web, synced, cli):
    school = synced["school"]["id"]
    admin = signed_in(web.url, ADMIN)
    page = admin.get(f"{web.url}/schools/{school}").text
    assert "Enroll student" in page and "is synced from OneRoster CSV files" in page and "Archive</button>" not in page
    student = next(s for s in cli.json("directory", "export", "maple", "--format", "json")["students"]
                   if s["school_id"] == school and s["status"] == "active")
    r = post_form(admin, web.url, f"/schools/{school}", f"/schools/{school}/students/{student['id']}/archive", {})
    assert r.status_code == 403
    support = signed_in(web.url, SUPPORT)
    r = post_form(support, web.url, f"/schools/{school}", f"/schools/{school}/students/{student['id']}/archive",
                  {"reason": "ticket 42: left mid-year, SIS fixed tomorrow"})
    assert r.status_code == 303
    assert "lock overridden" in support.get(f"{web.url}{r.headers['location']}").text
    audit = cli.json("audit", "maple", "--json")
    assert any(e["action"] == "lock.override" and e["reason"].startswith("ticket 42") and
               e["actor"] == "support@rostersync.example.org" for e in audit)
    exported = {s["id"]: s for s in cli.json("directory", "export", "maple", "--format", "json")["students"]}
    assert exported[student["id"]]["status"] == "archived"


def test_held_runs_are_listed_and_approved_by_support(web, synced, cli, roster):
    held = hold_a_run(cli, roster, synced["folder"])
    run = held["run_id"]
    admin = signed_in(web.url, ADMIN)
    page = admin.get(f"{web.url}/held").text
    assert f"Run {run}" in page and "Support approves" in page
    support = signed_in(web.url, SUPPORT)
    r = post_form(support, web.url, f"/runs/{run}", f"/runs/{run}/approve", {"reason": "end of term"})
    assert r.status_code == 303
    assert f"Run {run} approved" in support.get(f"{web.url}/runs/{run}").text
    assert cli.json("report", "maple", "--format", "json")["approved"]["by"] == "support@rostersync.example.org"
    # Approving again is refused with the sync's own reason, as a message (not a crash).
    r = post_form(support, web.url, f"/runs/{run}", f"/runs/{run}/approve", {})
    assert "not held: nothing to approve" in support.get(f"{web.url}{r.headers['location']}").text


def test_security_headers_and_no_caching_of_pages(web):
    s = signed_in(web.url, ADMIN)
    r = s.get(f"{web.url}/runs/1")
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no script at all
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"
    cookie = s.cookies.get("rostersync")
    assert cookie
    raw = requests.get(f"{web.url}/login").headers["set-cookie"].lower()
    assert "httponly" in raw and "samesite=lax" in raw


def test_after_signing_in_the_page_asked_for_opens_with_its_filters(web):
    s = requests.Session()
    r = s.get(f"{web.url}/runs/1?q=a&severity=warning")
    assert r.url == f"{web.url}/login?next=/runs/1%3Fq%3Da%26severity%3Dwarning"
    assert 'name="next" value="/runs/1?q=a&amp;severity=warning"' in r.text
    r = s.post(f"{web.url}/login", data={"email": ADMIN, "password": "correct horse battery staple",
                                        "csrf_token": csrf_of(r.text), "next": "/runs/1?q=a&severity=warning"},
               allow_redirects=False)
    assert r.headers["location"] == "/runs/1?q=a&severity=warning"
