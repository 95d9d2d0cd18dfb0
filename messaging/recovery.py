"""Settling an attempt whose outcome was not recorded, by asking whoever can know (I/O).

Which peer is asked depends on the transport that made the attempt (Delivery.transport):

- ``outbox``: the file exists or it does not (written under a temporary name, then renamed).
- ``http`` (the SMS API): GET the message by its client reference. "Not there" is only believed once
  the attempt is older than NOT_SENT_AFTER, so a request the provider was still working on when the
  relay died cannot be mistaken for one it never got.
- ``smtp``: the delivery log (messaging/delivery_log.py).

Nothing here sends anything: an answer of "unknown" leaves the attempt in doubt, and it is reported.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from directory.models import Delivery
from messaging.claims import aware
from messaging.config import MessagingConfig
from messaging.delivery_log import DeliveryLog
from messaging.outbox_transport import OutboxTransport
from messaging.sms_transport import SmsTransport
from messaging.smtp_transport import SmtpTransport
from messaging.transport import NOT_SENT, UNKNOWN, Resolution

NOT_SENT_AFTER = timedelta(seconds=90)  # three times the SMS request timeout


class Resolver:
    def __init__(self, config: MessagingConfig):
        self.config = config
        self._sms: SmsTransport | None = None

    def resolve(self, delivery: Delivery, now: datetime) -> Resolution:
        if delivery.transport == "outbox":
            return OutboxTransport(self.config.outbox_dir, delivery.channel, None).resolve(delivery.key, None)
        if delivery.transport == "smtp":
            log = DeliveryLog(self.config.delivery_log)
            return SmtpTransport.resolve_from_log(log, delivery.key)
        if delivery.transport == "http":
            if self.config.sms is None:
                return Resolution(UNKNOWN, detail="the SMS provider is not configured here, so it cannot be asked")
            if self._sms is None:
                self._sms = SmsTransport(self.config.sms)
            answer = self._sms.resolve(delivery.key, delivery.provider_id)
            if answer.state == NOT_SENT and now - aware(delivery.created_at) < NOT_SENT_AFTER:
                return Resolution(UNKNOWN, detail="the SMS provider has no such message yet; asked again later")
            return answer
        return Resolution(UNKNOWN, detail=f"unknown transport {delivery.transport!r}")

    def close(self) -> None:
        if self._sms is not None:
            self._sms.close()
