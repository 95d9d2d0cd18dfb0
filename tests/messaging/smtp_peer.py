"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and refuses chosen addresses.

``refuse[address] = (550, "5.1.1 No such user")`` makes RCPT TO answer that for the address. Every
accepted message is kept whole, so tests read the join codes out of the bodies and count them.
"""

from __future__ import annotations

import email
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Received:
    to: list[str]
    message: email.message.Message

    @property
    def text(self) -> str:
        return self.message.get_payload(decode=True).decode()


@dataclass
class SmtpPeer:
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.refuse.get(address.lower())
        if answer:
            return f"{answer[0]} {answer[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.to]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_smtp() -> tuple[SmtpPeer, Controller]:
    peer = SmtpPeer()
    controller = Controller(peer, hostname="127.0.0.1", port=free_port())
    controller.start()
    return peer, controller
