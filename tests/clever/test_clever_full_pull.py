"""A full Clever pull of a generated district over real HTTP: the same roster, record by record, as the
generator made it and as the Clever CSV path reads it; pagination; what it costs in requests."""

from __future__ import annotations

import math

import pytest

from connectors.clever.client import CleverClient
from connectors.clever.pull import pull_clever
from connectors.records import KINDS
from connectors.sftp.clever_csv import read_clever_drop
from connectors.sftp.drop_writer import write_clever_drop
from sync.sandbox.clever_json import clever_view
from sync.sandbox.clever_server import TOKEN


def by_key(records) -> dict:
    return {getattr(r, "external_id", None) or (r.classroom_id, r.user_id, r.role): r for r in records}


def assert_same_roster(got, expected, kinds=KINDS) -> None:
    for kind in kinds:
        mine, theirs = by_key(getattr(got, kind)), by_key(getattr(expected, kind))
        assert len(getattr(got, kind)) == len(getattr(expected, kind)), kind
        assert mine.keys() == theirs.keys(), kind
        different = [k for k in mine if mine[k] != theirs[k]]
        assert not different, f"{kind}: {len(different)} differ, e.g. {mine[different[0]]} != {theirs[different[0]]}"


def test_full_pull_gives_the_generated_district_record_by_record(clever, district):
    pull = pull_clever(clever.url, TOKEN, None, True)
    batch = pull.batch
    assert (batch.source, batch.mode, batch.complete) == ("clever", "full", frozenset(KINDS))
    assert batch.problems == []
    assert_same_roster(batch, clever_view(district))
    assert batch.counts()["students"] == 150
    # the district admin the server also lists is not in the directory's people
    assert "5f0c0e7a1d2b3c4d5e6f0001" not in {r.external_id for k in ("students", "teachers", "guardians")
                                               for r in getattr(batch, k)}


def test_150_students_at_limit_1000_take_four_requests(clever):
    pull = pull_clever(clever.url, TOKEN, None, False, limit=1000)
    assert pull.requests == 4 == len(clever.log)
    assert [r.path for r in clever.log] == ["/v3.0/events", "/v3.0/schools", "/v3.0/users", "/v3.0/sections"]
    assert clever.log[0].query == {"ending_before": "last", "limit": "1"}
    assert all(r.query.get("limit") == "1000" for r in clever.log[1:])
    assert "4 requests" in pull.description


def test_api_and_csv_paths_reach_the_same_roster(clever, tmp_path):
    """The pulled batch written as a Clever SFTP drop and read back by the CSV reader is the same roster:
    the two Clever paths of one district agree, guardians and their links included."""
    batch = pull_clever(clever.url, TOKEN, None, True).batch
    write_clever_drop(batch, tmp_path)
    back = read_clever_drop(tmp_path)
    assert back.problems == []
    assert_same_roster(back, batch)
    links = {(g.external_id, link) for g in batch.guardians for link in g.links}
    assert links == {(g.external_id, link) for g in back.guardians for link in g.links}
    assert len(links) > len(batch.students)  # most students have two contacts, so this is not trivially empty


@pytest.mark.parametrize("limit", [7, 50])
def test_small_pages_are_followed_to_the_end(clever, district, limit, clever_options):
    pull = pull_clever(clever.url, TOKEN, None, True, limit=limit, client_options=clever_options)
    assert_same_roster(pull.batch, clever_view(district))
    sizes = {c: len(clever.data[c]) for c in ("schools", "users", "sections")}
    pages = {c: max(1, math.ceil(n / limit)) for c, n in sizes.items()}
    assert pull.requests == 1 + sum(pages.values())
    for collection, n in pages.items():
        cursors = [r.query.get("starting_after") for r in clever.requests(f"/v3.0/{collection}")]
        assert len(cursors) == n and cursors[0] is None and len(set(cursors)) == n  # every page once, in a chain


@pytest.mark.parametrize("limit", [0, 10_001])
def test_limit_outside_what_clever_allows_is_refused_before_any_request(clever, limit):
    with pytest.raises(ValueError, match="limit"):
        pull_clever(clever.url, TOKEN, None, True, limit=limit)
    assert clever.log == []


def test_the_client_lists_one_collection_page_by_page(clever):
    client = CleverClient(clever.url, TOKEN, limit=100)
    pages = list(client.pages("sections"))
    assert [len(p) for p in pages] == [100, 56]
    assert [s["id"] for p in pages for s in p] == [s["id"] for s in clever.data["sections"]]
