"""A fake OneRoster REST server (ClassLink's API) for the sandbox demo and the ClassLink connector's tests:
real HTTP, bound to 127.0.0.1 only, real paging.

- 1.1 (``/ims/oneroster/v1p1/``): every request must carry an OAuth 1.0a HMAC-SHA256 signature made with
  the consumer secret over the request as this server received it (Host header, path, raw query);
  a wrong key, signature, stale timestamp or reused nonce gets 401.
- 1.2 (``/ims/oneroster/rostering/v1p2/``): ``POST /oauth/token`` (client credentials, HTTP Basic, scope
  roster-core.readonly or roster.readonly) issues bearer tokens that expire after ``token_ttl`` seconds
  of this server's clock; an unknown or expired token gets 401. ``expire_tokens()`` ends them early.
- Collections answer ``{"<kind>": [...]}`` with real ``limit``/``offset`` paging, ``X-Total-Count`` and a
  ``Link`` header (next/prev/first/last), each switchable off, and honour
  ``filter=dateLastModified>'...'`` (or ``>=``) against each object's dateLastModified.
- ``touch`` / ``delete_user`` change records and stamp them with the server clock, so deltas can be tested.
- Faults on demand (``fail``; for the tests, the demo never sets one): a status (429 with Retry-After,
  5xx bursts), or a connection dropped after half a page. ``log`` keeps every request (method, path,
  query, status) for the tests.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, parse_qsl, unquote_plus, urlencode, urlsplit

from connectors.classlink.oauth1 import parse_authorization_header, sign, signature_base_string

API_PATHS = {"1.1": "/ims/oneroster/v1p1/", "1.2": "/ims/oneroster/rostering/v1p2/"}
TOKEN_PATH = "/oauth/token"
READ_SCOPES = ("https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly",
               "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly")
_FILTER = re.compile(r"\s*dateLastModified\s*(>=|>)\s*'([^']+)'\s*\Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


@dataclass
class Fault:
    kind: str | None  # collection (or "token"); None: any
    offset: int | None  # only the page at this offset; None: any page
    status: int | None = None  # answer this status ...
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # ... or send half a page and close the connection
    body: Any = None  # ... or answer 200 with this JSON body instead of the page
    times: int = 1


@dataclass
class Logged:
    method: str
    kind: str
    query: dict[str, str]
    status: int
    headers: dict[str, str]


class OneRosterServer:
    def __init__(self, version: str, client_id: str, client_secret: str, *, token_ttl: float = 120.0,
                 max_limit: int = 1000, link_headers: bool = True, total_header: bool = True,
                 clock: Callable[[], float] = time.time):
        self.version = version
        self.client_id, self.client_secret = client_id, client_secret
        self.token_ttl, self.max_limit = token_ttl, max_limit
        self.link_headers, self.total_header = link_headers, total_header
        self.clock = clock  # stamps changed records and times tokens; tests may replace it
        self.store: dict[str, dict[str, dict]] = {}
        self.tokens: dict[str, float] = {}  # token -> expiry (server clock)
        self.nonces: set[tuple[str, str]] = set()
        self.faults: list[Fault] = []
        self.log: list[Logged] = []
        self.lock = threading.Lock()
        self.on_request: Callable[[Logged], None] | None = None  # called after each answered request
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.app = self
        # a short poll interval: stop() waits up to one interval, and every test stops a server
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       name="oneroster-fake-server", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def root(self) -> str:
        return self.url + API_PATHS[self.version]

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def start(self) -> "OneRosterServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    # -- data ------------------------------------------------------------------------------------------
    def load(self, collections: dict[str, list[dict]]) -> None:
        with self.lock:
            self.store = {kind: {obj["sourcedId"]: obj for obj in objs} for kind, objs in collections.items()}

    def touch(self, kind: str, sid: str, **changes: Any) -> dict:
        """Change a record (any fields) and stamp it modified now (server clock)."""
        with self.lock:
            obj = self.store[kind][sid]
            obj.update(changes)
            obj["dateLastModified"] = iso(self.clock())
            return obj

    def delete_user(self, sid: str) -> list[str]:
        """Mark a user tobedeleted, with its enrollments, as a SIS does when a student leaves."""
        self.touch("users", sid, status="tobedeleted")
        gone = [e["sourcedId"] for e in self.store["enrollments"].values() if e["user"]["sourcedId"] == sid]
        for eid in gone:
            self.touch("enrollments", eid, status="tobedeleted")
        return gone

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {token: 0.0 for token in self.tokens}

    def fail(self, kind: str | None = None, *, offset: int | None = None, status: int | None = None,
             headers: dict[str, str] | None = None, drop: bool = False, body: Any = None, times: int = 1) -> None:
        self.faults.append(Fault(kind, offset, status, dict(headers or {}), drop, body, times))

    def requests_to(self, kind: str, method: str = "GET") -> list[Logged]:
        return [r for r in self.log if r.kind == kind and r.method == method]

    def _take_fault(self, kind: str, offset: int | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.kind in (None, kind) and fault.offset in (None, offset):
                    fault.times -= 1
                    return fault
        return None

    # -- authentication --------------------------------------------------------------------------------
    def check_oauth1(self, method: str, host: str, target: str, header: str | None) -> str | None:
        """None when the request is signed right; else why not (for the 401 body)."""
        params = parse_authorization_header(header or "")
        if params is None:
            return "no OAuth Authorization header"
        given = dict(params)
        if given.get("oauth_consumer_key") != self.client_id:
            return "unknown consumer key"
        if given.get("oauth_signature_method") != "HMAC-SHA256":
            return "signature method must be HMAC-SHA256"
        if given.get("oauth_version", "1.0") != "1.0":
            return "oauth_version must be 1.0"
        try:
            stamp = int(given.get("oauth_timestamp", ""))
        except ValueError:
            return "bad timestamp"
        if abs(time.time() - stamp) > 300:  # real time: signatures are made with the real clock
            return "stale timestamp"
        nonce = (given.get("oauth_timestamp", ""), given.get("oauth_nonce", ""))
        base = signature_base_string(method, f"http://{host}{target}",
                                     [(k, v) for k, v in params if k != "oauth_signature"])
        if not hmac.compare_digest(sign(base, self.client_secret, "", "HMAC-SHA256"), given.get("oauth_signature", "")):
            return "invalid signature"
        with self.lock:
            if nonce in self.nonces:
                return "nonce already used"
            self.nonces.add(nonce)
        return None

    def check_bearer(self, header: str | None) -> str | None:
        if not header or not header.lower().startswith("bearer "):
            return "no bearer token"
        expiry = self.tokens.get(header[7:].strip())
        if expiry is None:
            return "unknown token"
        return "expired token" if self.clock() >= expiry else None

    def issue_token(self, header: str | None, form: dict[str, str]) -> tuple[int, dict]:
        if not header or not header.lower().startswith("basic "):
            return 401, {"error": "invalid_client"}
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except ValueError:
            return 401, {"error": "invalid_client"}
        if not (hmac.compare_digest(unquote_plus(user), self.client_id)
                and hmac.compare_digest(unquote_plus(password), self.client_secret)):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        scopes = form.get("scope", "").split()
        if not any(s in READ_SCOPES for s in scopes):
            return 400, {"error": "invalid_scope"}
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = self.clock() + self.token_ttl
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": int(self.token_ttl),
                     "scope": " ".join(scopes)}

    # -- collections -----------------------------------------------------------------------------------
    def page(self, kind: str, query: dict[str, str]) -> tuple[int, dict, dict[str, str]]:
        try:
            limit = int(query.get("limit", "100"))
            offset = int(query.get("offset", "0"))
        except ValueError:
            return 400, _imsx("invalid limit or offset"), {}
        if limit < 1 or offset < 0:
            return 400, _imsx("invalid limit or offset"), {}
        limit = min(limit, self.max_limit)
        with self.lock:
            items = list(self.store.get(kind, {}).values())
        if "filter" in query:
            match = _FILTER.match(query["filter"])
            if not match:
                return 400, _imsx(f"unsupported filter {query['filter']!r}"), {}
            since, strict = parse_time(match.group(2)), match.group(1) == ">"
            items = [o for o in items if (parse_time(o["dateLastModified"]) > since if strict
                                          else parse_time(o["dateLastModified"]) >= since)]
        total = len(items)
        headers: dict[str, str] = {}
        if self.total_header:
            headers["X-Total-Count"] = str(total)
        if self.link_headers:
            headers["Link"] = self._links(kind, query, limit, offset, total)
        return 200, {kind: items[offset:offset + limit]}, headers

    def _links(self, kind: str, query: dict[str, str], limit: int, offset: int, total: int) -> str:
        def at(o: int) -> str:
            return f"{self.root}{kind}?{urlencode({**query, 'limit': limit, 'offset': o})}"

        last = max(0, (total - 1) // limit * limit)
        links = []
        if offset + limit < total:
            links.append(f'<{at(offset + limit)}>; rel="next"')
        if offset > 0:
            links.append(f'<{at(max(0, offset - limit))}>; rel="prev"')
        links += [f'<{at(0)}>; rel="first"', f'<{at(last)}>; rel="last"']
        return ", ".join(links)


def _imsx(description: str) -> dict:
    return {"imsx_codeMajor": "failure", "imsx_severity": "error", "imsx_description": description}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a client's idle keep-alive connection must not hold up stop()
    app: OneRosterServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall each
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet in tests and the demo
        pass

    def do_POST(self) -> None:  # noqa: N802
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
        if urlsplit(self.path).path != TOKEN_PATH or app.version != "1.2":
            return self._answer("POST", "?", {}, 404, _imsx("not found"))
        # the form holds grant_type and scope only (the client authenticates in the header): safe to log
        fault = app._take_fault("token", None)
        if fault is not None and fault.status:
            return self._answer("POST", "token", form, fault.status, _imsx("injected"), fault.headers)
        status, body = app.issue_token(self.headers.get("Authorization"), form)
        extra = {"WWW-Authenticate": 'Basic realm="oneroster"'} if status == 401 else {}
        self._answer("POST", "token", form, status, body, extra)

    def do_GET(self) -> None:  # noqa: N802
        app = self.server.app
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        root = API_PATHS[app.version]
        kind = parts.path[len(root):] if parts.path.startswith(root) else ""
        if app.version == "1.1":
            why = app.check_oauth1("GET", self.headers.get("Host", ""), self.path, self.headers.get("Authorization"))
            challenge = 'OAuth realm="oneroster"'
        else:
            why = app.check_bearer(self.headers.get("Authorization"))
            challenge = 'Bearer error="invalid_token"'
        if why is not None:
            return self._answer("GET", kind, query, 401, _imsx(why), {"WWW-Authenticate": challenge})
        if not kind or "/" in kind or kind not in app.store:
            return self._answer("GET", kind, query, 404, _imsx("not found"))
        fault = app._take_fault(kind, int(query["offset"]) if query.get("offset", "").isdigit() else None)
        if fault is not None and fault.status:
            return self._answer("GET", kind, query, fault.status, _imsx("injected"), fault.headers)
        status, body, headers = app.page(kind, query)
        if fault is not None:  # a fault without a status alters the page: its body, its headers
            body = fault.body if fault.body is not None else body
            headers = {**headers, **fault.headers}
        self._answer("GET", kind, query, status, body, headers, drop=fault is not None and fault.drop)

    def _answer(self, method: str, kind: str, query: dict, status: int, body: Any,
                headers: dict[str, str] | None = None, drop: bool = False) -> None:
        # Logged before the answer goes out: the client may act on it (and a test assert) at once.
        app = self.server.app
        logged = Logged(method, kind, query, status, dict(headers or {}))
        app.log.append(logged)
        if app.on_request is not None:
            app.on_request(logged)
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if drop:
            # Half the page, then the connection goes: the client sees a body shorter than Content-Length.
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.wfile.write(data)
