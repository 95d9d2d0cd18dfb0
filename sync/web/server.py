"""Serving the app with uvicorn: in the foreground (`rostersync web`) or on a thread (`serve`, tests)."""

from __future__ import annotations

import os
import threading
import time

import uvicorn
from fastapi import FastAPI

from sync.web.settings import ENV_LISTEN, parse_listen


def make_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    # No access log: a message link's path is its signature, and query strings hold searched names.
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
                            server_header=False, proxy_headers=False)
    return uvicorn.Server(config)


def serve_forever(app: FastAPI, host: str, port: int) -> None:
    """Until SIGINT or SIGTERM; resyncs started from the web finish (commit or roll back) before it exits."""
    make_server(app, host, port).run()
    app.state.runs.wait()


class ServerThread:
    """The app on a daemon thread; ``port`` is the real one when asked for port 0."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.server = make_server(app, host, port)
        self.thread = threading.Thread(target=self.server.run, name="rostersync-web", daemon=True)
        self.host = host

    def start(self, timeout: float = 15.0) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start (is the port in use?)")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.app.state.runs.wait()


def start_from_env(engine, url: str, env: dict | None = None) -> ServerThread | None:
    """For `rostersync serve`: also serve the web app when $ROSTERSYNC_WEB_LISTEN (HOST:PORT) is set."""
    value = (os.environ if env is None else env).get(ENV_LISTEN)
    if not value:
        return None
    from sync.web.app import create_app

    host, port = parse_listen(value)
    return ServerThread(create_app(engine, url), host, port).start()
