"""Properties of the delivery policy (issue #9): an opted-out or unreachable channel is never chosen, the
fallback is the one README's messaging section promises, and when nothing can be used nothing is sent
and the reason for each channel says why.

Pure: messaging/policy.py's choose_channel, fed the way the relay feeds it (messaging/relay.py
contact_points on a guardian row, the deployment's channels from MessagingConfig), and the contact
statuses that delivery events leave behind (messaging/events.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from directory.models import Guardian
from messaging.config import MessagingConfig, SmsSettings, SmtpSettings
from messaging.events import contact_after, effect_of, parse_event
from messaging.policy import CHANNELS, OK, OPTED_OUT, REASONS, UNREACHABLE, ContactPoint, choose_channel, other
from messaging.relay import contact_points

# Every contact point the policy can meet: missing, or present with each status (and each reason).
STATUSES = [(OK, None), (OPTED_OUT, None), (UNREACHABLE, None), *((UNREACHABLE, r) for r in REASONS)]
POINTS = [ContactPoint(False), *(ContactPoint(True, s, r) for s, r in STATUSES)]
CHANNEL_SETS = [frozenset(c) for n in range(3) for c in itertools.combinations(CHANNELS, n)]


def expected_block(channel: str, point: ContactPoint, configured, failed) -> str | None:
    """README's rules, written again independently of the policy: why a channel cannot be used."""
    if not point.present:
        return "missing"
    if point.status == OPTED_OUT:
        return "opted_out"  # the family's own choice outranks everything else we know
    if point.status == UNREACHABLE:
        return point.reason or "unreachable"
    if channel not in configured:
        return "not_configured"
    if channel in failed:
        return "failed"
    return None


def test_every_combination_of_contact_statuses_gets_the_channel_readme_promises():
    # Exhaustive (2 preferences x 11 x 11 contact points x 4 configurations x 4 failure sets): the
    # whole domain is small enough to try every case rather than a sample. A bug this catches: a
    # fallback that skips only "unreachable" and so falls back to an opted-out number, the preference
    # ignored when both channels work, or a "nobody reachable" with no reason for one channel.
    for preferred, email, sms, configured, failed in itertools.product(CHANNELS, POINTS, POINTS, CHANNEL_SETS,
                                                                       CHANNEL_SETS):
        points = {"email": email, "sms": sms}
        choice = choose_channel(preferred, points, configured, failed)
        why = {c: expected_block(c, points[c], configured, failed) for c in CHANNELS}
        case = (preferred, points, sorted(configured), sorted(failed), choice)
        if why[preferred] is None:
            assert (choice.channel, choice.fallback, choice.blocked) == (preferred, False, {}), case
        elif why[other(preferred)] is None:
            assert (choice.channel, choice.fallback) == (other(preferred), True), case
            assert choice.blocked == {preferred: why[preferred]}, case
        else:  # nothing is sent, and each channel says why
            assert choice.channel is None and choice.blocked == why, case
        if choice.channel is not None:
            chosen = points[choice.channel]
            assert chosen.present and chosen.status == OK, case  # never opted out, never unreachable
            assert choice.channel in configured and choice.channel not in failed, case


def _guardian(email: str | None, phone: str | None, email_status, phone_status) -> Guardian:
    return Guardian(email=email, phone=phone, email_status=email_status[0], email_status_reason=email_status[1],
                    phone_status=phone_status[0], phone_status_reason=phone_status[1])


def _config(smtp: bool, sms: bool) -> MessagingConfig:
    return MessagingConfig(
        smtp=SmtpSettings("127.0.0.1", 25, None, None, "none") if smtp else None, mail_from="school@example.org",
        sms=SmsSettings("http://127.0.0.1:9", "AC1", "token", "+12015550100") if sms else None,
        outbox_dir=Path("outbox"), delivery_log=Path("delivery.log"), join_url="https://join.example.org")


@given(default=st.sampled_from(CHANNELS), email=st.sampled_from((None, "mum@example.org")),
       phone=st.sampled_from((None, "+12015550123")), email_status=st.sampled_from(STATUSES),
       phone_status=st.sampled_from(STATUSES), smtp=st.booleans(), sms=st.booleans())
def test_a_guardian_row_as_the_relay_reads_it_never_gets_an_opted_out_or_unreachable_channel(
        default, email, phone, email_status, phone_status, smtp, sms):
    # Through the relay's own glue: contact_points on a guardian row (email_* columns for email,
    # phone_* for SMS) and the channels a deployment has (README: with neither SMTP nor SMS configured
    # both write to the outbox; with one, the other is unavailable). A bug this catches: the SMS
    # channel reading email_status, an empty string counted as an address, the outbox mode dropping SMS.
    guardian = _guardian(email, phone, email_status, phone_status)
    config = _config(smtp, sms)
    choice = choose_channel(default, contact_points(guardian), config.channels)
    address = {"email": email, "sms": phone}
    status = {"email": email_status, "sms": phone_status}
    usable = {c for c in CHANNELS if address[c] and status[c][0] == OK and c in config.channels}
    if choice.channel is None:
        assert not usable
        for channel in CHANNELS:  # the unreachable report names a reason per channel
            reason = choice.blocked[channel]
            if not address[channel]:
                assert reason == "missing"
            elif status[channel][0] == OPTED_OUT:
                assert reason == "opted_out"
            elif status[channel][0] == UNREACHABLE:
                assert reason == (status[channel][1] or "unreachable")
            else:
                assert reason == "not_configured"
    else:
        assert choice.channel in usable
        assert choice.channel == (default if default in usable else other(default))
    if not smtp and not sms:  # offline: both channels go to the outbox folder
        assert config.channels == frozenset(CHANNELS)


# -- contact status after delivery events ----------------------------------------------------------------
# Events as they arrive (README, "Delivery events"), each with what it does to the contact, written
# independently of messaging/events.py: (event, channel, new state or None for no change).
# A state is (status, reason); "lift" = START (lifts an opt-out only); "reset" = a click (anything but
# an opt-out becomes ok).
EVENTS = [
    ({"type": "bounce", "email": "mum@example.org", "bounce": "hard"}, "email", (UNREACHABLE, "invalid")),
    ({"type": "bounce", "email": "mum@example.org", "bounce": "inbox_full"}, "email", (UNREACHABLE, "inbox_full")),
    ({"type": "bounce", "email": "mum@example.org", "bounce": "blocked"}, "email", (UNREACHABLE, "blocked")),
    ({"type": "bounce", "email": "mum@example.org", "bounce": "spam"}, "email", (UNREACHABLE, "spam_complaint")),
    ({"type": "bounce", "email": "mum@example.org", "bounce": "soft"}, "email", None),
    ({"type": "bounce", "email": "mum@example.org", "smtp_status": "5.1.1"}, "email", (UNREACHABLE, "invalid")),
    ({"type": "complaint", "email": "mum@example.org"}, "email", (UNREACHABLE, "spam_complaint")),
    ({"type": "not_engaged", "email": "mum@example.org"}, "email", (UNREACHABLE, "not_engaged")),
    ({"type": "delivered", "email": "mum@example.org"}, "email", None),
    ({"type": "click", "email": "mum@example.org"}, "email", "reset"),
    ({"type": "click", "phone": "+12015550123"}, "sms", "reset"),
    ({"From": "+12015550123", "Body": "STOP"}, "sms", (OPTED_OUT, None)),
    ({"From": "+12015550123", "Body": " unsubscribe "}, "sms", (OPTED_OUT, None)),
    ({"From": "+12015550123", "Body": "START"}, "sms", "lift"),
    ({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30005"}, "sms", (UNREACHABLE, "invalid")),
    ({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "30007"}, "sms", (UNREACHABLE, "blocked")),
    ({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}, "sms", None),
    ({"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "21610"}, "sms", (OPTED_OUT, None)),
    ({"MessageSid": "SM1", "MessageStatus": "delivered"}, "sms", None),
]


def _model(state: tuple, change) -> tuple:
    if change is None:
        return state
    if change == "lift":
        return (OK, None) if state[0] == OPTED_OUT else state
    if change == "reset":
        return state if state[0] == OPTED_OUT else (OK, None)
    if state[0] == OPTED_OUT and change[0] != OPTED_OUT:
        return state  # only the family's START lifts an opt-out; a bounce does not replace it
    return change


@settings(max_examples=300)
@given(default=st.sampled_from(CHANNELS), start=st.tuples(st.sampled_from(STATUSES), st.sampled_from(STATUSES)),
       events=st.lists(st.sampled_from(EVENTS), max_size=8), configured=st.sampled_from(CHANNEL_SETS))
def test_after_any_run_of_delivery_events_an_opted_out_number_is_never_texted(default, start, events, configured):
    # Statuses come from events, and only START lifts a STOP (README: "An SMS opt-out is lifted only by
    # the family texting START"; `contact reset` and a click never do). A bug this catches: a click or
    # a later hard bounce turning "opted_out" into something a reset can lift, an undelivered callback
    # with 21610 read as a plain failure, so that the relay texts a family that said STOP.
    state = {"email": start[0], "sms": start[1]}
    expected = dict(state)
    for raw, channel, change in events:
        effect = effect_of(parse_event(dict(raw)))
        state[channel] = contact_after(*state[channel], effect)
        expected[channel] = _model(expected[channel], change)
        assert state[channel] == expected[channel], (raw, state[channel], expected[channel])
    points = {c: ContactPoint(True, *state[c]) for c in CHANNELS}
    choice = choose_channel(default, points, configured)
    if choice.channel is not None:
        assert state[choice.channel] == (OK, None)
    if state["sms"][0] == OPTED_OUT:
        assert choice.channel != "sms"
        if choice.channel is None:  # nothing sent: the report says the family opted out of texts
            assert choice.blocked["sms"] == "opted_out"
