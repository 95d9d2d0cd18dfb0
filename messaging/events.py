"""Delivery events (bounces, complaints, SMS status callbacks, STOP/START, clicks) and what they change (pure).

An event arrives as a JSON object, from `rostersync messaging event FILE` or (later) the web app's
webhooks. Two shapes are read:

- rostersync's own: ``{"type": "bounce", "key": "...", "bounce": "hard"}``, see README "Delivery events";
- the SMS provider's, as it posts them (Twilio's field names): a status callback
  ``{"MessageSid": ..., "MessageStatus": "undelivered", "ErrorCode": "30005", "To": ...}`` or an inbound
  message ``{"From": "+1...", "Body": "STOP"}``.

``effect_of(event)`` says what should change, ``contact_after`` applies it to a contact point's status;
the database side is messaging/contact_status.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.classify import classify_sms_delivery_error, classify_smtp_reply
from messaging.policy import OK, OPTED_OUT, REASONS, UNREACHABLE

KINDS = ("bounce", "complaint", "not_engaged", "delivered", "sms_status", "opt_out", "opt_in", "click")
# Words a recipient texts to stop or restart messages (the carriers' standard keywords).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "UNSTOP", "YES", "OPTIN"}
_BOUNCES = {"hard": "invalid", "invalid": "invalid", "inbox_full": "inbox_full", "blocked": "blocked",
            "spam": "spam_complaint", "soft": None}


@dataclass(frozen=True)
class Event:
    kind: str
    channel: str  # email | sms
    key: str | None = None  # our message key (Message-ID without <...@host>, or the SMS client reference)
    provider_id: str | None = None  # the SMS API's message id
    address: str | None = None  # the email or phone concerned, when the event names no message
    reason: str | None = None  # bounce: the contact status reason it implies (None: this message only)
    status: str | None = None  # sms_status: the provider's MessageStatus
    error_code: int | None = None


@dataclass(frozen=True)
class Effect:
    contact: str | None = None  # unreachable | opted_out | opted_in | reset | None (no change)
    reason: str | None = None  # for unreachable
    delivery_status: str | None = None  # delivered | bounced | undelivered | None
    fall_back: bool = False  # the message did not arrive: send it by the other channel


def _key(value) -> str | None:
    if not value:
        return None
    text = str(value).strip()
    if text.startswith("<") and text.endswith(">"):  # a Message-ID header: <key@host>
        text = text[1:-1].split("@", 1)[0]
    return text or None


def _int(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"error code {value!r} is not a number") from None


def parse_event(data: dict) -> Event:
    """One event object, in either shape; ValueError says what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError("an event must be a JSON object")
    if "MessageStatus" in data or "SmsStatus" in data:  # the SMS provider's status callback
        return Event("sms_status", "sms", key=_key(data.get("ClientReference") or data.get("key")),
                     provider_id=data.get("MessageSid") or data.get("SmsSid"), address=data.get("To"),
                     status=str(data.get("MessageStatus") or data.get("SmsStatus")).lower(),
                     error_code=_int(data.get("ErrorCode")))
    if "Body" in data and "From" in data and "type" not in data:  # an inbound text: STOP / START
        word = str(data["Body"]).strip().upper()
        opt = str(data.get("OptOutType") or "").upper()
        if opt == "STOP" or word in STOP_WORDS:
            return Event("opt_out", "sms", address=data["From"])
        if opt == "START" or word in START_WORDS:
            return Event("opt_in", "sms", address=data["From"])
        raise ValueError("an inbound text that is neither STOP nor START is not a delivery event")
    kind = data.get("type")
    if kind not in KINDS:
        raise ValueError(f"event type {kind!r} is not one of {', '.join(KINDS)}")
    key = _key(data.get("key") or data.get("message_id"))
    address = data.get("email") or data.get("phone") or data.get("address")
    channel = data.get("channel") or ("sms" if kind in ("sms_status", "opt_out", "opt_in") or data.get("phone")
                                      else "email")
    if channel not in ("email", "sms"):
        raise ValueError(f"channel {channel!r} is not email or sms")
    if not key and not address and not data.get("provider_id"):
        raise ValueError(f"a {kind} event needs the message key or the address it concerns")
    reason = None
    if kind == "bounce":
        if data.get("smtp_status") or data.get("smtp_code"):
            outcome = classify_smtp_reply(int(data.get("smtp_code") or 550), str(data.get("smtp_status") or ""))
            reason = outcome.reason if outcome.kind == "rejected" else None
        else:
            bounce = str(data.get("bounce", "hard")).lower()
            if bounce not in _BOUNCES:
                raise ValueError(f"bounce kind {bounce!r} is not one of {', '.join(_BOUNCES)}")
            reason = _BOUNCES[bounce]
    return Event(kind, channel, key=key, provider_id=data.get("provider_id"), address=address, reason=reason,
                 status=(str(data["status"]).lower() if data.get("status") else None),
                 error_code=_int(data.get("error_code")))


def effect_of(event: Event) -> Effect:
    if event.kind == "bounce":
        return Effect("unreachable" if event.reason else None, event.reason, "bounced", True)
    if event.kind == "complaint":
        # The family marked the message as spam: never email them again until they ask (reset).
        return Effect("unreachable", "spam_complaint", None, False)
    if event.kind == "not_engaged":
        return Effect("unreachable", "not_engaged")
    if event.kind == "delivered":
        return Effect(delivery_status="delivered")
    if event.kind == "opt_out":
        return Effect("opted_out")
    if event.kind == "opt_in":
        return Effect("opted_in")
    if event.kind == "click":
        return Effect("reset")
    # sms_status
    if event.status == "delivered":
        return Effect(delivery_status="delivered")
    if event.status in ("undelivered", "failed"):
        reason = classify_sms_delivery_error(event.error_code)
        if reason == "opted_out":
            return Effect("opted_out", None, "undelivered", True)
        return Effect("unreachable" if reason else None, reason, "undelivered", True)
    return Effect()  # queued, sending, sent, accepted: progress, nothing to change


def contact_after(status: str, reason: str | None, effect: Effect) -> tuple[str, str | None]:
    """A contact point's (status, reason) after an effect.

    An opt-out is the family's own choice and outranks everything: only their START (opt_in) lifts it,
    never a reset by staff, a click, or a bounce.
    """
    if effect.contact is None:
        return status, reason
    if effect.contact == "opted_out":
        return OPTED_OUT, None
    if status == OPTED_OUT:
        return (OK, None) if effect.contact == "opted_in" else (status, reason)
    if effect.contact in ("reset", "opted_in"):
        return (OK, None) if effect.contact == "reset" else (status, reason)
    if effect.reason not in REASONS:
        raise ValueError(f"unknown unreachable reason {effect.reason!r}")
    return UNREACHABLE, effect.reason
