"""The pure parts of messaging, on plain values: the delivery policy, what providers' answers mean,
delivery events and contact status, masking, join codes, message text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging import compose
from messaging.classify import classify_sms_response, classify_smtp_reply
from messaging.events import Effect, contact_after, effect_of, parse_event
from messaging.joincodes import new_join_code, normalize_join_code
from messaging.masking import mask_email, mask_phone
from messaging.policy import CHANNELS, ContactPoint, choose_channel

OK = ContactPoint(True)
MISSING = ContactPoint(False)


def test_the_district_default_is_preferred_and_the_other_channel_is_the_fallback():
    both = {"email": OK, "sms": OK}
    assert choose_channel("email", both).channel == "email"
    assert choose_channel("sms", both).channel == "sms"
    bounced = {"email": ContactPoint(True, "unreachable", "invalid"), "sms": OK}
    choice = choose_channel("email", bounced)
    assert (choice.channel, choice.fallback, choice.blocked) == ("sms", True, {"email": "invalid"})
    assert choose_channel("email", both, failed={"email"}).channel == "sms"  # a failed send falls back too
    assert choose_channel("email", {"email": MISSING, "sms": OK}).channel == "sms"


def test_an_opt_out_is_never_a_fallback_and_nobody_reachable_is_reported_with_reasons():
    points = {"email": ContactPoint(True, "unreachable", "spam_complaint"), "sms": ContactPoint(True, "opted_out")}
    choice = choose_channel("email", points)
    assert choice.channel is None and choice.blocked == {"email": "spam_complaint", "sms": "opted_out"}
    assert choose_channel("email", {"email": OK, "sms": OK}, configured={"sms"}).channel == "sms"
    assert choose_channel("email", {"email": OK, "sms": MISSING}, configured={"sms"}).blocked == {
        "email": "not_configured", "sms": "missing"}


@given(st.sampled_from(CHANNELS), st.fixed_dictionaries({c: st.builds(
    ContactPoint, st.booleans(), st.sampled_from(["ok", "unreachable", "opted_out"]),
    st.sampled_from([None, "invalid", "blocked"])) for c in CHANNELS}), st.sets(st.sampled_from(CHANNELS)))
def test_the_policy_only_ever_picks_a_usable_channel(preferred, points, failed):
    choice = choose_channel(preferred, points, failed=failed)
    if choice.channel is not None:
        p = points[choice.channel]
        assert p.present and p.status == "ok" and choice.channel not in failed
        assert choice.fallback == (choice.channel != preferred)
    else:
        assert set(choice.blocked) == set(CHANNELS)


@pytest.mark.parametrize("code,text,kind,reason", [
    (250, "OK", "accepted", None),
    (550, "5.1.1 No such user", "rejected", "invalid"),
    (452, "4.2.2 Mailbox full", "rejected", "inbox_full"),
    (552, "Mailbox full", "rejected", "inbox_full"),
    (550, "5.7.1 Message rejected as spam", "rejected", "blocked"),
    (451, "4.3.0 Try again later", "transient", None),
    (421, "Service not available", "transient", None),
    (554, "5.3.4 Message too big", "rejected", "blocked"),
])
def test_smtp_replies(code, text, kind, reason):
    outcome = classify_smtp_reply(code, text)
    assert (outcome.kind, outcome.reason) == (kind, reason)


def test_sms_api_answers():
    assert classify_sms_response(201, None).kind == "accepted"
    assert classify_sms_response(400, 21211).reason == "invalid"
    assert classify_sms_response(400, 21610).reason == "opted_out"
    assert classify_sms_response(429, None).kind == "transient"
    assert classify_sms_response(503, None).kind == "transient"


def test_events_in_both_shapes_and_their_effects():
    callback = parse_event({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30005", "To": "+1"})
    assert (callback.kind, callback.provider_id, callback.error_code) == ("sms_status", "SM1", 30005)
    assert effect_of(callback) == Effect("unreachable", "invalid", "undelivered", True)
    handset_off = parse_event({"MessageSid": "SM2", "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert effect_of(handset_off) == Effect(None, None, "undelivered", True)  # the number is fine; this one failed
    assert parse_event({"From": "+14155550123", "Body": " stop "}).kind == "opt_out"
    assert parse_event({"From": "+14155550123", "Body": "START"}).kind == "opt_in"
    bounce = parse_event({"type": "bounce", "message_id": "<rs-abc@maple.example.org>", "smtp_status": "5.1.1"})
    assert (bounce.key, bounce.reason) == ("rs-abc", "invalid")
    assert effect_of(parse_event({"type": "complaint", "email": "a@example.org"})).reason == "spam_complaint"
    with pytest.raises(ValueError, match="not one of"):
        parse_event({"type": "explode", "key": "x"})
    with pytest.raises(ValueError, match="needs the message key"):
        parse_event({"type": "bounce"})


def test_contact_status_transitions_never_lift_an_opt_out_except_by_start():
    assert contact_after("ok", None, Effect("unreachable", "invalid")) == ("unreachable", "invalid")
    assert contact_after("unreachable", "invalid", Effect("reset")) == ("ok", None)
    assert contact_after("ok", None, Effect("opted_out")) == ("opted_out", None)
    assert contact_after("opted_out", None, Effect("reset")) == ("opted_out", None)
    assert contact_after("opted_out", None, Effect("unreachable", "invalid")) == ("opted_out", None)
    assert contact_after("opted_out", None, Effect("opted_in")) == ("ok", None)
    assert contact_after("unreachable", "blocked", Effect()) == ("unreachable", "blocked")


def test_masking_shows_enough_to_tell_which_contact_is_wrong():
    assert mask_email("maria.ruiz@example.org") == "m***@example.org"
    assert mask_phone("+15555550123") == "+1******0123"
    assert mask_phone("+447700900123") == "+44******0123"
    assert mask_email(None) is None and mask_phone(None) is None


def test_join_codes_are_random_and_forgiving_to_type():
    codes = {new_join_code() for _ in range(2000)}
    assert len(codes) == 2000
    code = next(iter(codes))
    assert normalize_join_code(code.lower().replace("-", " ")) == code
    assert normalize_join_code("O000-1111-2222") == "0000-1111-2222"
    assert normalize_join_code("too-short") is None


def test_messages_name_only_the_guardians_own_children_and_carry_the_code():
    letter = compose.Letter("invite", "Maple USD", "Maria Ruiz", ("Ana",), ("Oak Elementary",), "K7QM-3XTB-9WDR",
                            "https://join.example.org/")
    subject, body = compose.email(letter)
    assert "Maple USD" in subject and "K7QM-3XTB-9WDR" in body and "Ana" in body
    text = compose.sms(letter)
    assert "K7QM-3XTB-9WDR" in text and "STOP" in text and len(text) < 320
    added = compose.Letter("added", "Maple USD", "Maria Ruiz", ("Leo",), ("Oak Elementary",))
    assert "Leo" in compose.email(added)[0] and "code" not in compose.email(added)[1]
