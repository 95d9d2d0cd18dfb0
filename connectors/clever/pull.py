"""One Clever pull: everything (first sync, resync), or the events since the saved cursor.

Cursor format: ``{"last_event_id": "<Clever event id>" | None}``, saved with the data it led to.

- Full pull: first the newest event's id (``GET /v3.0/events?ending_before=last&limit=1``, as Clever's
  events guide says to start a feed), then schools, users and sections. The cursor is that id, taken
  *before* the data, so a change made while the pull runs is replayed by the next incremental pull; replay
  is harmless because applying events is idempotent (connectors/clever/events.py). ``complete`` names every
  kind: a pull returns only when every page of every collection arrived; a page that fails after its
  retries raises ``ApiUnavailable`` (or another ``ApiError``) and nothing is returned, so a partial pull can
  never archive anyone.
- Incremental: ``GET /v3.0/events?starting_after=<id>`` to the end, folded into a delta batch; the new cursor
  is the last event taken (or the old one when there was none).
- Clever keeps events for 30 days. The events spec (v3.0-events.yml) gives ``/events`` one error answer,
  404 NotFound, so a 404 for ``starting_after`` means the saved event is unknown or expired: a full pull is
  made instead, and a note says so. Any other error fails the pull as usual.
- No event at all when a full pull starts (a new district, or events not enabled for the application)
  leaves ``last_event_id`` None; the next pull is then a full one again, with a note, because there is no
  point in the feed to continue from that is known to precede the data.
"""

from __future__ import annotations

from connectors.clever.client import CleverClient
from connectors.clever.events import delta_batch
from connectors.clever.mapping import full_batch
from connectors.fit import fit_batch
from connectors.http import ApiBadResponse
from connectors.records import KINDS, Pull


def pull_clever(base_url: str, token: str, cursor: dict | None, full: bool, *, limit: int = 1000,
                client_options: dict | None = None) -> Pull:
    client = CleverClient(base_url, token, limit=limit, client_options=client_options)
    notes: list[str] = []
    if full or not cursor:
        return _full(client, notes)
    if not isinstance(cursor, dict) or "last_event_id" not in cursor:
        notes.append("the saved cursor is not a Clever events cursor: a full pull was made")
        return _full(client, notes)
    last = cursor["last_event_id"]
    if not last:
        notes.append("Clever had no event when the last full pull started (are events enabled for the "
                     "application?), so there is no point to continue from: a full pull was made")
        return _full(client, notes)
    try:
        events = client.fetch_all("events", {"starting_after": last})
    except ApiBadResponse as exc:
        if exc.status != 404:
            raise
        notes.append(f"Clever no longer knows the saved event {last} (it keeps events for 30 days): a full "
                     "pull was made instead")
        return _full(client, notes)
    return _delta(client, events, last, notes)


def _full(client: CleverClient, notes: list[str]) -> Pull:
    anchor = _newest_event_id(client, notes)
    schools = client.fetch_all("schools")
    users = client.fetch_all("users")
    sections = client.fetch_all("sections")
    batch = fit_batch(full_batch(schools, users, sections))
    batch.complete = frozenset(KINDS)  # reached only when every page of every collection arrived
    description = (f"Clever full pull: {len(schools)} schools, {len(users)} users, {len(sections)} sections "
                   f"in {client.requests_made} requests")
    return Pull(batch=batch, cursor={"last_event_id": anchor}, description=description, notes=notes,
                requests=client.requests_made)


def _newest_event_id(client: CleverClient, notes: list[str]) -> str | None:
    try:
        first_page = next(client.pages("events", {"ending_before": "last", "limit": 1}), [])
    except ApiBadResponse as exc:
        if exc.status != 404:
            raise
        first_page = []
        notes.append("Clever answered 404 for its events (are events enabled for the application?): the next "
                     "pull will be a full one too")
    return _event_id(first_page[-1]) if first_page else None


def _event_id(event: dict) -> str:
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise ApiBadResponse("Clever GET /v3.0/events: an event without an id; the feed cannot be followed")
    return event_id


def _delta(client: CleverClient, events: list[dict], last: str, notes: list[str]) -> Pull:
    ids = [_event_id(event) for event in events]  # every event checked before any is used
    batch, summary = delta_batch(events)
    fit_batch(batch)
    if summary.ignored:
        notes.append("events not used by the directory: " +
                     ", ".join(f"{n} {kind}" for kind, n in sorted(summary.ignored.items())))
    applied = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.applied.items())) or "nothing to apply"
    description = f"Clever events after {last}: {len(events)} events ({applied}) in {client.requests_made} requests"
    return Pull(batch=batch, cursor={"last_event_id": ids[-1] if ids else last}, description=description,
                notes=notes, requests=client.requests_made)
