"""Incremental pulls: dateLastModified filters from a cursor frozen at the start of the previous pull.

What a user notices: the nightly sync after a few changes in the SIS touches exactly those people (and
marks the one who left as leaving), never archives anyone else, and never misses a change made while the
previous sync was running.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.classlink.pull import OVERLAP_SECONDS, iso_utc

T1 = datetime(2025, 3, 3, 2, 0, tzinfo=timezone.utc).timestamp()  # the first (full) pull starts at 02:00 UTC
HOUR = 3600.0


def ticking(start: float, step: float = 7.0):
    """A clock that moves on every call, as a slow pull would see it: the cursor must use the first reading."""
    now = [start - step]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_the_cursor_is_the_start_of_the_pull_minus_the_overlap_frozen_before_the_first_request(oneroster_server,
                                                                                               pull):
    server = oneroster_server("1.2")
    pulled = pull(server, clock=ticking(T1))
    assert OVERLAP_SECONDS == 300
    assert pulled.cursor == {"since": "2025-03-03T01:55:00.000Z"} == {"since": iso_utc(T1 - 300)}


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_delta_after_two_changes_and_one_departure_touches_only_those(version, oneroster_server, pull, district):
    server = oneroster_server(version)
    first = pull(server, clock=ticking(T1))
    assert first.batch.mode == "full"

    changed, renamed, leaving = (s.external_id for s in district.students[10:13])
    server.clock = lambda: T1 + HOUR  # the SIS changes them an hour after the first pull started
    server.touch("users", changed, grades=["07"])
    server.touch("users", renamed, familyName="Okonkwo-Reyes")
    gone_enrollments = server.delete_user(leaving)
    assert gone_enrollments
    server.log.clear()

    second = pull(server, cursor=first.cursor, full=False, clock=ticking(T1 + 2 * HOUR))
    batch = second.batch
    assert (batch.mode, batch.complete) == ("delta", frozenset())
    assert {s.external_id: (s.grade, s.family_name, s.deleted) for s in batch.students} == {
        changed: ("07", district.students[10].family_name, False),
        renamed: (district.students[11].grade, "Okonkwo-Reyes", False),
        leaving: (district.students[12].grade, district.students[12].family_name, True)}
    assert {e.external_id for e in batch.enrollments} == set(gone_enrollments)
    assert all(e.deleted and e.user_id == leaving for e in batch.enrollments)
    assert batch.schools == batch.teachers == batch.classrooms == batch.guardians == []
    # every collection was asked for changes since the first pull's cursor, nothing more
    wanted = f"dateLastModified>'{first.cursor['since']}'"
    gets = [r for r in server.log if r.method == "GET"]
    assert {r.kind for r in gets} == {"orgs", "academicSessions", "courses", "classes", "users", "enrollments"}
    assert all(r.query.get("filter") == wanted for r in gets)
    assert second.cursor == {"since": iso_utc(T1 + 2 * HOUR - 300)}
    # the links of the changed students point at guardians this delta does not hold: reported, not guessed
    assert {p.code for p in batch.problems} <= {"unknown_reference"}
    assert all(p.severity == "warning" and p.record in (changed, renamed, leaving) for p in batch.problems)


def test_changes_inside_the_overlap_are_fetched_again_and_older_ones_are_not(oneroster_server, pull, district):
    server = oneroster_server("1.1")
    early, late = district.students[0].external_id, district.students[1].external_id
    server.clock = lambda: T1 - 400  # before the overlap window of a pull starting at T1
    server.touch("users", early, givenName="Early")
    server.clock = lambda: T1 - 120  # stamped two minutes before the pull started (slow to commit in the SIS)
    server.touch("users", late, givenName="Late")
    pulled = pull(server, cursor={"since": iso_utc(T1 - 300)}, full=False, clock=ticking(T1 + HOUR))
    assert [s.external_id for s in pulled.batch.students] == [late]


def test_full_true_ignores_the_cursor_and_sends_no_filter(oneroster_server, pull):
    server = oneroster_server("1.2")
    pulled = pull(server, cursor={"since": "2025-03-03T01:55:00.000Z"}, full=True)
    assert pulled.batch.mode == "full" and pulled.batch.complete
    assert not any("filter" in r.query for r in server.log if r.method == "GET")


def test_a_cursor_without_a_usable_time_makes_a_full_pull_and_says_so(oneroster_server, pull):
    server = oneroster_server("1.1")
    pulled = pull(server, cursor={"since": "yesterday"}, full=False)
    assert pulled.batch.mode == "full" and pulled.batch.complete
    assert any("full pull" in note for note in pulled.notes)
