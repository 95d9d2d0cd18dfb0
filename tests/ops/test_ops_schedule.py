"""The pure half of scheduling, on values: parsing schedules, slots with deterministic jitter, what is due."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from directory.errors import ConfigError
from directory.settings import parse_setting
from sync.schedule import (DistrictTiming, describe, due_districts, jitter, next_run, next_slot, parse_schedule,
                           pending_slot, previous_slot)
from sync.cli_ops import mode_of
from sync.workers import tick_cron

UTC = timezone.utc
NOW = datetime(2026, 11, 28, 15, 7, 12, 345678, tzinfo=UTC)


@pytest.mark.parametrize("text,canonical,every,cron,tz", [
    ("every 30s", "every 30s", timedelta(seconds=30), None, None),
    ("EVERY 15M", "every 15m", timedelta(minutes=15), None, None),
    ("every 6 h", "every 6h", timedelta(hours=6), None, None),
    ("every 1d", "every 1d", timedelta(days=1), None, None),
    ("nightly", "nightly", None, "0 2 * * *", None),
    ("", "nightly", None, "0 2 * * *", None),
    (None, "nightly", None, "0 2 * * *", None),
    ("  30   1 * * 1-5 ", "30 1 * * 1-5", None, "30 1 * * 1-5", None),
    ("0 3 * * * America/Chicago", "0 3 * * * America/Chicago", None, "0 3 * * *", "America/Chicago"),
])
def test_schedules_parse_to_a_canonical_form(text, canonical, every, cron, tz):
    s = parse_schedule(text)
    assert (s.text, s.every, s.cron, s.tz) == (canonical, every, cron, tz)
    assert parse_schedule(s.text) == s  # what is stored reads back the same


@pytest.mark.parametrize("text,message", [
    ("every", "expected a five-field cron"),
    ("every 0s", "expected a five-field cron"),
    ("every 5x", "expected a five-field cron"),
    ("every -5m", "expected a five-field cron"),
    ("hourly", "expected a five-field cron"),
    ("0 2 * *", "expected a five-field cron"),
    ("61 2 * * *", "expected a five-field cron"),
    ("0 2 * * * *", "expected a time zone name"),
    ("0 2 * * * Mars/Olympus", "expected a time zone name"),
    ("0 0 31 2 *", "never does"),
])
def test_bad_schedules_say_what_is_expected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_the_schedule_setting_validates_and_stores_the_canonical_form():
    assert parse_setting("schedule", "Every 15M") == ("schedule", "every 15m")
    assert parse_setting("schedule", "0 4 * * 1-5 Europe/London") == ("schedule", "0 4 * * 1-5 Europe/London")
    with pytest.raises(ConfigError, match="setting schedule: 'sometimes' is expected a five-field cron"):
        parse_setting("schedule", "sometimes")


@pytest.mark.parametrize("text,bound", [
    ("every 15m", timedelta(minutes=15)),
    ("every 30s", timedelta(seconds=30)),
    ("nightly", timedelta(hours=1)),  # capped at an hour
    ("*/5 * * * *", timedelta(seconds=150)),  # half the shortest gap, so slots keep their order
    ("0 9-17 * * 1-5", timedelta(minutes=30)),
])
def test_jitter_is_fixed_by_the_seed_and_stays_inside_its_window(text, bound):
    s = parse_schedule(text)
    offsets = [jitter(s, f"district-{i}") for i in range(200)]
    assert offsets == [jitter(s, f"district-{i}") for i in range(200)]  # the same in every process
    assert all(timedelta(0) <= o < bound for o in offsets)
    assert max(offsets) - min(offsets) > bound * 0.8  # spread over the window, not bunched
    assert all(o.microseconds == 0 for o in offsets)


@pytest.mark.parametrize("text", ["every 30s", "every 15m", "every 7h", "nightly", "*/5 * * * *",
                                  "15 8 * * 1-5 America/New_York", "0 0 1 * *"])
def test_slots_bracket_any_moment(text):
    s = parse_schedule(text)
    for i in range(60):
        now = NOW + timedelta(minutes=137 * i, seconds=11 * i)
        before, after = previous_slot(s, "lincoln", now), next_slot(s, "lincoln", now)
        assert before <= now < after
        assert next_slot(s, "lincoln", before) == after  # nothing between them
        assert previous_slot(s, "lincoln", before) == before  # a slot is its own latest slot
        assert previous_slot(s, "lincoln", after - timedelta(microseconds=1)) == before
        if s.every:
            assert after - before == s.every


def test_every_slots_are_phase_shifted_by_the_district():
    s = parse_schedule("every 15m")
    a, b = previous_slot(s, "lincoln", NOW), previous_slot(s, "maple", NOW)
    assert a != b
    assert (a - jitter(s, "lincoln")).timestamp() % 900 == 0


def test_cron_slots_follow_the_time_zone_across_daylight_saving():
    s = parse_schedule("0 2 * * * America/Chicago")
    off = jitter(s, "lincoln")
    winter = next_slot(s, "lincoln", datetime(2026, 1, 10, 12, tzinfo=UTC))
    summer = next_slot(s, "lincoln", datetime(2026, 7, 10, 12, tzinfo=UTC))
    assert winter - off == datetime(2026, 1, 11, 8, tzinfo=UTC)  # 02:00 CST
    assert summer - off == datetime(2026, 7, 11, 7, tzinfo=UTC)  # 02:00 CDT
    # Without its own zone, a cron expression is read in the service's zone.
    plain = parse_schedule("0 2 * * *")
    assert next_slot(plain, "x", datetime(2026, 1, 10, 12, tzinfo=UTC), "America/Chicago") - jitter(plain, "x") \
        == datetime(2026, 1, 11, 8, tzinfo=UTC)


def test_a_district_owes_the_latest_slot_until_a_run_starts_after_it():
    s = parse_schedule("every 1h")
    slot = previous_slot(s, "lincoln", NOW)
    assert pending_slot(s, "lincoln", NOW, None) == slot  # never synced: owed at once
    assert pending_slot(s, "lincoln", NOW, slot - timedelta(minutes=5)) == slot
    assert pending_slot(s, "lincoln", NOW, slot - timedelta(hours=30)) == slot  # many missed: one run
    assert pending_slot(s, "lincoln", NOW, slot) is None
    assert pending_slot(s, "lincoln", NOW, slot + timedelta(seconds=1)) is None


def _t(slug, schedule="every 1h", paused=False, source=True, last=None):
    return DistrictTiming(slug, schedule, paused, source, last)


def test_due_districts_skips_paused_manual_and_served_ones_and_puts_the_longest_waiting_first():
    s = parse_schedule("every 1h")
    served = previous_slot(s, "served", NOW) + timedelta(seconds=3)
    timings = [_t("new"), _t("paused", paused=True), _t("manual", source=False), _t("served", last=served),
               _t("broken", schedule="whenever"), _t("daily", schedule="0 3 * * *", last=NOW - timedelta(days=2))]
    due = due_districts(timings, NOW)
    assert [slug for slug, _ in due] == sorted(["new", "daily"], key=lambda slug: dict(due)[slug])
    assert dict(due)["new"] == previous_slot(s, "new", NOW)
    assert due[0][1] <= due[1][1]


def test_next_run_is_the_owed_slot_or_the_next_one():
    s = parse_schedule("every 1h")
    assert next_run(_t("a", paused=True), NOW) is None
    assert next_run(_t("a", source=False), NOW) is None
    assert next_run(_t("a"), NOW) == previous_slot(s, "a", NOW) <= NOW  # owed: overdue
    assert next_run(_t("a", last=NOW), NOW) == next_slot(s, "a", NOW) > NOW
    assert describe(_t("a", schedule="whenever"), NOW) == ("whenever (invalid)", None)
    assert describe(_t("a", schedule=None, last=NOW), NOW)[0] == "nightly"


def test_tick_periods_must_divide_a_minute_or_an_hour():
    assert tick_cron(1) == "* * * * * */1"
    assert tick_cron(30) == "* * * * * */30"
    assert tick_cron(60) == "*/1 * * * *"
    assert tick_cron(900) == "*/15 * * * *"
    for bad in (7, 90, 4200):
        with pytest.raises(ConfigError, match="does not divide"):
            tick_cron(bad)


def test_the_mode_follows_the_configuration():
    assert mode_of("sqlite:///x.db", {}) == "embedded"
    assert mode_of("postgresql://u@h/db", {}) == "embedded"
    assert mode_of("postgresql://u@h/db", {"ROSTERSYNC_MODE": "Workers"}) == "workers"
    with pytest.raises(ConfigError, match="needs a PostgreSQL database"):
        mode_of("sqlite:///x.db", {"ROSTERSYNC_MODE": "workers"})
    with pytest.raises(ConfigError, match="expected embedded or workers"):
        mode_of("sqlite:///x.db", {"ROSTERSYNC_MODE": "cluster"})


def test_the_slot_memo_answers_like_the_computation():
    from sync.schedule import SlotMemo

    memo = SlotMemo()
    for text in ("every 45s", "*/5 * * * *", "nightly"):
        s = parse_schedule(text)
        for i in range(400):
            now = NOW + timedelta(seconds=17 * i)
            assert memo.previous(s, "lincoln", now) == previous_slot(s, "lincoln", now)
            assert pending_slot(s, "lincoln", now, NOW, memo=memo) == pending_slot(s, "lincoln", now, NOW)
