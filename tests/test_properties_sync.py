"""Properties of a sync, on generated rosters (issue #9), against real SQLite and PostgreSQL.

1. A roster synced and then diffed again needs nothing more: no change, no invitation.
2. The order of the records in a roster changes neither the change set nor the directory.
3. A delta equal to the difference of two bulk rosters gives the directory of the second roster (but
   for the guardian links a delta keeps by design: links_deltas_keep); the second roster synced alone
   gives the same active directory.

Rosters come from tests/roster_strategies.py (small id alphabets, shared guardians, contacts spelled
several ways); tests/sync_harness.py applies them with the product's own snapshot, diff and apply.
Each database test runs its hypothesis examples against one database, a new district per example.
"""

from __future__ import annotations

import copy
import random
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.records import KINDS
from connectors.sftp.drop_writer import write_oneroster_drop
from roster_strategies import delta_between, identity, next_night, noise, render, worlds
from sync.changes import Snapshot
from sync.diff import diff
from sync.run import run_sync
from sync_harness import Directory, shape
from test_diff import DEFAULTS, applied, canon

# Examples per database: PostgreSQL costs about four times as much per sync as SQLite.
EXAMPLES = {"sqlite": 30, "postgres": 8}


def _examples(db_url: str, scale: float = 1.0) -> int:
    return max(3, int(EXAMPLES["sqlite" if db_url.startswith("sqlite") else "postgres"] * scale))


def _settings(n: int):
    # No deadline: a sync's time depends on the machine (speed is the benchmarks' business).
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def directory(db_url):
    d = Directory(db_url)
    yield d
    d.close()


def district_settings():
    """The district settings that change what a roster means (README, "District settings")."""
    return st.fixed_dictionaries({}, optional={
        "auto_invite": st.sampled_from(("on", "off")),
        "sync_updates_joined_contacts": st.sampled_from(("on", "off")),
        "sync_manages_guardians": st.sampled_from(("on", "on", "off")),
        "max_guardians_per_student": st.sampled_from(("1", "2", "6")),
        "excluded_contact_types": st.sampled_from(("emergency", "emergency,relative")),
    })


def _hand_made(directory: Directory, slug: str, data) -> None:
    """What a school typed in before it connected its SIS: a school, a pupil, their guardians, one
    of whom may have joined. Values come from the generator's own pools, so the first sync may adopt
    them, link the joined account instead of creating a guardian, or leave them alone."""
    with directory.service(slug) as svc:
        school = svc.add_school(data.draw(st.sampled_from(("Lincoln Elementary", "Elsewhere"))),
                                data.draw(st.sampled_from((None, "100"))))
        kid = svc.enroll_student(school.id, "Ana", data.draw(st.sampled_from(("Nguyen", "García"))),
                                 data.draw(st.sampled_from((None, "1001"))),
                                 data.draw(st.sampled_from((None, "2015-01-02"))))
        email = data.draw(st.sampled_from((None, "mum@example.org", "other@example.org")))
        phone = data.draw(st.sampled_from((None, "201-555-0123"))) if email else "201-555-0199"
        guardian, _ = svc.add_guardian(kid.id, email=email, phone=phone, given_name="Hand", family_name="Made")
        if data.draw(st.booleans(), label="the hand-made guardian joined"):
            svc.mark_joined(guardian.id)


def _some_join(directory: Directory, slug: str, data) -> None:
    """Parents sign up between two nights: their contacts are theirs from then on."""
    pending = [g["id"] for g in directory.export(slug)["guardians"] if g["state"] == "pending"
               and g["status"] == "active"]
    if not pending:
        return
    with directory.service(slug) as svc:
        for gid in data.draw(st.lists(st.sampled_from(pending), unique=True, max_size=2), label="joined"):
            svc.mark_joined(gid)


def pending(cs) -> dict:
    """Only what a change set would still do, for a readable failure."""
    out = {}
    for kind, c in cs.kinds.items():
        for action in ("creates", "updates", "archives", "restores", "adopts"):
            if getattr(c, action):
                out[f"{kind}.{action}"] = getattr(c, action)
    for kind, p in cs.pairs.items():
        for action in ("added", "removed", "updated"):
            if getattr(p, action):
                out[f"{kind}.{action}"] = getattr(p, action)
    return out


# -- 1. applying a diff and diffing again is empty --------------------------------------------------------
def test_a_synced_roster_diffs_to_nothing_and_invites_nobody_again(directory, db_url):
    # A bug this catches: apply writing a value the snapshot reads back differently (an email not
    # lower-cased, a phone not in E.164, a school_id left as a row id), a link added under a guardian key
    # the snapshot does not use (every night it would be "added" again, with a new "added to a class"
    # notice), or an adopted hand-made row that is adopted again: the second diff is then not empty.
    @_settings(_examples(db_url))
    @given(st.data())
    def check(data):
        slug = directory.district(**data.draw(district_settings(), label="district settings"))
        if data.draw(st.booleans(), label="hand-made directory first"):
            _hand_made(directory, slug, data)
        world = data.draw(worlds(), label="night 1")
        for night in range(data.draw(st.integers(1, 3), label="nights")):
            if night:
                world = data.draw(next_night(world), label=f"night {night + 1}")
                _some_join(directory, slug, data)
            batch = data.draw(render(world))
            if data.draw(st.booleans(), label="with bad rows"):
                batch = data.draw(noise(batch))
            directory.sync(slug, batch)
            again = directory.diff(slug, batch)
            assert again.is_empty(), pending(again)
            assert again.invitations == [], again.invitations

    check()


# -- 2. record order does not change the result --------------------------------------------------------------
def _shuffled(batch, seed: int):
    out = copy.deepcopy(batch)
    rng = random.Random(seed)
    for kind in KINDS:
        rng.shuffle(getattr(out, kind))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_record_order_does_not_change_the_change_set(data):
    # Pure and fast, so it searches widely; the directory comes from test_diff.applied.
    # A bug this catches: merging a guardian's rows keeping the last row's links only, or "first seen
    # wins" where the rows are not duplicates (a guardian's second child dropped when the rows come the
    # other way round), or a student adopted by whichever record comes first.
    first = data.draw(worlds(), label="night 1")
    second = data.draw(next_night(first), label="night 2")
    cs = diff(Snapshot(), data.draw(render(first)), DEFAULTS)
    snapshot = applied(Snapshot(), cs)
    batch = data.draw(render(second))
    expected = canon(diff(snapshot, batch, DEFAULTS))
    shuffled = _shuffled(batch, data.draw(st.integers(0, 2**32)))
    assert canon(diff(snapshot, shuffled, DEFAULTS)) == expected


def test_record_order_does_not_change_the_directory(directory, db_url):
    # The same on a real database, and on to what apply writes: two districts that got the same first
    # night get the second in two orders and must end up alike, invitations included. A bug this catches:
    # apply resolving a guardian key to whichever row it met first, or audit/insert order deciding ids
    # that the export then shows in another relation.
    @_settings(_examples(db_url, 0.5))
    @given(st.data())
    def check(data):
        first = data.draw(worlds(), label="night 1")
        second = data.draw(next_night(first), label="night 2")
        one, other = directory.district(), directory.district()
        batch = data.draw(render(first))
        for slug in (one, other):
            directory.sync(slug, batch)
        batch = data.draw(render(second))
        shuffled = _shuffled(batch, data.draw(st.integers(0, 2**32)))
        assert canon(directory.diff(one, shuffled)) == canon(directory.diff(one, batch))
        directory.sync(one, batch)
        directory.sync(other, shuffled)
        assert shape(directory.export(one)) == shape(directory.export(other))
        assert directory.invitations(one) == directory.invitations(other)

    check()


# -- 3. a delta equal to the difference of two bulk rosters --------------------------------------------------
def links_deltas_keep(nights) -> set[tuple[str, str]]:
    """The (guardian, student) links that a sync by deltas still holds and a sync by bulk drops does not.

    A guardian sent again in a delta without one of their children keeps that link: by design a delta
    removes nothing but an explicit deletion (tests/test_diff_guardians.py::
    test_a_guardian_delta_removes_nothing_but_an_explicit_deletion_does), since a connector's guardian
    record may carry only some of the children (OneRoster links from the students' side come only with
    the students in the same delta). Deleting the guardian removes all of their links.
    """
    kept: set[tuple[str, str]] = set()
    for before, after in zip(nights, nights[1:]):
        old = {identity(g): {l.student_id for l in g.links} for g in before.guardians}
        new = {identity(g): {l.student_id for l in g.links} for g in after.guardians}
        kept = {(g, s) for g, s in kept if g in new and s not in new[g]}
        kept |= {(g, s) for g, children in new.items() if g in old for s in old[g] - children}
    return kept


def assert_same_directory_but_kept_links(by_delta: dict, by_bulk: dict, nights) -> None:
    assert {k: v for k, v in by_delta.items() if k != "links"} == {k: v for k, v in by_bulk.items() if k != "links"}
    assert set(by_bulk["links"]) <= set(by_delta["links"])
    assert {link[:2] for link in set(by_delta["links"]) - set(by_bulk["links"])} == links_deltas_keep(nights)


def test_a_delta_gives_the_directory_of_the_bulk_roster_it_is_the_difference_of(directory, db_url):
    # Three districts: one takes every night whole, one takes the first night whole and then only the
    # differences, one takes only the last night. A bug this catches: a delta's tobedeleted not archiving
    # (or a delta archiving what it does not mention), an archived student keeping an enrollment, a
    # restore that needs a bulk drop, a guardian link kept other than exactly those links_deltas_keep.
    @_settings(_examples(db_url, 0.75))
    @given(st.data())
    def check(data):
        nights = [data.draw(worlds(), label="night 1")]
        for n in range(data.draw(st.integers(1, 2), label="more nights")):
            nights.append(data.draw(next_night(nights[-1]), label=f"night {n + 2}"))
        bulk, delta, alone = directory.district(), directory.district(), directory.district()
        first = data.draw(render(nights[0]))
        directory.sync(bulk, first)
        directory.sync(delta, first)
        for before, after in zip(nights, nights[1:]):
            directory.sync(bulk, data.draw(render(after)))
            directory.sync(delta, data.draw(render(delta_between(before, after))))
        directory.sync(alone, data.draw(render(nights[-1])))
        assert_same_directory_but_kept_links(shape(directory.export(delta)), shape(directory.export(bulk)), nights)
        assert directory.invitations(delta) == directory.invitations(bulk)
        assert shape(directory.export(bulk), active_only=True) == shape(directory.export(alone), active_only=True)

    check()


def test_a_oneroster_delta_drop_gives_the_directory_of_the_bulk_drop(directory, db_url, tmp_path):
    # The same through everything a district runs: OneRoster CSV drops (1.1 or 1.2) in a folder, read
    # by the OneRoster reader, synced by run_sync (lease, one transaction, the report). And after every
    # run, the same drop forced again (`sync --full`) reports the directory unchanged and queues no
    # invitation. A bug this catches: the reader turning a tobedeleted row into an active one, a delta's
    # blank optional column read as "cleared", an agentSourcedIds link lost in a delta.
    drops = iter(range(10**9))

    def sync(slug: str, folder, batch, version: str, mode: str) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        write_oneroster_drop(batch, folder, version, mode)
        outcome = run_sync(directory.engine, slug)
        assert outcome.status == "succeeded", outcome.report["errors"]
        assert outcome.report["mode"] == ("delta" if mode == "delta" else "full")
        again = run_sync(directory.engine, slug, full=True)
        assert again.report["directory_state"] == "unchanged", again.report["counts"]
        assert again.report["invitations_queued"] == 0

    @_settings(_examples(db_url, 0.3))
    @given(st.data())
    def check(data):
        version = data.draw(st.sampled_from(("1.1", "1.2")), label="OneRoster version")
        # OneRoster gives every user a sourcedId (the writer would make one from a contact's spelling).
        nights = [data.draw(worlds(no_id_guardians=False), label="night 1")]
        nights.append(data.draw(next_night(nights[-1], no_id_guardians=False), label="night 2"))
        folders, slugs = {}, {}
        for name in ("bulk", "delta", "alone"):
            folders[name] = tmp_path / f"drop-{next(drops)}"
            folders[name].mkdir()
            slugs[name] = directory.district(source_config={"path": str(folders[name])})
        first = data.draw(render(nights[0], split_guardians=False))
        for name in ("bulk", "delta"):
            sync(slugs[name], folders[name], first, version, "bulk")
        sync(slugs["bulk"], folders["bulk"], data.draw(render(nights[1], split_guardians=False)), version, "bulk")
        sync(slugs["delta"], folders["delta"], data.draw(render(delta_between(*nights), split_guardians=False)),
             version, "delta")
        sync(slugs["alone"], folders["alone"], data.draw(render(nights[1], split_guardians=False)), version, "bulk")
        assert_same_directory_but_kept_links(shape(directory.export(slugs["delta"])),
                                             shape(directory.export(slugs["bulk"])), nights)
        assert directory.invitations(slugs["delta"]) == directory.invitations(slugs["bulk"])
        assert shape(directory.export(slugs["alone"]), active_only=True) == \
            shape(directory.export(slugs["bulk"]), active_only=True)

    check()
