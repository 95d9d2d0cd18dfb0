"""Clever allows 1200 requests a minute per token and answers 429 with X-RateLimit-Reset beyond that: the
client stays under the budget, and waits out a 429 until the reset time rather than failing the sync."""

from __future__ import annotations

import time
from bisect import bisect_left

from connectors.clever.pull import pull_clever
from sync.sandbox.clever_json import clever_view, to_clever
from sync.sandbox.clever_server import TOKEN
from test_clever_full_pull import assert_same_roster


def pull(server, fake_clock, **options):
    return pull_clever(server.url, TOKEN, None, True, limit=2,
                       client_options={"sleep": fake_clock.sleep, "clock": fake_clock.time, **options})


def most_in_any(span: float, times: list[float]) -> int:
    """The most requests in any ``span`` seconds (a sliding window, stricter than the server's fixed ones).
    A millisecond is given back: near 1.75e9 s a float's step is 0.24 us, and the limiter's schedule
    (now + 0.05, step after step) may lose that much each time; a client really too fast is off by far more."""
    times = sorted(times)
    return max(bisect_left(times, t + span - 1e-3) - i for i, t in enumerate(times))


def test_the_default_pace_is_clevers_1200_a_minute(make_clever, district, fake_clock):
    """About 280 two-record pages on a fake clock that the server's windows also run on."""
    server = make_clever(to_clever(district), clock=fake_clock.time)
    server.window = (1200, 60.0)
    made = pull(server, fake_clock).requests
    times = [r.at for r in server.log]
    assert made > 250 and [r for r in server.log if r.status == 429] == []
    # evenly spaced at 1200 a minute: never more than 20 in any second, so never 1200 in any minute
    assert most_in_any(1.0, times) <= 20 and most_in_any(60.0, times) <= 1200
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.05 - 1e-5


def test_a_lower_budget_is_kept_across_the_servers_windows(make_clever, district, fake_clock):
    server = make_clever(to_clever(district), clock=fake_clock.time)
    server.window = (100, 60.0)
    pull(server, fake_clock, per_minute=100)
    assert len(server.accepted_per_window) >= 3  # the pull ran through several windows...
    assert [r for r in server.log if r.status == 429] == []  # ...and never went over one
    assert max(server.accepted_per_window.values()) <= 100


def test_a_client_that_goes_too_fast_is_held_back_by_429_and_still_completes(make_clever, district, fake_clock):
    """With its own limiter off, the server's 429s (X-RateLimit-Reset) are what keep the client in budget:
    it waits each one out until the reset, and the pull still completes."""
    server = make_clever(to_clever(district), clock=fake_clock.time)
    server.window = (100, 60.0)
    result = pull(server, fake_clock, per_minute=0, max_attempts=3)
    assert_same_roster(result.batch, clever_view(district))
    limited = [r for r in server.log if r.status == 429]
    assert len(limited) >= 2  # the test server does catch a client that is too fast
    assert max(server.accepted_per_window.values()) <= 100
    for r in limited:  # the request after each 429 came at the window's end, not before
        after = server.log[server.log.index(r) + 1]
        assert after.at >= (int(r.at // 60) + 1) * 60 and after.status == 200


def test_429_every_few_requests_is_waited_out_until_the_reset(make_clever, district, clever_options, fake_clock):
    clever = make_clever(to_clever(district), clock=fake_clock.time)
    clever.rate_limit_every = 3
    result = pull_clever(clever.url, TOKEN, None, True, limit=100, client_options=clever_options)
    assert_same_roster(result.batch, clever_view(district))
    statuses = [r.status for r in clever.log]
    assert statuses.count(429) >= 2
    # each wait ran to the X-RateLimit-Reset the server sent (the next whole second), not a guess
    resets = [int(r.at) + 1 - r.at for r in clever.log if r.status == 429]
    waits = [w for w in fake_clock.slept if w > 0.06]  # longer than the limiter's 50 ms spacing
    assert len(waits) == len(resets) and all(abs(w - r) < 0.06 for w, r in zip(waits, resets))


def test_a_real_429_is_waited_out_in_real_time(clever, district):
    clever.rate_limit_every = 3  # the 3rd of 4 requests: one real wait until the next whole second
    started = time.monotonic()
    result = pull_clever(clever.url, TOKEN, None, True)
    elapsed = time.monotonic() - started
    assert_same_roster(result.batch, clever_view(district))
    [limited] = [i for i, r in enumerate(clever.log) if r.status == 429]
    reset = int(clever.log[limited].at) + 1
    assert clever.log[limited + 1].at >= reset - 0.01  # the retry came after the reset, not before
    assert elapsed < 3.0


def test_the_real_limiter_keeps_to_a_servers_window_in_real_time(clever):
    """A server that allows 10 requests a second and a client set to 9: about 1.5 s of real requests, and
    not one over the window."""
    clever.window = (10, 1.0)
    started = time.monotonic()
    made = pull_clever(clever.url, TOKEN, None, True, limit=40, client_options={"per_minute": 540}).requests
    elapsed = time.monotonic() - started
    assert made >= 14 and [r for r in clever.log if r.status == 429] == []
    assert max(clever.accepted_per_window.values()) <= 10
    assert (made - 1) / 9 * 0.95 <= elapsed < 3.0  # spaced out, not merely lucky
