"""Credentials against the real local server: OAuth 1.0a signatures (1.1) and OAuth 2 tokens (1.2).

What a user notices: a wrong secret stops the sync at once with a configuration error that does not
print the secret (and does not hammer the API with retries); a token that the server expires early does
not fail the night's sync.
"""

from __future__ import annotations

import pytest

from connectors.classlink.oauth2 import SCOPE_ROSTER_CORE_READONLY, OAuth2ClientCredentials
from connectors.classlink.pull import pull_oneroster
from connectors.http import ApiClient, ApiCredentialsError
from sync.sandbox.oneroster_json import expected_records, records

WRONG = "not-the-secret-9f8e7d"


def test_oneroster_11_server_refuses_a_wrong_secret_and_the_pull_stops_without_retrying(oneroster_server, pull,
                                                                                          sleeps):
    server = oneroster_server("1.1")
    with pytest.raises(ApiCredentialsError) as caught:
        pull(server, secret=WRONG)
    message = str(caught.value)
    assert "401" in message and WRONG not in message and "oauth_signature" not in message
    assert [(r.kind, r.status) for r in server.log] == [("orgs", 401)]  # one request, not retried
    assert sleeps == []


def test_oneroster_11_every_request_is_signed_and_accepted(oneroster_server, pull):
    server = oneroster_server("1.1")
    pulled = pull(server)
    assert server.log and all(r.status == 200 for r in server.log)
    assert len(server.nonces) == len(server.log)  # the server checked (and remembered) each signature
    assert pulled.requests == len(server.log)


def test_oneroster_12_token_is_fetched_once_and_reused_for_the_whole_pull(oneroster_server, pull):
    server = oneroster_server("1.2")
    pulled = pull(server)
    tokens = server.requests_to("token", "POST")
    assert [(t.status, t.query) for t in tokens] == [
        (200, {"grant_type": "client_credentials", "scope": SCOPE_ROSTER_CORE_READONLY})]
    gets = [r for r in server.log if r.method == "GET"]
    assert len(gets) > 6 and all(r.status == 200 for r in gets)
    assert pulled.requests == len(server.log)


def test_oneroster_12_token_expired_by_the_server_is_refreshed_once_and_the_pull_completes(
        oneroster_server, pull, district):
    server = oneroster_server("1.2")

    def expire_after_the_fifth_page(logged):
        if logged.method == "GET" and sum(r.method == "GET" for r in server.log) == 5:
            server.expire_tokens()

    server.on_request = expire_after_the_fifth_page
    pulled = pull(server)
    assert [r.status for r in server.requests_to("token", "POST")] == [200, 200]
    assert [r.status for r in server.log if r.method == "GET"].count(401) == 1
    assert records(pulled.batch) == records(expected_records(district))


def test_oneroster_12_wrong_secret_is_a_credentials_error_before_any_roster_request(oneroster_server, pull, sleeps,
                                                                                    creds):
    server = oneroster_server("1.2")
    with pytest.raises(ApiCredentialsError) as caught:
        pull(server, secret=WRONG)
    assert WRONG not in str(caught.value) and creds[1] not in str(caught.value)
    assert [(r.method, r.kind, r.status) for r in server.log] == [("POST", "token", 401)]
    assert sleeps == []


def test_oneroster_12_token_is_renewed_before_it_expires_not_after(oneroster_server, creds):
    server = oneroster_server("1.2", token_ttl=300)
    now = [1000.0]
    auth = OAuth2ClientCredentials(server.token_url, *creds, margin=60, clock=lambda: now[0],
                                   token_api=ApiClient(server.token_url, sleep=lambda s: None))
    first = auth.token()
    now[0] += 200
    assert auth.token() == first and auth.fetched == 1  # 100 s left: still good
    now[0] += 45
    second = auth.token()  # 55 s left, inside the 60 s margin: a new one before the old one dies
    assert second != first and auth.fetched == 2
    assert creds[1] not in repr(auth)


def test_oneroster_12_without_a_token_url_is_a_configuration_error(oneroster_server, creds):
    server = oneroster_server("1.2")
    with pytest.raises(ApiCredentialsError, match="token URL"):
        pull_oneroster(server.url, "1.2", *creds, None, True)
    assert server.log == []
