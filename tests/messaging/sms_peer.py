"""A local HTTP server with an SMS provider's API in Twilio's shape, and a receiver for its callbacks.

    POST /2010-04-01/Accounts/{sid}/Messages.json   (basic auth)  -> 201 {"sid", "status": "queued", ...}
    GET  /2010-04-01/Accounts/{sid}/Messages.json?ClientReference=...  -> {"messages": [...]}

``refuse[number] = (400, 21211)`` refuses a number with that error; ``undeliver[number] = 30005`` accepts
it and then posts an ``undelivered`` status callback with that ErrorCode (others get ``sent`` then
``delivered``) to the StatusCallback URL, as the provider would.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

ACCOUNT, TOKEN = "AC0123456789", "test-token-not-a-secret"


@dataclass
class SmsPeer:
    refuse: dict[str, tuple[int, int]] = field(default_factory=dict)
    undeliver: dict[str, int] = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    callbacks: list[threading.Thread] = field(default_factory=list)

    def to(self, number: str) -> list[dict]:
        with self.lock:
            return [m for m in self.messages if m["to"] == number]

    def wait_callbacks(self) -> None:
        for t in list(self.callbacks):
            t.join(10)


def _post_callbacks(url: str, message: dict, final: str, error: int | None) -> None:
    for status in ("sent", final):
        form = {"MessageSid": message["sid"], "MessageStatus": status, "AccountSid": ACCOUNT, "To": message["to"],
                "From": message["from"]}
        if status == "undelivered" and error:
            form["ErrorCode"] = str(error)
        requests.post(url, data=form, timeout=5)


def make_handler(peer: SmsPeer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return False
            return True

        def do_POST(self):
            if not self._authorized():
                return
            if urlsplit(self.path).path != f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json":
                return self._reply(404, {"code": 20404, "message": "not found", "status": 404})
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
            to = form.get("To", "")
            if to in peer.refuse:
                status, code = peer.refuse[to]
                return self._reply(status, {"code": code, "message": "refused", "status": status})
            message = {"sid": "SM" + uuid.uuid4().hex, "to": to, "from": form.get("From"), "body": form.get("Body"),
                       "status": "queued", "client_reference": form.get("ClientReference")}
            with peer.lock:
                peer.messages.append(message)
            self._reply(201, message)
            if form.get("StatusCallback"):
                error = peer.undeliver.get(to)
                t = threading.Thread(target=_post_callbacks, args=(form["StatusCallback"], message,
                                                                     "undelivered" if error else "delivered", error))
                t.start()
                peer.callbacks.append(t)

        def do_GET(self):
            if not self._authorized():
                return
            parts = urlsplit(self.path)
            ref = parse_qs(parts.query).get("ClientReference", [None])[0]
            with peer.lock:
                found = [m for m in peer.messages if ref and m["client_reference"] == ref]
            self._reply(200, {"messages": found})

    return Handler


class CallbackReceiver:
    """Stands in for the web app's webhook (a later issue): keeps every form the provider posts."""

    def __init__(self):
        self.forms: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.forms.append({k: v[0] for k, v in parse_qs(body).items()})
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms-status"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_sms() -> tuple[SmsPeer, ThreadingHTTPServer, str]:
    peer = SmsPeer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(peer))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return peer, server, f"http://127.0.0.1:{server.server_port}/2010-04-01"



