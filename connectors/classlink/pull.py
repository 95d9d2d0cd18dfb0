"""One ClassLink (OneRoster REST 1.1 / 1.2) pull: full, or the changes since the saved cursor.

Cursor: ``{"since": "<ISO 8601 UTC time>"}``, the time this pull *started* minus an overlap, frozen
before the first request. The next pull asks for ``dateLastModified>'since'``. Frozen at the start, it
never runs ahead of the data (a record changed while this pull was paging is fetched again next time);
the overlap covers clocks that disagree a little and records stamped just before the start but made
visible just after it. Fetching a record twice is harmless: the reconciler compares values.

A full pull reads every page of every collection and only then returns a batch that is complete for
every kind; any page that fails after the HTTP layer's retries raises (ApiUnavailable,
ApiBadResponse, ApiCredentialsError), so no partial batch is ever marked complete. A delta's batch is
never complete: it holds only changed records, status tobedeleted giving deleted=True.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from connectors.classlink.client import COLLECTIONS, OneRosterClient, api_root
from connectors.classlink.mapping import map_roster
from connectors.classlink.oauth1 import OAuth1Auth
from connectors.classlink.oauth2 import OAuth2ClientCredentials
from connectors.fit import fit_batch
from connectors.http import ApiClient, ApiCredentialsError, safe_url
from connectors.records import Pull

OVERLAP_SECONDS = 300.0  # the cursor is the start of the pull minus five minutes


def iso_utc(ts: float) -> str:
    """A Unix time as OneRoster writes dateLastModified: 2025-01-02T03:04:05.000Z."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def cursor_since(cursor: dict | None) -> str | None:
    """The saved cursor's time, if it is a usable one."""
    since = (cursor or {}).get("since")
    if not isinstance(since, str):
        return None
    try:
        datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return None
    return since


def pull_oneroster(base_url: str, version: str, client_id: str, client_secret: str, cursor: dict | None,
                   full: bool, *, token_url: str | None = None, limit: int = 100,
                   client_options: dict | None = None, clock: Callable[[], float] = time.time) -> Pull:
    """Pull a district's roster from a OneRoster REST endpoint (ClassLink's, or any that keeps the spec).

    ``version`` "1.1" signs requests with OAuth 1.0a HMAC-SHA256 (client id and secret as consumer key
    and secret); "1.2" gets OAuth 2 client-credentials tokens from ``token_url``. ``client_options`` go
    to every ApiClient (timeouts, max_attempts, sleep, rng, verify ...). ``clock`` stamps the cursor.
    """
    root = api_root(base_url, version)
    started = clock()  # frozen before the first request: the next cursor
    options = dict(client_options or {})
    auth: Any
    if version == "1.1":
        auth = OAuth1Auth(client_id, client_secret)
    else:
        if not token_url:
            raise ApiCredentialsError("OneRoster 1.2 needs the token URL of the district's OAuth 2 server "
                                      "(token_url); none is configured")
        auth = OAuth2ClientCredentials(token_url, client_id, client_secret,
                                       token_api=ApiClient(token_url, name="OneRoster token endpoint", **options))
    api = ApiClient(root, auth, name=f"OneRoster {version}", **options)
    client = OneRosterClient(api, limit=limit)

    notes: list[str] = []
    since = None if full else cursor_since(cursor)
    if not full and cursor is not None and since is None:
        notes.append("the saved cursor had no usable 'since' time; a full pull was made instead")
    collections = {kind: client.collection(kind, since) for kind in COLLECTIONS}
    batch = fit_batch(map_roster(collections, version, full=since is None),
                      {"schools": "orgs", "classrooms": "classes", "teachers": "users", "students": "users",
                       "guardians": "users"})

    token_requests = auth.token_api.requests_made if version == "1.2" else 0
    counts = batch.counts()
    what = "full pull" if since is None else f"changes since {since}"
    description = (f"ClassLink OneRoster {version} at {safe_url(root)}: {what}, "
                   f"{sum(len(v) for v in collections.values())} records from {client.pages_read} pages, "
                   f"{counts['students']} students, {counts['guardians']} guardians")
    if api.waited:
        notes.append(f"the API asked us to slow down or failed for a while: waited {api.waited:.0f} s in all")
    return Pull(batch=batch, cursor={"since": iso_utc(started - OVERLAP_SECONDS)}, description=description,
                notes=notes, requests=api.requests_made + token_requests)
