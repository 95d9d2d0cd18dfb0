"""What a provider's answer means for one message and for the contact (pure).

An ``Outcome`` is one of:

- ``accepted``: the provider took the message; record it as sent.
- ``rejected``: the provider refused it for this recipient, for good. ``reason`` (one of
  policy.REASONS, or ``opted_out``) becomes the contact point's status, and the message falls back to
  the other channel.
- ``transient``: the provider could not take it now (busy, down, rate-limited): retry later on the same
  channel; the contact's status is not touched.
- ``in_doubt``: the message may or may not have been taken (the connection broke while it was being
  handed over). It is resolved by asking the provider or the delivery log, never by sending again.

SMTP classification follows RFC 3463's enhanced status codes where the server sends them and the basic
reply code otherwise; SMS follows the error codes of Twilio's Messages API.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    kind: str  # accepted | rejected | transient | in_doubt
    reason: str | None = None  # for rejected: invalid | spam_complaint | inbox_full | not_engaged | blocked | opted_out
    detail: str = ""  # the provider's code and words, for the record (never the address or number)


ACCEPTED = Outcome("accepted")


def _enhanced(text: str) -> tuple[int, int, int] | None:
    first = text.strip().split(" ", 1)[0]
    parts = first.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1]), int(parts[2])
    return None


def classify_smtp_reply(code: int, text: str) -> Outcome:
    """An SMTP server's reply to RCPT TO or to the end of DATA."""
    detail = f"{code} {text.strip()}"[:300]
    if 200 <= code < 300:
        return Outcome("accepted", detail=detail)
    enhanced = _enhanced(text)
    if enhanced and enhanced[1:] == (2, 2) or code == 552:
        # x.2.2 mailbox full (452 4.2.2 or 552 5.2.2; a 552 reply means the same without the enhanced code)
        return Outcome("rejected", "inbox_full", detail)
    if code >= 500:
        if enhanced and enhanced[1] == 7:  # x.7.x security or policy: blocked (spam filter, sender refused)
            return Outcome("rejected", "blocked", detail)
        if enhanced and enhanced[1] == 1 or code in (550, 551, 553):  # x.1.x bad address; mailbox unavailable
            return Outcome("rejected", "invalid", detail)
        if code in (554,):
            return Outcome("rejected", "blocked", detail)
        # Other permanent answers (bad syntax on our side, 5.3.4 too big) are ours to fix, not the
        # family's: keep their status and treat the attempt as failed for this channel.
        return Outcome("rejected", None, detail)
    return Outcome("transient", detail=detail)  # 4xx: try again later


# Twilio's REST error codes for a refused POST (HTTP 400) that describe the recipient.
_SMS_API_ERRORS = {
    21211: "invalid",  # invalid 'To' phone number
    21214: "invalid",  # 'To' is not a valid mobile number
    21217: "invalid",  # phone number does not appear to be valid
    21612: "blocked",  # cannot route to this number
    21408: "blocked",  # region not enabled
    21610: "opted_out",  # the recipient replied STOP
    21614: "invalid",  # 'To' is not a mobile number
}

# Twilio's delivery error codes carried by status callbacks (MessageStatus undelivered / failed).
_SMS_DELIVERY_ERRORS = {
    30003: None,  # unreachable handset (off, out of coverage): this message failed, the number is fine
    30004: "blocked",  # message blocked (by the recipient or their carrier)
    30005: "invalid",  # unknown destination handset
    30006: "invalid",  # landline or unreachable carrier
    30007: "blocked",  # carrier filtering (spam)
    30008: None,  # unknown error
    21610: "opted_out",
}


def classify_sms_response(status: int, error_code: int | None, message: str = "") -> Outcome:
    """The SMS API's answer to POST Messages."""
    detail = f"HTTP {status}" + (f" error {error_code}" if error_code else "") + (f": {message}" if message else "")
    detail = detail[:300]
    if status in (200, 201, 202):
        return Outcome("accepted", detail=detail)
    if status == 400 and error_code in _SMS_API_ERRORS:
        return Outcome("rejected", _SMS_API_ERRORS[error_code], detail)
    if status in (401, 403, 404):
        # Our credentials or account: nothing the family did; retrying will not help until it is fixed,
        # but the message is not lost either.
        return Outcome("transient", detail=detail)
    if status == 400:
        return Outcome("rejected", None, detail)
    return Outcome("transient", detail=detail)  # 429 and 5xx


def classify_sms_delivery_error(error_code: int | None) -> str | None:
    """The contact status reason a delivery failure implies, or None when the number itself is fine."""
    if error_code is None:
        return None
    return _SMS_DELIVERY_ERRORS.get(error_code)
