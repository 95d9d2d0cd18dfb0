"""A plain HTTP client for the served app, as a browser without JavaScript or a script would use it."""

from __future__ import annotations

import re

import requests

from conftest import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def signed_in(base: str, email: str, password: str = PASSWORD) -> requests.Session:
    s = requests.Session()
    token = csrf_of(s.get(f"{base}/login").text)
    r = s.post(f"{base}/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"},
               allow_redirects=False)
    assert r.status_code == 303, r.text
    return s


def post_form(s: requests.Session, base: str, page: str, action: str, data: dict) -> requests.Response:
    """Post a form the way the page does: with the CSRF token the page carries."""
    token = csrf_of(s.get(f"{base}{page}").text)
    return s.post(f"{base}{action}", data={**data, "csrf_token": token}, allow_redirects=False)


def api(base: str, token: str | None):
    s = requests.Session()
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    return s
