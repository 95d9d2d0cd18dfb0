"""Offline delivery: each message becomes a file in the outbox folder (no servers needed).

A message is written to a temporary name, fsynced, and renamed to ``KEY.eml`` (email, a complete RFC
5322 message a mail client opens) or ``KEY.sms.txt``; the rename is atomic, so the file either exists
whole or not at all. That makes the folder its own delivery log: recovery finds the file, or knows the
message never left, and there is no window of doubt.
"""

from __future__ import annotations

import os
from pathlib import Path

from messaging import faults
from messaging.classify import Outcome
from messaging.smtp_transport import build_email
from messaging.transport import ACCEPTED, NOT_SENT, OutgoingMessage, Resolution

SUFFIX = {"email": ".eml", "sms": ".sms.txt"}


class OutboxTransport:
    name = "outbox"

    def __init__(self, folder: Path, channel: str, mail_from: str | None, sms_from: str | None = None):
        self.folder = Path(folder)
        self.channel = channel
        self.mail_from = mail_from or "rostersync@localhost.invalid"
        self.sms_from = sms_from or "rostersync"

    def path_of(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX[self.channel]}"

    def _content(self, message: OutgoingMessage) -> bytes:
        if self.channel == "email":
            return build_email(message, self.mail_from).as_bytes()
        return (f"To: {message.to}\nFrom: {self.sms_from}\nReference: {message.key}\n\n{message.text}\n").encode()

    def send(self, message: OutgoingMessage) -> tuple[Outcome, str | None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path_of(message.key)
        temp = self.folder / f".{message.key}.tmp"
        with open(temp, "wb") as fh:
            fh.write(self._content(message))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, final)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        faults.checkpoint("provider_accepted")
        return Outcome("accepted", detail=f"written to {final.name}"), None

    def resolve(self, key: str, provider_id: str | None) -> Resolution:
        if self.path_of(key).exists():
            return Resolution(ACCEPTED, detail="the outbox has the file")
        return Resolution(NOT_SENT, detail="the outbox has no such file")

    def close(self) -> None:
        pass
