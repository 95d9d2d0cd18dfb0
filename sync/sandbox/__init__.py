"""Local fakes of the roster APIs rostersync pulls from, for `rostersync demo --sandbox` and the tests.

These are fakes, not servers to deploy: they hold a generated roster in memory, listen on 127.0.0.1 only
(an ephemeral port chosen by the OS), and keep every request and answer in memory so a test can look at
them. They live in the package (not under tests/) so that the demo can show a real API sync without a
Clever or ClassLink account, and the tests exercise the very same code.

- ``clever_server.CleverServer``: Clever Data API v3.0 (bearer token, pages, the events feed);
  ``clever_json.to_clever`` turns a RosterBatch into the objects it serves.
- ``oneroster_server.OneRosterServer``: OneRoster REST 1.1 (OAuth 1.0a) or 1.2 (OAuth 2 client
  credentials), as ClassLink serves it; ``oneroster_json.to_oneroster_json`` turns a RosterBatch into
  its collections.

The fault switches (rate limits, scripted errors, dropped connections, bad bodies) are there for the
tests; the demo leaves them off.
"""
