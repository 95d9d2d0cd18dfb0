"""OneRoster REST collections, page by page, over the shared HTTP layer (connectors.http.ApiClient).

Facts relied on (OneRoster 1.1 and 1.2 REST bindings as vendors document them; the IMS pages themselves
were only reachable by title through the search tool):
- Base paths: 1.1 ``/ims/oneroster/v1p1/``, 1.2 rostering ``/ims/oneroster/rostering/v1p2/`` (samples
  README; Aeries "OneRoster 1.1 API Available Endpoints"; 1.2 clients calling
  /ims/oneroster/rostering/v1p2/users).
- A collection answers ``{"<collection>": [ ... ]}``, the key being the endpoint's name: ``orgs``,
  ``academicSessions``, ``courses``, ``classes``, ``users``, ``enrollments``.
- Paging is ``limit`` and ``offset`` (default limit 100). The total number of matching records comes
  in ``X-Total-Count``; a ``Link`` header may carry rel="next" / "prev" / "first" / "last" URLs
  (GG4L's OneRoster v1p1 docs show ``<...?limit=100&offset=101>; rel="next"``). Clients that see
  neither stop at a short page (Untis' OneRoster docs: "continue until a response returns fewer items
  than the requested limit").
- Deltas: ``filter=dateLastModified>'<ISO 8601 time>'`` (Microsoft School Data Sync's OneRoster API
  page: ``/users?filter=dateLastModified>'{deltaDateTime}'``).

Decisions:
- A rel="next" link is followed as given (it carries limit, offset and filter), but only to the same
  scheme, host and port: a link elsewhere would take our signature or bearer token with it.
- Without a next link: the next offset while fewer than X-Total-Count records were seen. Without a
  total either, a short page ends the collection only when it is shorter than an earlier page of the
  same collection; the first page is short against ``limit`` alone, which a server that caps the page
  size below our limit also produces, so one more page is asked for and an empty one ends it. (Stopping
  at the first short page would, on such a server, silently mark a partial collection complete.)
- An empty page ends the collection, unless the total says records are missing: then the server
  contradicts itself and the pull fails (never a silently partial "complete" collection).
- Loop check (as in the Singer SDK): asking for the same page twice is an error, not a hang.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from requests.utils import parse_header_links

from connectors.http import ApiBadResponse, ApiClient, Response, safe_url
from connectors.paging import only_repeats
from sync.faults import checkpoint

API_PATHS = {"1.1": "/ims/oneroster/v1p1/", "1.2": "/ims/oneroster/rostering/v1p2/"}
# What a pull reads, parents before children (the order the mapping needs them in).
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
MAX_PAGES = 100_000  # a guard against a server that pages forever with fresh URLs


def api_root(base_url: str, version: str) -> str:
    """The collection root for a version; a base URL that already ends in the API path is taken as is."""
    if version not in API_PATHS:
        raise ValueError(f"OneRoster version must be 1.1 or 1.2, not {version!r}")
    base = base_url.rstrip("/")
    path = API_PATHS[version].rstrip("/")
    return (base if base.endswith(path) else base + path) + "/"


def iso_filter(since: str) -> str:
    """The OneRoster filter for records changed after ``since`` (an ISO 8601 UTC time)."""
    if "'" in since:  # the filter's own quote: refuse rather than send a broken or altered filter
        raise ValueError(f"not an ISO 8601 time: {since!r}")
    return f"dateLastModified>'{since}'"


@dataclass
class _Page:
    """Where the next page is: a URL from a Link header, or the next offset (None: done)."""

    url: str | None = None
    offset: int | None = None


def next_page(resp: Response, *, offset: int, seen: int, count: int, largest: int, root: str,
              kind: str) -> _Page | None:
    """The next page after one of ``count`` records that started at ``offset``; ``seen`` counts every
    record of the collection so far, this page's included, ``largest`` is the longest earlier page (0 for
    the first). Pure: headers and numbers in, a decision out."""
    link = _next_link(resp)
    if link:
        url = urljoin(resp.url, link)
        if _origin(url) != _origin(root):
            raise ApiBadResponse(f"OneRoster {kind}: the next-page link points to another server "
                                 f"({safe_url(url)}); not followed")
        return _Page(url=url)
    total = _total(resp)
    if count == 0:
        if total is not None and seen < total:
            raise ApiBadResponse(f"OneRoster {kind}: an empty page at offset {offset} while X-Total-Count "
                                 f"says {total} and only {seen} were received")
        return None
    if total is not None:
        return _Page(offset=offset + count) if seen < total else None
    return _Page(offset=offset + count) if count >= largest else None


def _next_link(resp: Response) -> str | None:
    header = resp.headers.get("Link") if resp.headers else None
    if not header:
        return None
    for link in parse_header_links(header):
        if "next" in str(link.get("rel", "")).lower().split():
            return link.get("url") or None
    return None


def _total(resp: Response) -> int | None:
    value = resp.headers.get("X-Total-Count") if resp.headers else None
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None  # a garbled count is no count: fall back to short-page detection


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


class OneRosterClient:
    """Reads whole collections of one OneRoster REST endpoint (one version) through an ApiClient."""

    def __init__(self, api: ApiClient, *, limit: int = 100):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.api = api
        self.limit = limit
        self.pages_read = 0

    def collection(self, kind: str, since: str | None = None) -> list[dict[str, Any]]:
        """Every record of a collection (changed after ``since`` when given), or an ApiError."""
        out: list[dict[str, Any]] = []
        for page in self.pages(kind, since):
            out.extend(page)
        return out

    def pages(self, kind: str, since: str | None = None) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": self.limit, "offset": 0}
        if since is not None:
            params["filter"] = iso_filter(since)
        asked: set[str] = set()
        received: set[str] = set()  # sourcedIds of this collection so far: see connectors/paging.py
        where: _Page | None = _Page(offset=0)
        seen = largest = 0
        while where is not None:
            if where.url is not None:
                offset = _offset_of(where.url, seen)
                resp = self._get(where.url, None, kind, asked)
            else:
                offset = where.offset or 0
                resp = self._get(kind, {**params, "offset": offset}, kind, asked)
            items = _items(resp, kind)
            if only_repeats(items, received, "sourcedId"):
                raise ApiBadResponse(f"OneRoster {kind}: the page at offset {offset} ({safe_url(resp.url)}) holds "
                                     "only records already received; the server seems to ignore the offset, so "
                                     "the pull stops instead of taking part of the collection for all of it")
            checkpoint("classlink_page")
            seen += len(items)
            yield items
            where = next_page(resp, offset=offset, seen=seen, count=len(items), largest=largest,
                              root=self.api.base_url, kind=kind)
            largest = max(largest, len(items))

    def _get(self, path: str, params: dict | None, kind: str, asked: set[str]) -> Response:
        key = _page_key(self.api.url(path), params)
        if key in asked:
            raise ApiBadResponse(f"OneRoster {kind}: the server sent us to the same page twice ({safe_url(key)}); "
                                 "stopped instead of looping")
        if len(asked) >= MAX_PAGES:
            raise ApiBadResponse(f"OneRoster {kind}: more than {MAX_PAGES} pages; stopped")
        asked.add(key)
        self.pages_read += 1
        return self.api.get(path, params)


def _page_key(url: str, params: dict | None) -> str:
    """One spelling per page, whether we built its URL or a Link header gave it: sorted query."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, str(v)) for k, v in (params or {}).items()]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, urlencode(sorted(query)), ""))


def _offset_of(url: str, default: int) -> int:
    values = parse_qs(urlsplit(url).query).get("offset")
    try:
        return int(values[0]) if values else default
    except ValueError:
        return default


def _items(resp: Response, kind: str) -> list[dict[str, Any]]:
    """The page's records; a 200 without the collection's key (or not a list under it) is a bad response."""
    body = resp.body
    if not isinstance(body, dict) or kind not in body:
        keys = ", ".join(sorted(body)[:5]) if isinstance(body, dict) else type(body).__name__
        raise ApiBadResponse(f"OneRoster {kind}: the answer from {safe_url(resp.url)} has no '{kind}' "
                             f"collection (got: {keys or 'an empty object'})")
    items = body[kind]
    if not isinstance(items, list):
        raise ApiBadResponse(f"OneRoster {kind}: '{kind}' in the answer from {safe_url(resp.url)} is not a list")
    return items
