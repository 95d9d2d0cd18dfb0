"""Clever Data API v3.0 over the shared HTTP layer: the district bearer token, pages, the rate limit.

Facts relied on (Clever's published v3.0 spec, ../shared/samples/clever-swagger-api/v3.0.yml, and its docs):
- Base path ``/v3.0``; a district app authenticates with ``Authorization: Bearer <district token>``.
- A list answers ``{"data": [{"data": {...}}, ...], "links": [{"rel": "next", "uri": "/v3.0/...?..."}]}``;
  the next page is the ``rel=next`` link, and the last page has none. ``limit`` is at most 10000 (413
  above it).
- 1200 requests a minute per token; over it, 429 with ``X-RateLimit-Reset`` (a Unix time). Retry 500, 502
  and 503; never 400, 401 or 501. All of that is ``connectors.http``'s table and loop, used as is.

Decisions:
- A 200 that is not shaped like a page (no ``data`` list, an item without a ``data`` object, ``links`` not a
  list) is ``ApiBadResponse``: read as an empty page it would look like "everyone left".
- Following the same next link twice would loop forever (or, worse, pull the same records again and call
  it complete): the second time is ``ApiBadResponse``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.http import ApiBadResponse, ApiClient, safe_url
from connectors.paging import only_repeats
from sync.faults import checkpoint

DEFAULT_BASE_URL = "https://api.clever.com"
API_PATH = "/v3.0/"
PER_MINUTE = 1200  # Clever's documented budget per token
MAX_LIMIT = 10_000  # Clever answers 413 above it
MAX_PAGES = 100_000  # a guard against a server that pages forever with fresh links (10^9 records at 10^4 a page)


class BearerToken(requests.auth.AuthBase):
    """Adds the district token to each request. Its repr never shows the token (it may end up in a log)."""

    def __init__(self, token: str):
        if not token or not token.strip():
            raise ValueError("the Clever district token is empty")
        self._token = token.strip()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerToken([redacted])"


class CleverClient:
    """Lists Clever collections page by page.

    ``client_options`` go to ``ApiClient`` (``timeout``, ``max_attempts``, ``sleep``, ``clock``, ``rng``,
    ``max_wait``, ``verify``, and ``per_minute`` to lower the budget when one token serves several jobs).
    """

    def __init__(self, base_url: str, token: str, *, limit: int = 1000,
                 client_options: Mapping[str, Any] | None = None):
        if not 1 <= int(limit) <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT} (Clever answers 413 above it), not {limit}")
        self.limit = int(limit)
        options = {"per_minute": PER_MINUTE, **(client_options or {})}
        self.api = ApiClient(base_url or DEFAULT_BASE_URL, BearerToken(token), name="Clever", **options)

    @property
    def requests_made(self) -> int:
        return self.api.requests_made

    def pages(self, collection: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict]]:
        """The objects of each page of ``/v3.0/<collection>``, following ``rel=next`` to the end."""
        url: str | None = self.api.url(API_PATH + collection)
        query: Mapping[str, Any] | None = {"limit": self.limit, **(params or {})}
        seen: set[str] = set()
        received: set[str] = set()  # ids of this collection so far: see connectors/paging.py
        while url is not None:
            if len(seen) >= MAX_PAGES:
                raise ApiBadResponse(f"Clever GET {safe_url(url)}: more than {MAX_PAGES} pages; stopped")
            response = self.api.get(url, query)
            objects, next_uri = read_page(response.body, where=safe_url(response.url))
            if only_repeats(objects, received, "id"):
                raise ApiBadResponse(f"Clever GET {safe_url(response.url)}: the page holds only records already "
                                     "received; the server seems to ignore starting_after, so the pull stops "
                                     "instead of looping")
            checkpoint("clever_page")
            yield objects
            if next_uri is None:
                return
            url, query = self.api.url(next_uri), None  # the link carries its own query
            if urlsplit(url)[:2] != urlsplit(self.api.base_url)[:2]:
                # the token goes with every request: never to a host the district did not configure
                raise ApiBadResponse(f"Clever GET {safe_url(response.url)}: the next page link points to "
                                     f"another host ({safe_url(url)}); not followed")
            if url in seen:
                raise ApiBadResponse(f"Clever GET {safe_url(url)}: the same next page link came twice; the "
                                     "pagination would loop, so the pull stops here")
            seen.add(url)

    def fetch_all(self, collection: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        return [obj for page in self.pages(collection, params) for obj in page]


def read_page(body: Any, *, where: str) -> tuple[list[dict], str | None]:
    """(the objects, the next link or None) of one page; ``ApiBadResponse`` if it is not a Clever page."""
    def bad(why: str) -> ApiBadResponse:
        return ApiBadResponse(f"Clever GET {where}: answered 200 with {why}, not a page of Clever data")

    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise bad("no 'data' list" if isinstance(body, dict) else f"a JSON {type(body).__name__}")
    objects = []
    for n, item in enumerate(body["data"]):
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise bad(f"item {n} without a 'data' object")
        objects.append(item["data"])
    links = body.get("links", [])
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        raise bad("'links' that is not a list of links")
    next_uri = next((link.get("uri") for link in links if link.get("rel") == "next"), None)
    if next_uri is not None and (not isinstance(next_uri, str) or not next_uri.strip()):
        raise bad("a next link without a uri")
    return objects, next_uri
