"""Fixtures for the ClassLink (OneRoster REST) connector: a generated district and a real local server.

``oneroster_server(version, batch=None, **options)`` starts the OneRoster fake (sync/sandbox/
oneroster_server.py) on 127.0.0.1 with the district (or ``batch``) converted to OneRoster JSON, and stops
it after the test. ``pull(server, ...)`` runs ``pull_oneroster`` against it with the test credentials and
a recorded, instant ``sleep`` (``sleeps`` holds every wait the HTTP layer asked for), so retry tests are
fast and still check the waits.
"""

from __future__ import annotations

import random

import pytest

from connectors.classlink.pull import pull_oneroster
from sync.sandbox.oneroster_json import to_oneroster_json
from sync.sandbox.oneroster_server import OneRosterServer
from sync.synthetic import generate_district

CLIENT_ID = "rostersync-district-42"
CLIENT_SECRET = "s3cr3t/Value+with=odd&chars~"  # characters that percent-encoding and Basic auth must survive
STAMP = "2025-01-01T00:00:00.000Z"  # dateLastModified of every record the server starts with


@pytest.fixture(scope="session")
def district():
    """150 students, as the brief's acceptance tests ask (2 schools, ~230 guardians, ~900 enrollments)."""
    return generate_district(150, seed=7)


@pytest.fixture
def oneroster_server(district):
    started = []

    def start(version: str, batch=None, **options):
        server = OneRosterServer(version, CLIENT_ID, CLIENT_SECRET, **options)
        server.load(to_oneroster_json(batch if batch is not None else district, version, root=server.root,
                                      stamp=STAMP))
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def creds() -> tuple[str, str]:
    """(client id, client secret) the server accepts."""
    return CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def pull(sleeps):
    def run(server, cursor=None, full=True, *, secret=CLIENT_SECRET, limit=100, clock=None, **options):
        client_options = {"sleep": sleeps.append, "rng": random.Random(1), "timeout": (2.0, 5.0), **options}
        kwargs = {"clock": clock} if clock is not None else {}
        return pull_oneroster(server.url, server.version, CLIENT_ID, secret, cursor, full,
                              token_url=server.token_url if server.version == "1.2" else None, limit=limit,
                              client_options=client_options, **kwargs)

    return run
