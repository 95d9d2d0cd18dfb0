"""Full pulls over real HTTP: the same roster gives the same records as the generator and the CSV path.

What a user notices: a district moved from SFTP drops to ClassLink keeps every student, guardian link,
class and enrollment exactly as it was (no mass archive, no duplicate invitations), whatever page size
the server uses; and a server that misbehaves fails the sync instead of silently dropping people.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from connectors.http import ApiBadResponse
from connectors.records import KINDS
from connectors.sftp.drop_writer import write_oneroster_drop
from connectors.sftp.oneroster_csv import read_oneroster_drop
from sync.sandbox.oneroster_json import expected_records, records


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_full_pull_equals_the_generated_district_and_the_csv_drop_of_it(version, oneroster_server, pull, district,
                                                                        tmp_path):
    pulled = pull(oneroster_server(version))
    batch = pulled.batch
    assert (batch.source, batch.mode, batch.complete, batch.problems) == ("classlink", "full", frozenset(KINDS), [])
    assert batch.counts()["students"] == 150

    got = records(batch)
    # 1. the generator's records, as far as OneRoster carries them (see sync/sandbox/oneroster_json.py)
    assert got == records(expected_records(district))
    # 2. what the SFTP path makes of the same roster: written as a OneRoster CSV drop and read back
    write_oneroster_drop(district, tmp_path / "drop", version)
    csv_batch = read_oneroster_drop(tmp_path / "drop")
    assert csv_batch.problems == []
    csv_batch.students = [replace(s, birth_date=None) for s in csv_batch.students]  # demographics: not read by REST
    assert got == records(csv_batch)
    # the parts a user would look at first, spelt out
    guardians = {g.external_id: g for g in batch.guardians}
    linked = sum(len(g.links) for g in guardians.values())
    assert linked == sum(len(g.links) for g in district.guardians) and linked >= 150
    linked_students = {link.student_id for g in guardians.values() for link in g.links}
    assert linked_students == {s.external_id for s in district.students}


@pytest.mark.parametrize("headers", [{}, {"link_headers": False}, {"link_headers": False, "total_header": False}],
                         ids=["link-and-total", "total-only", "neither"])
def test_small_pages_give_the_same_roster_whatever_the_server_says_about_paging(headers, oneroster_server, pull,
                                                                               district):
    server = oneroster_server("1.1", **headers)
    pulled = pull(server, limit=7)
    assert records(pulled.batch) == records(expected_records(district))
    users = server.requests_to("users")
    n_users = len(district.students) + len(district.teachers) + len(district.guardians)
    # with neither header, a last page as long as the others is only known to be last by an empty one after it
    pages = math.ceil(n_users / 7) + (1 if not headers.get("total_header", True) and n_users % 7 == 0 else 0)
    assert len(users) == pages
    assert [int(r.query["offset"]) for r in users] == [7 * i for i in range(pages)]
    assert all(r.query["limit"] == "7" for r in users)


@pytest.mark.parametrize("total_header", [True, False])
def test_a_server_that_caps_the_page_size_below_our_limit_still_gives_everything(total_header, oneroster_server,
                                                                                pull, district):
    # Asked for 100, the server gives 40 a page and no Link header: a client trusting "short page = last
    # page" would stop after 40 users and mark the rest as gone.
    server = oneroster_server("1.2", max_limit=40, link_headers=False, total_header=total_header)
    pulled = pull(server, limit=100)
    assert records(pulled.batch) == records(expected_records(district))


def test_a_next_link_that_points_back_to_the_same_page_is_an_error_not_a_hang(oneroster_server, pull):
    server = oneroster_server("1.1")
    server.fail("users", offset=100, headers={"Link": f'<{server.root}users?limit=100&offset=0>; rel="next"'})
    with pytest.raises(ApiBadResponse, match="same page twice"):
        pull(server)
    assert len(server.requests_to("users")) == 2


def test_a_next_link_to_another_server_is_not_followed(oneroster_server, pull):
    server = oneroster_server("1.2")
    server.fail("orgs", headers={"Link": '<https://elsewhere.example/steal?offset=100>; rel="next"'})
    with pytest.raises(ApiBadResponse, match="another server"):
        pull(server)
    assert [r.kind for r in server.log if r.method == "GET"] == ["orgs"]


def test_a_200_without_the_collection_is_a_bad_response(oneroster_server, pull):
    server = oneroster_server("1.1")
    server.fail("classes", offset=0, body={"data": []})
    with pytest.raises(ApiBadResponse, match="no 'classes' collection"):
        pull(server)


def test_an_empty_page_before_the_announced_total_fails_the_pull(oneroster_server, pull):
    server = oneroster_server("1.1")
    server.fail("users", offset=200, body={"users": []})
    with pytest.raises(ApiBadResponse, match="X-Total-Count"):
        pull(server)
