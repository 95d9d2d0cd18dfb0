"""One HTTP layer for the API connectors (Clever, ClassLink): timeouts, retries, rate limits, clear errors.

What to do with a response is decided by one table (``classify``), on plain values; the retry loop in
``ApiClient.get`` only follows it and never logs, prints or sends anything itself. Errors are a small
tree sorted by what the caller must do:

    ApiError
      ApiCredentialsError   401/403 after any token refresh: fix the credentials (exit 2), never retried
      ApiBadResponse        400/404/413/501 or a 200 that is not what the API promises: fail the pull
      ApiUnavailable        5xx, timeouts, dropped connections after the last retry: try again later

Messages name the method, the URL without secrets, and the status; never a token, secret or signature.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

RETRY, RATE_LIMITED, CREDENTIALS, BAD_RESPONSE, OK = "retry", "rate_limited", "credentials", "bad_response", "ok"

# status -> action. Clever documents: retry 500/502/503, never 400/401/501; 429 carries the reset time.
STATUS_ACTIONS: dict[int, str] = {
    429: RATE_LIMITED,
    500: RETRY, 502: RETRY, 503: RETRY, 504: RETRY,
    401: CREDENTIALS, 403: CREDENTIALS,
    400: BAD_RESPONSE, 404: BAD_RESPONSE, 413: BAD_RESPONSE, 501: BAD_RESPONSE,
}
# Exceptions of requests that mean the connection broke or stalled: worth another try.
TRANSIENT_EXCEPTIONS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

_SECRET_PARAMS = re.compile(r"(token|secret|password|signature|key|auth)", re.IGNORECASE)


class ApiError(Exception):
    retry_later = False

    def __init__(self, message: str = "", *, status: int | None = None):
        super().__init__(message)
        # The HTTP status behind the error, when there was one: lets a caller tell e.g. Clever's 404 for an
        # event id it no longer keeps from other bad responses, without parsing the message.
        self.status = status


class ApiCredentialsError(ApiError):
    """The API refused our credentials: a person must fix them; retrying will not help."""


class ApiBadResponse(ApiError):
    """The API answered something we cannot use (an error we must not retry, or a malformed page)."""


class ApiUnavailable(ApiError):
    """The API could not be reached or kept failing: nothing is wrong with the settings."""

    retry_later = True


def classify(status: int | None, exc: BaseException | None = None) -> str:
    """The action for a response status, or for an exception raised instead of a response."""
    if exc is not None:
        if isinstance(exc, requests.exceptions.SSLError):
            return BAD_RESPONSE  # an untrusted certificate stays untrusted: never retried (nor accepted)
        return RETRY if isinstance(exc, TRANSIENT_EXCEPTIONS) else BAD_RESPONSE
    assert status is not None
    if 200 <= status < 300:
        return OK
    return STATUS_ACTIONS.get(status, RETRY if status >= 500 else BAD_RESPONSE)


def _exception_detail(exc: BaseException) -> str:
    """The exception's kind; for TLS, also OpenSSL's reason ("self-signed certificate"), which names no secret."""
    if isinstance(exc, requests.exceptions.SSLError):
        reason = re.search(r"certificate verify failed: ([^(]+)", str(exc))
        return (f"the server's TLS certificate is not trusted ({reason.group(1).strip()})" if reason
                else "the TLS handshake with the server failed")
    return type(exc).__name__


def safe_url(url: str) -> str:
    """The URL for messages and logs: no user:password@, no secret-looking query parameters."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode([(k, "[redacted]" if _SECRET_PARAMS.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def wait_from_headers(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait as the server says: Retry-After (seconds or an HTTP date), else X-RateLimit-Reset
    (a Unix time, as Clever sends it). None when it says nothing usable."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        value = retry_after.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError, IndexError):
            pass
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with full jitter (attempt 1 waits up to base, then 2x, 4x ... cap)."""
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return (rng or random).uniform(0, ceiling)


class RateLimiter:
    """Spaces requests so a token never goes over its budget (Clever: 1200 a minute)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON
    url: str


class ApiClient:
    """GETs JSON from one API with the rules above. ``auth`` is a requests auth object; if it has
    ``refresh()``, a 401 refreshes it once (an expired OAuth 2 token) before it counts as a credentials error.
    """

    def __init__(self, base_url: str, auth: requests.auth.AuthBase | None = None, *, name: str = "API",
                 timeout: tuple[float, float] = (5.0, 60.0), max_attempts: int = 6, per_minute: int = 0,
                 max_wait: float = 120.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 verify: bool | str = True):
        self.base_url = base_url.rstrip("/") + "/"
        self.auth = auth
        self.name = name
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        # An injected clock (tests) drives the limiter too, so that a fake sleep advances the time it reads.
        self.limiter = RateLimiter(per_minute, clock=time.monotonic if clock is time.time else clock,
                                   sleep=sleep) if per_minute else None
        self.sleep, self.clock, self.rng = sleep, clock, rng or random.Random()
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.verify = verify  # only tests pass a CA bundle; verification is never turned off
        self.requests_made = 0
        self.waited = 0.0

    def url(self, path_or_url: str) -> str:
        return urljoin(self.base_url, path_or_url.lstrip("/")) if "://" not in path_or_url else path_or_url

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Response:
        return self._request("GET", path_or_url, params=params)

    def post_form(self, path_or_url: str, data: Mapping[str, str],
                  auth: requests.auth.AuthBase | None = None) -> Response:
        """POST a form under the same rules as ``get`` (an OAuth 2 token request); ``auth`` replaces the
        client's own for this request."""
        return self._request("POST", path_or_url, data=data, auth=auth)

    def _request(self, method: str, path_or_url: str, params: Mapping[str, Any] | None = None,
                 data: Mapping[str, str] | None = None, auth: requests.auth.AuthBase | None = None) -> Response:
        url = self.url(path_or_url)
        auth = auth if auth is not None else self.auth
        where = f"{self.name} {method} {safe_url(url)}"
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            if self.limiter:
                self.limiter.wait()
            self.requests_made += 1
            try:
                resp = self.session.request(method, url, params=params, data=data, auth=auth,
                                            timeout=self.timeout)
            except ApiError:
                raise  # raised by the auth hook itself (an OAuth 2 token request that failed): keep its kind
            except Exception as exc:  # noqa: BLE001 - sorted by the table just below
                action, status, headers, detail = classify(None, exc), None, {}, _exception_detail(exc)
            else:
                action, status, headers, detail = classify(resp.status_code), resp.status_code, resp.headers, \
                    f"HTTP {resp.status_code}"
            if action == OK:
                try:
                    body = resp.json()
                except ValueError:
                    raise ApiBadResponse(f"{where}: answered {detail} with a body that is not JSON") from None
                return Response(resp.status_code, resp.headers, body, resp.url)
            if action == CREDENTIALS:
                if status == 401 and not refreshed and hasattr(auth, "refresh"):
                    auth.refresh()
                    refreshed = True
                    attempt -= 1
                    continue
                raise ApiCredentialsError(f"{where}: {detail}: the credentials were refused; check the token or "
                                          "client id and secret", status=status)
            if action == BAD_RESPONSE:
                raise ApiBadResponse(f"{where}: {detail}; not retried", status=status)
            if attempt >= self.max_attempts:
                raise ApiUnavailable(f"{where}: {detail} after {attempt} attempts; try again later", status=status)
            wait = wait_from_headers(headers, self.clock()) if action == RATE_LIMITED else None
            if wait is None:
                wait = backoff(attempt, rng=self.rng)
            if wait > self.max_wait:
                raise ApiUnavailable(f"{where}: {detail}; the server asks to wait {wait:.0f} s, longer than "
                                     f"{self.max_wait:.0f} s; try again later", status=status)
            self.waited += wait
            self.sleep(wait)
