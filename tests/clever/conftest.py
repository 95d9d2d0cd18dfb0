"""Fixtures for the Clever connector: a generated district, the Clever test server, a fake clock.

``clever`` is a started CleverServer (sync/sandbox/clever_server.py) serving ``district`` (the generated
150-student roster, as Clever objects); ``clever_options`` are client options that make retries and
rate-limit waits instant (a FakeClock) for tests that are not about real time.
"""

from __future__ import annotations

import pytest

from sync.sandbox.clever_json import to_clever
from sync.sandbox.clever_server import TOKEN, CleverServer, FakeClock
from sync.synthetic import generate_district


@pytest.fixture(scope="session")
def district():
    return generate_district(150, seed=7)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clever_options(fake_clock) -> dict:
    return {"sleep": fake_clock.sleep, "clock": fake_clock.time}


@pytest.fixture
def clever(district):
    server = CleverServer(to_clever(district), TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def make_clever():
    """Start a server on other data or with a clock of the test's own: ``make_clever(data, clock=...)``."""
    servers = []

    def make(data, **kwargs) -> CleverServer:
        server = CleverServer(data, TOKEN, **kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
