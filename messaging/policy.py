"""The delivery policy: which channel a message goes by (pure: plain values in, a decision out).

- The district's default channel is preferred; the other one is the fallback.
- A channel is usable when the guardian has that contact, its status is ``ok``, the deployment has the
  channel configured, and it has not already failed for this message.
- A contact whose preferred channel is unusable, or whose send on it failed, gets the other channel.
- An opted-out number (SMS STOP) is never used, not even as a fallback.
- With neither usable, the guardian is reported as unreachable, with the reason for each channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHANNELS = ("email", "sms")
OK, UNREACHABLE, OPTED_OUT = "ok", "unreachable", "opted_out"
# Why a contact point is unreachable (Guardian.*_status_reason).
REASONS = ("invalid", "spam_complaint", "inbox_full", "not_engaged", "blocked")


def other(channel: str) -> str:
    return "sms" if channel == "email" else "email"


@dataclass(frozen=True)
class ContactPoint:
    """One channel of one guardian: whether they have it, and its delivery status."""

    present: bool
    status: str = OK  # ok | unreachable | opted_out
    reason: str | None = None


@dataclass(frozen=True)
class Choice:
    channel: str | None  # None: nobody to send to
    fallback: bool = False  # True when it is not the preferred channel
    # Why each channel that was not chosen could not be used (missing, invalid, opted_out, failed, ...).
    blocked: dict[str, str] = field(default_factory=dict)


def why_unusable(channel: str, point: ContactPoint, configured: frozenset[str] | set[str],
                 failed: frozenset[str] | set[str]) -> str | None:
    """None when the channel can be used; else one word saying why not."""
    if not point.present:
        return "missing"
    if point.status == OPTED_OUT:
        return "opted_out"
    if point.status == UNREACHABLE:
        return point.reason or "unreachable"
    if channel not in configured:
        return "not_configured"
    if channel in failed:
        return "failed"
    return None


def choose_channel(preferred: str, points: dict[str, ContactPoint], configured=frozenset(CHANNELS),
                   failed=frozenset()) -> Choice:
    """The channel for the next attempt at one message.

    ``points`` has a ContactPoint per channel; ``configured`` the channels this deployment can send on;
    ``failed`` the channels that already failed for this message (so a failed email falls back to SMS,
    and a failed SMS is not tried again).
    """
    if preferred not in CHANNELS:
        raise ValueError(f"unknown channel {preferred!r}")
    blocked: dict[str, str] = {}
    for channel in (preferred, other(preferred)):
        why = why_unusable(channel, points.get(channel, ContactPoint(False)), configured, failed)
        if why is None:
            return Choice(channel, fallback=channel != preferred, blocked=blocked)
        blocked[channel] = why
    return Choice(None, blocked=blocked)
