"""Guardians in the diff (sync/diff.py + sync/diff_guardians.py), on plain values: one guardian per
person, the district's contact rules, the email-and-phone rule, joined contacts, invitations."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from directory.contacts import PAIR_REFUSED
from sync.changes import DiffSettings, Holder, Row, Snapshot
from sync.diff import diff
from test_diff import DEFAULTS, applied, batch, codes, delta, guardian, school, student, synced

MUM_EMAIL, MUM_PHONE = "mum@example.org", "+12015550123"


def family(*guardians, students=("s1", "s2"), **kw):
    """A school with the named students and these guardians, as one bulk drop."""
    return batch(schools=[school()], students=[student(s) for s in students], guardians=list(guardians), **kw)


def guardians_created(cs) -> dict:
    return dict(cs.kinds["guardians"].creates)


def links_added(cs) -> dict:
    return cs.pairs["guardian_links"].added


def problems(cs, code: str) -> list[dict]:
    return [p for p in cs.problems if p["code"] == code]


def with_account(snap: Snapshot, row_id=500, key=None, email=MUM_EMAIL, phone=MUM_PHONE, joined=True) -> Snapshot:
    """A guardian of the district (by hand when ``key`` is None) holding ``email`` and ``phone``."""
    holder = Holder(row_id, key, joined, email, phone)
    if email:
        snap.holders_by_email[email] = holder
    if phone:
        snap.holders_by_phone[phone] = holder
    return snap


# -- one guardian per person -------------------------------------------------------------------------------
def test_siblings_naming_the_same_guardian_id_make_one_guardian_with_two_links():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g1", ["s2"], email=MUM_EMAIL)),
              DEFAULTS)
    assert list(guardians_created(cs)) == ["g1"]
    assert set(links_added(cs)) == {("g1", "s1"), ("g1", "s2")}
    assert cs.invitations == [("g1", "invite", None)]


def test_guardians_without_a_source_id_are_one_person_per_normalised_email():
    cs = diff(Snapshot(), family(guardian(None, ["s1"], email=" Mum@Example.ORG", given="Ann"),
                                 guardian(None, ["s2"], email="mum@example.org", given="Ann")), DEFAULTS)
    assert guardians_created(cs) == {"email:mum@example.org": ("Ann", "Doe", MUM_EMAIL, None)}
    assert set(links_added(cs)) == {("email:mum@example.org", "s1"), ("email:mum@example.org", "s2")}
    assert len(cs.invitations) == 1


def test_guardians_without_id_or_email_are_one_person_per_e164_phone():
    cs = diff(Snapshot(), family(guardian(None, ["s1"], phone="(201) 555-0123"),
                                 guardian(None, ["s2"], phone="201.555.0123")), DEFAULTS)
    assert guardians_created(cs) == {f"phone:{MUM_PHONE}": ("Pat", "Doe", None, MUM_PHONE)}


def test_two_different_people_stay_two_guardians():
    cs = diff(Snapshot(), family(guardian(None, ["s1"], email=MUM_EMAIL), guardian(None, ["s1"], email="dad@example.org",
                                                                                 relationship="father")), DEFAULTS)
    assert set(guardians_created(cs)) == {f"email:{MUM_EMAIL}", "email:dad@example.org"}


def test_a_guardian_with_an_id_listed_with_other_contacts_is_reported_and_the_first_kept():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"], email=MUM_EMAIL),
                                 guardian("g1", ["s2"], email="other@example.org")), DEFAULTS)
    assert guardians_created(cs)["g1"][2] == MUM_EMAIL
    assert [p["record"] for p in problems(cs, "conflicting_guardian_rows")] == ["g1"]


# -- contacts that cannot be used are reported ---------------------------------------------------------------
def test_a_guardian_with_no_usable_contact_is_reported_not_added():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"]), guardian("g2", ["s1"], email="not-an-email")), DEFAULTS)
    assert guardians_created(cs) == {} and links_added(cs) == {} and cs.invitations == []
    assert sorted(p["record"] for p in problems(cs, "guardian_no_contact")) == ["g1", "g2"]
    assert [p["record"] for p in problems(cs, "invalid_email")] == ["g2"]
    assert "not-an-email" not in repr(cs.problems)  # contact details never go in the report text


def test_an_invalid_email_with_a_good_phone_keeps_the_phone_and_reports_the_email():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"], email="bad@@example.org", phone="201-555-0123")), DEFAULTS)
    assert guardians_created(cs) == {"g1": ("Pat", "Doe", None, MUM_PHONE)}
    assert codes(cs) == ["invalid_email"]


def test_a_landline_is_reported_and_not_used_for_text_messages():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"], email=MUM_EMAIL, phone="201-555-0123", phone_type="Home")),
              DEFAULTS)
    assert guardians_created(cs) == {"g1": ("Pat", "Doe", MUM_EMAIL, None)}
    assert [p["field"] for p in problems(cs, "phone_not_mobile")] == ["phone"]


def test_a_landline_only_guardian_is_reported_as_without_contact():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"], phone="201-555-0123", phone_type="work")), DEFAULTS)
    assert guardians_created(cs) == {}
    assert set(codes(cs)) == {"phone_not_mobile", "guardian_no_contact"}


def test_emergency_contacts_are_reported_not_added_by_default():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"], email=MUM_EMAIL, contact_type="Emergency")), DEFAULTS)
    assert guardians_created(cs) == {} and cs.invitations == []
    [p] = problems(cs, "excluded_contact_type")
    assert p["record"] == "g1" and "emergency" in p["message"]


def test_the_district_chooses_which_contact_types_are_excluded():
    b = family(guardian("g1", ["s1"], email=MUM_EMAIL, contact_type="emergency"),
               guardian("g2", ["s1"], email="gran@example.org", contact_type="relative"))
    cs = diff(Snapshot(), b, DiffSettings(excluded_contact_types=frozenset({"relative"})))
    assert set(guardians_created(cs)) == {"g1"}
    assert [p["record"] for p in problems(cs, "excluded_contact_type")] == ["g2"]


def test_an_excluded_link_of_a_guardian_with_other_links_is_reported_too():
    # Parent of s1 and only the emergency contact of s2: the s2 link is not made, and the report says so.
    g = dataclasses.replace(guardian("g1", ["s1"], email=MUM_EMAIL),
                            links=(guardian("g1", ["s1"]).links[0],
                                   guardian("g1", ["s2"], contact_type="emergency").links[0]))
    cs = diff(Snapshot(), family(g), DEFAULTS)
    assert set(links_added(cs)) == {("g1", "s1")}
    [p] = problems(cs, "excluded_contact_type")
    assert p["record"] == "g1" and "s2" in p["message"]


def test_more_guardians_than_the_district_limit_are_reported_and_not_linked():
    gs = [guardian(f"g{i}", ["s1"], email=f"p{i}@example.org") for i in range(1, 8)]
    cs = diff(Snapshot(), family(*gs), DEFAULTS)
    assert len([p for p in links_added(cs) if p[1] == "s1"]) == 6
    assert set(guardians_created(cs)) == {f"g{i}" for i in range(1, 7)}
    [p] = problems(cs, "too_many_guardians")
    assert p["record"] == "s1" and "7" in p["message"] and "6" in p["message"]


def test_the_guardian_limit_is_a_district_setting_and_counts_per_student():
    gs = [guardian("g1", ["s1", "s2"], email="a@example.org"), guardian("g2", ["s1"], email="b@example.org"),
          guardian("g3", ["s1"], email="c@example.org")]
    cs = diff(Snapshot(), family(*gs), DiffSettings(max_guardians_per_student=2))
    assert [p["record"] for p in problems(cs, "too_many_guardians")] == ["s1"]
    assert set(links_added(cs)) == {("g1", "s1"), ("g2", "s1"), ("g1", "s2")}
    assert "g3" not in guardians_created(cs)
    assert problems(diff(Snapshot(), family(*gs), DiffSettings(max_guardians_per_student=3)), "too_many_guardians") == []


def test_a_guardian_of_an_unknown_student_is_reported_and_without_students_not_added():
    cs = diff(Snapshot(), family(guardian("g1", ["s9"], email=MUM_EMAIL)), DEFAULTS)
    assert guardians_created(cs) == {}
    assert set(codes(cs)) == {"unknown_student", "guardian_without_student"}


# -- the email-and-phone rule: an account that joined is linked, never duplicated ------------------------------
def test_a_new_guardian_whose_email_belongs_to_an_account_links_that_account():
    snap = with_account(synced(family()), phone="+12015550100")
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL, phone="201-555-0123")), DEFAULTS)
    assert guardians_created(cs) == {} and cs.kinds["guardians"].adopts == []
    assert cs.account_keys == {"row:500": 500}
    assert links_added(cs) == {("row:500", "s1"): ("mother", "parent")}
    assert cs.invitations == [("row:500", "added", "s1")]
    [p] = problems(cs, "email_phone_conflict")
    assert p["message"].startswith(PAIR_REFUSED) and PAIR_REFUSED == "This email and phone can't be used at the same time"


def test_a_new_guardian_whose_phone_belongs_to_an_account_links_that_account():
    snap = with_account(synced(family()), email="own@example.org")
    cs = diff(snap, family(guardian(None, ["s1"], email=MUM_EMAIL, phone="201-555-0123")), DEFAULTS)
    assert guardians_created(cs) == {}
    assert set(links_added(cs)) == {("row:500", "s1")}
    assert [i[1] for i in cs.invitations] == ["added"]
    assert len(problems(cs, "email_phone_conflict")) == 1


def test_an_account_with_the_same_contacts_is_linked_without_a_conflict():
    snap = with_account(synced(family()))
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL, phone="201-555-0123")), DEFAULTS)
    assert set(links_added(cs)) == {("row:500", "s1")} and guardians_created(cs) == {}
    assert problems(cs, "email_phone_conflict") == []


def test_an_account_linked_to_two_siblings_gets_one_added_notice_per_student_and_no_create():
    snap = with_account(synced(family()))
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g1", ["s2"], email=MUM_EMAIL)), DEFAULTS)
    assert guardians_created(cs) == {}
    assert sorted(cs.invitations) == [("row:500", "added", "s1"), ("row:500", "added", "s2")]


def test_an_account_named_twice_for_the_same_student_gets_exactly_one_added_notice():
    # The SIS lists the same parent twice (two contact ids, one email): one notice, not two.
    snap = with_account(synced(family()))
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g2", ["s1"], email=MUM_EMAIL,
                                                                             relationship="guardian")), DEFAULTS)
    assert guardians_created(cs) == {}
    assert cs.invitations == [("row:500", "added", "s1")]
    assert set(links_added(cs)) == {("row:500", "s1")}


def test_an_account_already_linked_to_the_student_gets_no_notice():
    snap = with_account(synced(family()))
    snap.links[("row:500", "s1")] = ("mother", "parent")
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL)), DEFAULTS)
    assert cs.invitations == [] and links_added(cs) == {}
    assert cs.is_empty()


def test_a_pending_synced_guardian_holding_the_email_is_not_treated_as_an_account():
    snap = with_account(synced(family()), key="g0", joined=False)
    snap.rows["guardians"]["g0"] = Row(500, "g0", ("Pat", "Doe", MUM_EMAIL, MUM_PHONE))
    cs = diff(snap, family(guardian("g0", ["s1"], email=MUM_EMAIL, phone="201-555-0123")), DEFAULTS)
    assert cs.account_keys == {} and problems(cs, "email_phone_conflict") == []


def test_a_synced_account_linked_under_a_new_key_is_not_archived():
    # A keyless guardian first synced by phone joined, and the SIS now lists them with an email: the new
    # key ("email:...") finds the account by phone and links it. The account must not be archived as
    # "absent" in the same run.
    first = family(guardian(None, ["s1"], phone="201-555-0123"))
    snap = synced(first)
    key = f"phone:{MUM_PHONE}"
    row = snap.rows["guardians"][key]
    snap.rows["guardians"][key] = dataclasses.replace(row, joined=True)
    with_account(snap, row.row_id, key, email=None, phone=MUM_PHONE)
    cs = diff(snap, family(guardian(None, ["s1", "s2"], email=MUM_EMAIL, phone="201-555-0123")), DEFAULTS)
    assert guardians_created(cs) == {}
    assert cs.kinds["guardians"].archives == []
    assert cs.pairs["guardian_links"].removed == set()
    assert set(links_added(cs)) == {(key, "s2")}
    assert cs.invitations == [(key, "added", "s2")]


def test_an_account_link_is_idempotent():
    snap = with_account(synced(family()), phone="+12015550100")
    b = family(guardian("g1", ["s1", "s2"], email=MUM_EMAIL, phone="201-555-0123"))
    cs = diff(snap, b, DEFAULTS)
    again = diff(applied(snap, cs), b, DEFAULTS)
    assert again.is_empty() and again.invitations == []


# -- adopting a guardian made by hand ---------------------------------------------------------------------
def test_a_pending_hand_made_guardian_is_adopted_and_its_links_rekeyed_not_duplicated():
    snap = with_account(synced(family()), row_id=77, joined=False, phone=None)
    snap.links[("row:77", "s1")] = ("mother", "parent")
    b = family(guardian("g1", ["s1", "s2"], email="MUM@example.org", phone="201-555-0123"))
    cs = diff(snap, b, DEFAULTS)
    assert guardians_created(cs) == {}
    assert cs.kinds["guardians"].adopts == [(77, "g1", ("Pat", "Doe", MUM_EMAIL, MUM_PHONE))]
    assert links_added(cs) == {("g1", "s2"): ("mother", "parent")}
    assert cs.pairs["guardian_links"].removed == set()
    assert cs.invitations == []  # they were invited when they were added by hand
    assert cs.counts()["guardians"]["adopted"] == 1
    assert diff(applied(snap, cs), b, DEFAULTS).is_empty()


def test_a_hand_made_guardian_is_adopted_once_even_if_two_records_match_it():
    snap = with_account(synced(family()), row_id=77, joined=False)
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g2", ["s2"], phone="201-555-0123")),
              DEFAULTS)
    assert [a[0] for a in cs.kinds["guardians"].adopts] == [77]


# -- existing guardians: updates, joined contacts, restore, removal ----------------------------------------
def test_a_pending_guardians_contacts_follow_the_sis():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL)))
    cs = diff(snap, family(guardian("g1", ["s1"], email="new@example.org", phone="201-555-0123")), DEFAULTS)
    [(_, key, values, changed)] = cs.kinds["guardians"].updates
    assert changed == {"email": (MUM_EMAIL, "new@example.org"), "phone": (None, MUM_PHONE)}


def _joined(snap: Snapshot, key: str) -> Snapshot:
    snap.rows["guardians"][key] = dataclasses.replace(snap.rows["guardians"][key], joined=True)
    return snap


def test_a_joined_guardians_contacts_are_kept_and_the_difference_reported():
    snap = _joined(synced(family(guardian("g1", ["s1"], email=MUM_EMAIL))), "g1")
    cs = diff(snap, family(guardian("g1", ["s1"], email="new@example.org", given="Patricia")), DEFAULTS)
    [(_, _, values, changed)] = cs.kinds["guardians"].updates
    assert changed == {"given_name": ("Pat", "Patricia")}
    assert values == ("Patricia", "Doe", MUM_EMAIL, None)
    assert len(problems(cs, "joined_contact_differs")) == 1
    assert "new@example.org" not in repr(cs.problems)


def test_a_joined_guardians_contacts_change_when_the_district_allows_it():
    snap = _joined(synced(family(guardian("g1", ["s1"], email=MUM_EMAIL))), "g1")
    cs = diff(snap, family(guardian("g1", ["s1"], email="new@example.org")),
              DiffSettings(sync_updates_joined_contacts=True))
    assert cs.kinds["guardians"].updates[0][3] == {"email": (MUM_EMAIL, "new@example.org")}
    assert problems(cs, "joined_contact_differs") == []


def test_a_removed_guardian_who_comes_back_is_restored_not_created_or_invited():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL)))
    snap.rows["guardians"]["g1"] = dataclasses.replace(snap.rows["guardians"]["g1"], active=False)
    snap.links.clear()
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL)), DEFAULTS)
    assert [k for _, k in cs.kinds["guardians"].restores] == ["g1"]
    assert guardians_created(cs) == {} and cs.invitations == []
    assert set(links_added(cs)) == {("g1", "s1")}


def test_guardian_links_are_added_and_removed_on_a_complete_roster():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL)))
    cs = diff(snap, family(guardian("g1", ["s2"], email=MUM_EMAIL)), DEFAULTS)
    assert set(links_added(cs)) == {("g1", "s2")}
    assert cs.pairs["guardian_links"].removed == {("g1", "s1")}
    assert cs.kinds["guardians"].archives == [] and cs.invitations == []


def test_a_guardian_absent_from_a_complete_roster_is_archived_with_its_links():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g2", ["s1"], email="dad@example.org")))
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL)), DEFAULTS)
    assert [k for _, k in cs.kinds["guardians"].archives] == ["g2"]
    assert cs.pairs["guardian_links"].removed == {("g2", "s1")}


def test_a_guardian_delta_removes_nothing_but_an_explicit_deletion_does():
    snap = synced(family(guardian("g1", ["s1", "s2"], email=MUM_EMAIL), guardian("g2", ["s1"], email="d@example.org")))
    assert diff(snap, delta(guardians=[guardian("g1", ["s1"], email=MUM_EMAIL)]), DEFAULTS).is_empty()
    cs = diff(snap, delta(guardians=[guardian("g2", [], deleted=True)]), DEFAULTS)
    assert [k for _, k in cs.kinds["guardians"].archives] == ["g2"]
    assert cs.pairs["guardian_links"].removed == {("g2", "s1")}


def test_a_protected_guardian_is_not_archived():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g2", ["s1"], email="d@example.org")))
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL)), DEFAULTS, frozenset({"g2"}))
    assert cs.kinds["guardians"].archives == [] and cs.pairs["guardian_links"].removed == set()


def test_a_guardian_whose_sis_contact_turned_invalid_keeps_their_place_and_links():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g2", ["s1"], email="d@example.org")))
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g2", ["s1"], email="d-at-example")),
              DEFAULTS)
    assert cs.kinds["guardians"].archives == [] and cs.pairs["guardian_links"].removed == set()
    assert [p["record"] for p in problems(cs, "guardian_no_contact")] == ["g2"]


def test_a_relationship_change_updates_the_link_in_place():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL, relationship="mother")))
    cs = diff(snap, family(guardian("g1", ["s1"], email=MUM_EMAIL, relationship="guardian")), DEFAULTS)
    links = cs.pairs["guardian_links"]
    assert links.updated == {("g1", "s1"): ("guardian", "parent")}
    assert links.added == {} and links.removed == set()
    assert cs.counts()["guardian_links"] == {"added": 0, "removed": 0, "updated": 1}
    assert cs.invitations == []


# -- district switches ----------------------------------------------------------------------------------
def test_auto_invite_off_queues_no_invitations_for_new_guardians():
    cs = diff(Snapshot(), family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian(None, ["s2"], phone="201-555-0199")),
              DiffSettings(auto_invite=False))
    assert len(guardians_created(cs)) == 2
    assert cs.invitations == []
    assert len(diff(Snapshot(), family(guardian("g1", ["s1"], email=MUM_EMAIL)), DEFAULTS).invitations) == 1


def test_sync_not_managing_guardians_changes_no_guardian_at_all():
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g2", ["s1"], email="d@example.org")))
    with_account(snap, row_id=500, email="acct@example.org", phone=None)
    b = family(guardian("g1", ["s1", "s2"], email="new@example.org", relationship="aunt"),
               guardian("g3", ["s2"], email="acct@example.org"), guardian("g4", ["s1"]))
    settings = DiffSettings(sync_manages_guardians=False)
    cs = diff(snap, b, settings)
    g = cs.kinds["guardians"]
    assert not (g.creates or g.updates or g.archives or g.restores or g.adopts)
    links = cs.pairs["guardian_links"]
    assert not (links.added or links.removed or links.updated)
    assert cs.invitations == [] and cs.account_keys == {}
    assert not [p for p in cs.problems if "guardian" in p["code"] or "contact" in p["code"]]
    assert cs.is_empty()
    assert not diff(snap, b, DEFAULTS).is_empty()  # the same roster does change guardians when managed


@pytest.mark.parametrize("settings", [DEFAULTS, DiffSettings(auto_invite=False)])
def test_guardians_settle_after_one_sync(settings):
    b = family(guardian("g1", ["s1"], email=MUM_EMAIL), guardian("g1", ["s2"], email=MUM_EMAIL),
               guardian(None, ["s1"], email="Dad@example.org", relationship="father"),
               guardian(None, ["s2"], phone="201-555-0199", relationship="grandparent"),
               guardian("g9", ["s2"], email="em@example.org", contact_type="emergency"))
    snap = Snapshot()
    cs = diff(snap, b, settings)
    again = diff(applied(snap, cs), copy.deepcopy(b), settings)
    assert again.is_empty() and again.invitations == []


def test_a_delta_cannot_add_guardians_beyond_the_limit():
    """The per-student limit counts the guardians a student already has: a delta names only what changed,
    and each night's delta could otherwise add one more."""
    one = dataclasses.replace(DEFAULTS, max_guardians_per_student=1)
    snap = synced(family(guardian("g1", ["s1"], email=MUM_EMAIL)), one)
    cs = diff(snap, delta(guardians=[guardian("g2", ["s1", "s2"], email="d@example.org")]), one)
    assert set(links_added(cs)) == {("g2", "s2")}  # s2 had room, s1 did not
    assert [p["record"] for p in problems(cs, "too_many_guardians")] == ["s1"]
    cs = diff(snap, delta(guardians=[guardian("g3", ["s1"], email="x@example.org")]), one)
    assert not guardians_created(cs) and not links_added(cs)  # nobody made for no student
    # a guardian deleted in the same delta makes room
    cs = diff(snap, delta(guardians=[guardian("g1", [], deleted=True), guardian("g3", ["s1"], email="x@example.org")]),
              one)
    assert set(links_added(cs)) == {("g3", "s1")} and problems(cs, "too_many_guardians") == []
