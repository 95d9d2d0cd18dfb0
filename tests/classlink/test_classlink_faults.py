"""A flaky or busy OneRoster server: rate limits waited out, bursts of 5xx and dropped connections retried,
persistent failure reported as "try again later" with no secret in the message and no partial roster.
"""

from __future__ import annotations

import pytest

from connectors.http import ApiUnavailable
from sync.sandbox.oneroster_json import expected_records, records


def test_429_with_retry_after_is_waited_out_then_the_page_is_fetched(oneroster_server, pull, sleeps, district):
    server = oneroster_server("1.1")
    server.fail("users", offset=100, status=429, headers={"Retry-After": "7"})
    pulled = pull(server)
    assert sleeps == [7.0]  # exactly what the server asked for, not a guess
    assert [r.status for r in server.requests_to("users") if r.query["offset"] == "100"] == [429, 200]
    assert records(pulled.batch) == records(expected_records(district))
    assert any("waited 7 s" in note for note in pulled.notes)


def test_a_burst_of_5xx_is_retried_with_backoff(oneroster_server, pull, sleeps, district):
    server = oneroster_server("1.2")
    server.fail("classes", offset=0, status=503, times=2)
    server.fail("classes", offset=100, status=502)
    pulled = pull(server)
    assert [r.status for r in server.requests_to("classes")] == [503, 503, 200, 502, 200]
    assert len(sleeps) == 3 and all(0 <= s <= 2 for s in sleeps)  # capped exponential backoff, jittered
    assert records(pulled.batch) == records(expected_records(district))


def test_a_connection_dropped_mid_page_is_retried(oneroster_server, pull, sleeps, district):
    server = oneroster_server("1.1")
    server.fail("enrollments", offset=300, drop=True)
    pulled = pull(server)
    assert [r.query["offset"] for r in server.requests_to("enrollments")].count("300") == 2
    assert len(sleeps) == 1
    assert records(pulled.batch) == records(expected_records(district))
    assert pulled.batch.complete


def test_the_token_endpoint_failing_for_a_moment_is_retried_too(oneroster_server, pull, district):
    server = oneroster_server("1.2")
    server.fail("token", status=503)
    pulled = pull(server)
    assert [r.status for r in server.requests_to("token", "POST")] == [503, 200]
    assert records(pulled.batch) == records(expected_records(district))


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_persistent_failure_raises_api_unavailable_without_secrets_and_without_a_batch(version, oneroster_server,
                                                                                       pull, creds):
    server = oneroster_server(version)
    server.fail("users", offset=200, status=500, times=1000)  # after two good pages of users
    with pytest.raises(ApiUnavailable) as caught:
        pull(server, max_attempts=3)
    message = str(caught.value)
    assert "HTTP 500 after 3 attempts" in message and "/users" in message
    assert creds[1] not in message and "Bearer" not in message and "oauth_signature" not in message
    assert caught.value.retry_later
    assert len([r for r in server.requests_to("users") if r.query["offset"] == "200"]) == 3
    assert server.requests_to("enrollments") == []  # the pull stopped there: nothing after a failed page
