"""OAuth 2 client credentials for OneRoster 1.2 REST: a bearer token, cached until shortly before it expires.

Facts relied on:
- OneRoster 1.2 REST uses the OAuth 2 client credentials grant (1EdTech Security Framework; the
  project's samples README). Its scopes are URIs under https://purl.imsglobal.org/spec/or/v1p2/scope/:
  ``roster-core.readonly`` reads orgs, academicSessions, courses, classes, users and enrollments (what
  this connector reads); ``roster.readonly`` adds demographics; ``roster-demographics.readonly`` is
  demographics alone. (Scope strings as 1.2 implementations check them, seen through the search tool:
  e.g. a 1.2 server refusing a token without roster-core.readonly or roster.readonly, and clients
  requesting the roster-core.readonly URI.) Read-only rostering without birth dates is
  roster-core.readonly: the narrowest scope that does the job.
- RFC 6749 4.4.2: POST to the token endpoint, application/x-www-form-urlencoded,
  grant_type=client_credentials and an optional space-separated scope. 2.3.1: the client
  authenticates with HTTP Basic, client id and secret each form-urlencoded first. 5.1: the answer is
  JSON with access_token, token_type ("bearer", case-insensitive) and the RECOMMENDED expires_in
  (seconds). 5.2: a refused client gets 400 (or 401 when it used Basic) with error=invalid_client,
  invalid_scope, unauthorized_client ...
- RFC 6750 2.1: the token goes in "Authorization: Bearer <token>".

Every failure names the token URL without secrets and never carries the client secret or a token.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Callable
from urllib.parse import quote_plus

import requests

from connectors.http import ApiBadResponse, ApiClient, ApiCredentialsError, safe_url

SCOPE_ROSTER_CORE_READONLY = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
DEFAULT_LIFETIME = 600.0  # seconds, when a token endpoint leaves out expires_in (RFC 6749 makes it optional)


class _ClientBasic(requests.auth.AuthBase):
    """HTTP Basic as RFC 6749 2.3.1 wants it: id and secret form-urlencoded before base64."""

    def __init__(self, client_id: str, client_secret: str):
        self._value = "Basic " + base64.b64encode(
            f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode("utf-8")).decode("ascii")

    def __repr__(self) -> str:
        return "_ClientBasic(...)"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self._value
        return r


class OAuth2ClientCredentials(requests.auth.AuthBase):
    """A requests auth object that adds a bearer token, fetching one when it has none or it is about to
    expire. ``refresh()`` fetches a new one; ApiClient calls it once when the API answers 401 (a token the
    server expired or revoked early).

    Token requests go through their own ApiClient (``token_api``), so they get the same timeouts, retries
    on 5xx and dropped connections, and 429 handling as the data requests.
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str, *,
                 scope: str = SCOPE_ROSTER_CORE_READONLY, margin: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, token_api: ApiClient | None = None):
        self.token_url = token_url
        self.scope = scope
        self.margin = margin
        self._clock = clock
        self._basic = _ClientBasic(client_id, client_secret)
        self.token_api = token_api or ApiClient(token_url, name="OneRoster token endpoint")
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()
        self.fetched = 0  # tokens fetched so far: the report and the tests count them

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={safe_url(self.token_url)!r}, scope={self.scope!r})"

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def refresh(self) -> None:
        with self._lock:
            self._fetch()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        return r

    def _fetch(self) -> None:
        where = f"OneRoster token endpoint {safe_url(self.token_url)}"
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        try:
            resp = self.token_api.post_form(self.token_url, data, auth=self._basic)
        except ApiBadResponse as exc:
            if exc.status in (400, 401, 403):
                # RFC 6749 5.2: for a fixed client_credentials request every 400 error (invalid_client,
                # invalid_scope, unauthorized_client ...) means the id, secret or granted scope is wrong.
                raise ApiCredentialsError(f"{where} refused the client id and secret or the scope "
                                          f"(HTTP {exc.status}); check them in the district's settings",
                                          status=exc.status) from None
            raise
        self.fetched += 1
        body = resp.body if isinstance(resp.body, dict) else {}
        token, kind = body.get("access_token"), str(body.get("token_type") or "")
        if not isinstance(token, str) or not token or kind.lower() != "bearer":
            raise ApiBadResponse(f"{where} answered without a bearer access_token (token_type "
                                 f"{kind or 'missing'})", status=resp.status)
        lifetime = body.get("expires_in")
        try:
            seconds = float(lifetime) if lifetime is not None else DEFAULT_LIFETIME
        except (TypeError, ValueError):
            seconds = DEFAULT_LIFETIME
        self._token = token
        # Renew a margin before expiry (a request signed at 59:59 must not arrive at 60:01); a short-lived
        # token keeps at least half its life, so it is not fetched again for every request.
        seconds = max(0.0, seconds)
        self._refresh_at = self._clock() + seconds - min(self.margin, seconds / 2)
