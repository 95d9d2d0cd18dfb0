"""What a Clever pull does when the API misbehaves: retry what Clever says to retry, stop on what it says
not to, never take a broken or looping answer for a roster, never leak the token."""

from __future__ import annotations

import logging

import pytest

from connectors.clever.pull import pull_clever
from connectors.http import ApiBadResponse, ApiCredentialsError, ApiUnavailable
from sync.sandbox.clever_json import clever_view
from sync.sandbox.clever_server import TOKEN
from test_clever_full_pull import assert_same_roster


def test_a_burst_of_5xx_is_retried_then_the_pull_succeeds(clever, district, clever_options, fake_clock):
    clever.fail_next(500, 502, 503)
    pull = pull_clever(clever.url, TOKEN, None, True, client_options=clever_options)
    assert_same_roster(pull.batch, clever_view(district))
    assert [r.status for r in clever.log[:4]] == [500, 502, 503, 200]
    assert pull.requests == 4 + 3
    assert len(fake_clock.slept) >= 3  # backed off before each retry (jittered, so only the count is fixed)


def test_a_persistent_500_fails_the_pull_naming_the_url_not_the_token(clever, clever_options):
    clever.always_status = 500
    with pytest.raises(ApiUnavailable) as caught:
        pull_clever(clever.url, TOKEN, None, True, client_options={**clever_options, "max_attempts": 4})
    message = str(caught.value)
    assert f"{clever.url}/v3.0/events" in message and "HTTP 500" in message and "4 attempts" in message
    assert TOKEN not in message and TOKEN not in repr(caught.value.args)
    assert len(clever.log) == 4


def test_a_page_that_keeps_failing_midway_fails_the_whole_pull(clever, clever_options):
    """A partial pull must never come back as a batch (it could archive everyone on the missing pages)."""
    def break_after_first_users_page(path: str) -> None:
        if path == "/v3.0/users" and len(clever.requests("/v3.0/users")) >= 1:
            clever.always_status = 503
    clever.on_request = break_after_first_users_page
    with pytest.raises(ApiUnavailable, match="starting_after"):
        pull_clever(clever.url, TOKEN, None, True, limit=100, client_options=clever_options)
    assert [r.status for r in clever.requests("/v3.0/users")][:2] == [200, 503]


def test_a_wrong_token_is_a_credentials_error_and_is_not_retried(clever, clever_options):
    with pytest.raises(ApiCredentialsError) as caught:
        pull_clever(clever.url, "not-the-token", None, True, client_options=clever_options)
    assert len(clever.log) == 1 and clever.log[0].status == 401
    assert "not-the-token" not in str(caught.value)


@pytest.mark.parametrize("status", [400, 501])
def test_400_and_501_are_not_retried(clever, clever_options, status):
    clever.fail_next(status)
    with pytest.raises(ApiBadResponse, match=f"HTTP {status}"):
        pull_clever(clever.url, TOKEN, None, True, client_options=clever_options)
    assert len(clever.log) == 1


def test_a_connection_dropped_mid_page_is_retried(clever, district, clever_options):
    clever.on_request = lambda path: setattr(clever, "drop_next", 1) if path == "/v3.0/users" and \
        len(clever.requests("/v3.0/users")) == 0 else None
    pull = pull_clever(clever.url, TOKEN, None, True, client_options=clever_options)
    assert_same_roster(pull.batch, clever_view(district))
    assert len(clever.requests("/v3.0/users")) == 2  # the dropped one and its retry


def test_the_same_next_link_twice_stops_the_pull(clever, clever_options):
    clever.repeat_next_link = True
    with pytest.raises(ApiBadResponse, match="same next page link"):
        pull_clever(clever.url, TOKEN, None, True, limit=50, client_options=clever_options)
    assert len(clever.requests("/v3.0/schools")) == 1  # 2 schools: one page, no next link
    # the first page links to X; X links to X again: stopped before asking for X a second time
    assert len(clever.requests("/v3.0/users")) == 2


@pytest.mark.parametrize("body, why", [
    ({"message": "internal error"}, "no 'data' list"),
    ({"data": [{"id": "530e5960049e75a9262cff1d"}], "links": []}, "item 0 without a 'data' object"),
    ([], "a JSON list"),
    ({"data": [], "links": "next"}, "'links' that is not a list"),
])
def test_a_200_that_is_not_a_page_is_an_error_never_an_empty_roster(clever, clever_options, body, why):
    clever.bad_body = body
    with pytest.raises(ApiBadResponse, match=why):
        pull_clever(clever.url, TOKEN, None, True, client_options=clever_options)


def test_a_next_link_to_another_host_is_not_followed(clever, clever_options):
    clever.bad_body = {"data": [], "links": [{"rel": "next", "uri": "https://collector.example/v3.0/users"}]}
    with pytest.raises(ApiBadResponse, match="another host"):
        pull_clever(clever.url, TOKEN, None, True, client_options=clever_options)
    # the events anchor reads one page only; the schools page is the first whose next link is followed
    assert [r.path for r in clever.log] == ["/v3.0/events", "/v3.0/schools"]


def test_the_token_never_reaches_a_log_line_or_an_error(clever, clever_options, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request at DEBUG; the CLI's logging setup may
    caplog.set_level(logging.DEBUG, logger="urllib3")  # have quietened it for the session: undo that here
    clever.fail_next(503, 429)
    pull_clever(clever.url, TOKEN, None, True, client_options=clever_options)
    clever.always_status = 502
    with pytest.raises(ApiUnavailable) as caught:
        pull_clever(clever.url, TOKEN, {"last_event_id": "65b1000000000000000000aa"}, False,
                    client_options={**clever_options, "max_attempts": 2})
    assert "GET /v3.0/users" in caplog.text  # the log did record the requests...
    assert TOKEN not in caplog.text  # ...but not the token
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    from connectors.clever.client import BearerToken

    assert TOKEN not in repr(BearerToken(TOKEN))
