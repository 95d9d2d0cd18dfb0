"""What every transport (SMTP, SMS API, outbox folder) offers the relay.

``send`` hands one message over and says what happened (messaging.classify.Outcome); it raises
``TransportDown`` when the provider cannot be reached at all (nothing was handed over), so the relay
defers the rest of the batch on that channel instead of trying every message. ``resolve`` answers, for
an attempt a dead relay left behind, whether the provider has it: ``accepted``, ``not_sent`` or
``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from messaging.classify import Outcome

ACCEPTED, NOT_SENT, UNKNOWN = "accepted", "not_sent", "unknown"


@dataclass(frozen=True)
class OutgoingMessage:
    key: str  # the delivery's idempotency key: Message-ID, SMS client reference, outbox file name
    channel: str  # email | sms
    to: str
    subject: str  # email only
    text: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolution:
    state: str  # accepted | not_sent | unknown
    provider_id: str | None = None
    detail: str = ""


class TransportDown(Exception):
    """The provider could not be reached; nothing was handed over. The text names no address."""


class Transport(Protocol):
    name: str  # smtp | http | outbox
    channel: str

    def send(self, message: OutgoingMessage) -> tuple[Outcome, str | None]:
        """(what happened, the provider's message id if it gave one)."""

    def resolve(self, key: str, provider_id: str | None) -> Resolution: ...

    def close(self) -> None: ...
