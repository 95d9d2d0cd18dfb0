"""A fake Clever Data API v3.0 for the sandbox demo and the tests: real HTTP, bound to 127.0.0.1 only,
real pagination, real faults.

Serves ``/v3.0/schools|users|sections|events`` from CleverData (sync/sandbox/clever_json.py) the way
the published spec shapes them, checks the bearer token, and can be told to misbehave (the fault
switches exist for the tests; the demo leaves them off, except Clever's own rate window):

- ``rate_limit_every = N``: every Nth request answers 429 with ``X-RateLimit-Reset`` (the next whole second);
- ``window = (limit, seconds)``: at most ``limit`` requests per fixed window (by default Clever's 1200 per
  60 s), then 429 until the window's end; ``accepted_per_window`` records what got through;
- ``fail_next(*statuses)`` (a burst), ``always_status`` (persistent), ``drop_next`` (close the socket after
  the headers), ``repeat_next_link`` (every page links to the same next page), ``bad_body`` (a 200 that
  is not a page);
- ``change_student``, ``add_student``, ``remove_student``, ``set_section_students``, ``change_object``,
  ``delete_object``: change the data and record the events Clever would (``previous_attributes``
  included); ``expire_events`` forgets old ones, as Clever does after 30 days.

Every JSON answer is kept in ``sent`` (route, status, body) so a test can validate it against the spec.
The server's clock is injectable so rate windows can run on a test's fake time.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from sync.sandbox.clever_json import CleverData, student_user

COLLECTIONS = ("schools", "users", "sections")
# The fixed token of the test suite (a test checks it never reaches a log line or an error message); the
# sandbox demo makes a random one per run instead.
TOKEN = "district-token-7f3c9a1e5b2d4c6e8a0f"


class FakeClock:
    """Time that moves only when slept on. Kept in integer nanoseconds so that fixed-size steps (60/1200 s)
    add up exactly and never straddle a rate window's edge by a rounding error."""

    def __init__(self, start: float = 1_750_000_000.0):
        self.ns = int(start * 1e9)
        self.slept: list[float] = []

    def time(self) -> float:
        return self.ns / 1e9

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.ns += max(0, round(seconds * 1e9))


DEFAULT_LIMIT = 100  # Clever's default page size
MAX_LIMIT = 10_000


@dataclass
class Logged:
    path: str
    query: dict
    status: int
    at: float


class CleverServer:
    def __init__(self, data: CleverData, token: str, *, clock: Callable[[], float] = time.time):
        self.data = {"schools": copy.deepcopy(data.schools), "users": copy.deepcopy(data.users),
                     "sections": copy.deepcopy(data.sections)}
        self.token = token
        self.clock = clock
        self.events: list[dict] = []
        self._event_serial = 0
        self.log: list[Logged] = []
        self.sent: list[tuple[str, int, object]] = []
        self.lock = threading.RLock()
        # fault switches
        self.rate_limit_every = 0
        self.window: tuple[int, float] | None = (1200, 60.0)  # Clever's budget, enforced like Clever does
        self.accepted_per_window: Counter = Counter()
        self.scripted: deque[int] = deque()
        self.always_status: int | None = None
        self.drop_next = 0
        self.repeat_next_link = False
        self._frozen_next: str | None = None
        self.bad_body: object | None = None
        self.on_request: Callable[[str], None] | None = None  # called before answering (changes mid-pull)
        self._httpd: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------------------------------- lifecycle
    def start(self) -> "CleverServer":
        handler = type("Handler", (_Handler,), {"clever": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def requests(self, path_part: str = "") -> list[Logged]:
        return [r for r in self.log if path_part in r.path]

    def fail_next(self, *statuses: int) -> None:
        self.scripted.extend(statuses)

    # -------------------------------------------------------------------------------------------- events
    def _stamp(self) -> str:
        return datetime.fromtimestamp(self.clock(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _event(self, kind: str, obj: dict, previous: dict | None = None) -> str:
        self._event_serial += 1
        event = {"id": f"{0x65b1000000000000000000 + self._event_serial:024x}", "type": kind,
                 "created": self._stamp(), "data": {"object": copy.deepcopy(obj)}}
        if previous is not None:
            event["previous_attributes"] = copy.deepcopy(previous)
        self.events.append(event)
        return event["id"]

    def record_event(self, kind: str, obj: dict) -> str:
        """An event of another collection (terms, courses ...) or a raw one."""
        with self.lock:
            return self._event(kind, obj)

    def _find(self, collection: str, oid: str) -> dict:
        return next(o for o in self.data[collection] if o["id"] == oid)

    def change_object(self, collection: str, oid: str, change: Callable[[dict], None]) -> str:
        """Apply ``change`` to an object; a <collection>.updated event whose previous_attributes hold the
        prior values of the top-level fields that changed."""
        with self.lock:
            obj = self._find(collection, oid)
            before = copy.deepcopy(obj)
            change(obj)
            previous = {k: before.get(k) for k in sorted(set(before) | set(obj)) if before.get(k) != obj.get(k)}
            return self._event(f"{collection}.updated", obj, previous)

    def change_user(self, uid: str, change: Callable[[dict], None]) -> str:
        return self.change_object("users", uid, change)

    def delete_object(self, collection: str, oid: str) -> str:
        with self.lock:
            obj = self._find(collection, oid)
            self.data[collection].remove(obj)
            return self._event(f"{collection}.deleted", obj)

    def change_student(self, sid: str, *, first: str | None = None, last: str | None = None,
                       grade: str | None = None, school: str | None = None) -> str:
        def change(user: dict) -> None:
            if first is not None:
                user["name"]["first"] = first
            if last is not None:
                user["name"]["last"] = last
            role = user["roles"]["student"]
            if grade is not None:
                role["grade"] = grade
            if school is not None:
                role["school"], role["schools"] = school, [school]
        return self.change_user(sid, change)

    def set_section_students(self, section_id: str, students: list[str]) -> str:
        with self.lock:
            sec = self._find("sections", section_id)
            before = list(sec["students"])
            sec["students"] = list(students)
            return self._event("sections.updated", sec, {"students": before})

    def add_student(self, student, sections: list[str] = ()) -> list[str]:
        """A new student (a StudentRecord) enrolled in ``sections``: users.created, then sections.updated."""
        with self.lock:
            user = student_user(student)
            self.data["users"].append(user)
            ids = [self._event("users.created", user)]
            for section_id in sections:
                ids.append(self.set_section_students(section_id, self._find("sections", section_id)["students"] +
                                                     [student.external_id]))
            return ids

    def remove_student(self, sid: str) -> list[str]:
        """The student leaves: out of each section (sections.updated), off each contact (users.updated, or
        users.deleted for a contact left with no student), then users.deleted."""
        with self.lock:
            ids = [self.set_section_students(sec["id"], [s for s in sec["students"] if s != sid])
                   for sec in self.data["sections"] if sid in sec["students"]]
            for user in list(self.data["users"]):
                contact = (user.get("roles") or {}).get("contact")
                if not contact or sid not in [r["student"] for r in contact["student_relationships"]]:
                    continue
                kept = [r for r in contact["student_relationships"] if r["student"] != sid]
                if kept:
                    ids.append(self.change_user(user["id"], lambda u: u["roles"]["contact"].update(
                        student_relationships=kept)))
                else:
                    ids.append(self.delete_object("users", user["id"]))
            ids.append(self.delete_object("users", sid))
            return ids

    def expire_events(self, keep_last: int = 0) -> None:
        """Forget all but the newest ``keep_last`` events, as Clever does after 30 days."""
        with self.lock:
            self.events = self.events[len(self.events) - keep_last:] if keep_last else []

    # ---------------------------------------------------------------------------------------- answering
    def answer(self, path: str, query: dict, auth: str | None) -> tuple[int, dict, object | None]:
        """(status, headers, JSON body or None for a dropped connection)."""
        with self.lock:
            now = self.clock()
            if self.on_request:
                self.on_request(path)
            n = len(self.log) + 1
            status, headers, body = self._decide(path, query, auth, now, n)
            self.log.append(Logged(path, query, status, now))
            if body is not None and status != -1 and body is not self.bad_body:  # not the deliberate junk
                self.sent.append((path, status, body))
            return status, headers, body

    def _decide(self, path, query, auth, now, n):
        if auth != f"Bearer {self.token}":
            return 401, {}, {"message": "invalid or missing district token"}
        if self.window:
            limit, seconds = self.window
            window = int(now // seconds)
            if self.accepted_per_window[window] >= limit:
                return 429, self._rate_headers(limit, 0, (window + 1) * seconds), {"message": "rate limit exceeded"}
        if self.rate_limit_every and n % self.rate_limit_every == 0:
            return 429, self._rate_headers(1200, 0, int(now) + 1), {"message": "rate limit exceeded"}
        if self.window:
            self.accepted_per_window[int(now // self.window[1])] += 1
        if self.scripted or self.always_status:
            status = self.scripted.popleft() if self.scripted else self.always_status
            return status, {}, {"message": f"scripted {status}"}
        if self.drop_next:
            self.drop_next -= 1
            return -1, {}, self._route(path, query)[2]
        if self.bad_body is not None:
            return 200, {}, self.bad_body
        return self._route(path, query)

    @staticmethod
    def _rate_headers(limit: int, remaining: int, reset: float) -> dict:
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(int(reset))}

    def _route(self, path: str, query: dict):
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "v3.0" or parts[1] not in COLLECTIONS + ("events",):
            return 404, {}, {"message": f"no such resource {path}"}
        collection = parts[1]
        items = self.events if collection == "events" else self.data[collection]
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return 400, {}, {"message": "limit must be a number"}
        if limit > MAX_LIMIT:
            return 413, {}, {"message": f"limit may not exceed {MAX_LIMIT}"}
        if limit < 1:
            return 400, {}, {"message": "limit must be positive"}
        ids = [item.get("id") for item in items]
        after, before = query.get("starting_after"), query.get("ending_before")
        if after is not None:
            if after not in ids:
                return 404, {}, {"message": f"starting_after {after} not found"}
            start = ids.index(after) + 1
            page, more = items[start:start + limit], start + limit < len(items)
        elif before is not None:
            end = len(items) if before == "last" else ids.index(before) if before in ids else None
            if end is None:
                return 404, {}, {"message": f"ending_before {before} not found"}
            page, more = items[max(0, end - limit):end], False
        else:
            page, more = items[:limit], limit < len(items)
        links = [{"rel": "self", "uri": f"/v3.0/{collection}?{urlencode(query)}"}]
        if more:
            nxt = f"/v3.0/{collection}?{urlencode({'limit': limit, 'starting_after': page[-1].get('id')})}"
            if self.repeat_next_link:
                self._frozen_next = self._frozen_next or nxt
                nxt = self._frozen_next
            links.append({"rel": "next", "uri": nxt})
        return 200, {}, {"data": [{"data": copy.deepcopy(item)} for item in page], "links": links}


class _Handler(BaseHTTPRequestHandler):
    clever: CleverServer
    protocol_version = "HTTP/1.1"
    # Buffered writes: headers and body leave in one segment. Unbuffered, they leave in two, and Nagle's
    # algorithm with the client's delayed ACK costs 40 ms a request.
    wbufsize = -1

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, headers, body = self.clever.answer(parts.path, query, self.headers.get("Authorization"))
        payload = json.dumps(body).encode()
        if status == -1:  # headers promise a whole body, then the connection drops mid-page
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep test and demo output quiet
        pass
