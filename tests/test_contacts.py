"""Contact normalization and the email-and-phone rule, on plain values."""

import pytest

from directory.contacts import PAIR_REFUSED, Holder, decide_pair, normalize_email, normalize_phone
from directory.errors import InvalidInput


@pytest.mark.parametrize("raw,expected", [
    ("  Parent@Example.ORG ", "parent@example.org"),
    ("first.last+tag@example.com", "first.last+tag@example.com"),
    ("", None), (None, None), ("   ", None),
])
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["plainaddress", "a@b", "two@@example.org", "space in@example.org"])
def test_invalid_email_is_refused_without_echoing_it(raw):
    with pytest.raises(InvalidInput) as exc:
        normalize_email(raw)
    assert "invalid email address" in str(exc.value) and raw not in str(exc.value)


@pytest.mark.parametrize("raw,region,expected", [
    ("(201) 555-0123", "US", "+12015550123"),
    ("201.555.0123", "US", "+12015550123"),
    ("+1 201 555 0123", "GB", "+12015550123"),
    ("07400 123456", "GB", "+447400123456"),
    ("", "US", None),
])
def test_normalize_phone_to_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw,reason", [
    ("555", "not a valid number"), ("hello", "not a phone number"),
    ("+44 20 7946 0018", "landline"), ("+1 800 555 0199", "toll-free"),
])
def test_unusable_phone_is_refused_with_the_reason(raw, reason):
    with pytest.raises(InvalidInput, match=reason):
        normalize_phone(raw, "US")


E, P = "mom@example.org", "+12015550123"


def test_nobody_holds_either_creates():
    assert decide_pair(E, P, None, None).action == "create"


def test_same_guardian_holds_both_reuses():
    h = Holder(7, True, E, P)
    assert decide_pair(E, P, h, h).action == "reuse" and decide_pair(E, P, h, h).guardian_id == 7


def test_single_contact_of_an_account_links_that_account():
    d = decide_pair(E, None, Holder(7, True, E, None), None)
    assert (d.action, d.guardian_id) == ("reuse", 7)


@pytest.mark.parametrize("email_holder,phone_holder,which", [
    (Holder(7, True, E, None), None, "email"),
    (None, Holder(7, True, None, P), "phone"),
])
def test_pair_refused_when_one_belongs_to_an_account(email_holder, phone_holder, which):
    d = decide_pair(E, P, email_holder, phone_holder)
    assert d.action == "refuse" and d.guardian_id == 7
    assert d.message.startswith(PAIR_REFUSED) and f"the {which} already belongs to an account" in d.message


def test_pending_guardian_is_extended_with_the_other_contact():
    d = decide_pair(E, P, Holder(3, False, E, None), None)
    assert (d.action, d.guardian_id) == ("extend", 3)


def test_pending_guardian_with_a_different_number_is_not_guessed():
    d = decide_pair(E, P, Holder(3, False, E, "+12015550999"), None)
    assert d.action == "refuse" and "different phone" in d.message


def test_two_different_guardians_refused_offering_the_account():
    d = decide_pair(E, P, Holder(3, False, E, None), Holder(9, True, None, P))
    assert d.action == "refuse" and d.guardian_id == 9 and "two different guardians" in d.message


def test_no_contact_at_all_is_invalid():
    with pytest.raises(InvalidInput):
        decide_pair(None, None, None, None)


def test_the_fast_north_american_type_lookup_agrees_with_the_library():
    """The sync's type lookup (directory/contacts.py _TypeLookup) must give phonenumbers' answer for every kind
    of number: each area code of +1 (including toll-free 8xx, premium 900, Canada and the Caribbean), with
    exchanges that are valid, reserved (0xx/1xx, 555, 950) and random. A wrong answer would invite a
    landline by SMS or refuse a mobile."""
    import random

    import phonenumbers

    from directory.contacts import _NANP_TYPES

    rng = random.Random(8)
    numbers = []
    for area in range(200, 1000):
        for exchange in (rng.randint(200, 999), rng.randint(0, 199), 555, 950, 976):
            numbers.append(f"{area}{exchange:03d}{rng.randint(0, 9999):04d}")
    kinds = set()
    for digits in numbers:
        expected = phonenumbers.number_type(phonenumbers.PhoneNumber(country_code=1, national_number=int(digits)))
        assert _NANP_TYPES.number_type(digits) == expected, digits
        kinds.add(expected)
    # the sample reaches the answers that matter: valid, unknown, toll-free, premium, personal
    assert {phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE, phonenumbers.PhoneNumberType.UNKNOWN,
            phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE} <= kinds
