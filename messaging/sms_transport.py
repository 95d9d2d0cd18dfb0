"""SMS over an HTTP provider API in Twilio's shape.

    POST {base}/Accounts/{account}/Messages.json   To, From, Body, StatusCallback, ClientReference
         basic auth (account, token) -> 201 {"sid": ..., "status": "queued"} | 400 {"code": 21211, ...}
    GET  {base}/Accounts/{account}/Messages.json?ClientReference=KEY -> {"messages": [...]}

``ClientReference`` carries the delivery's key, so an attempt a dead relay left behind is resolved by
asking the provider for it. A provider without that lookup answers with an empty list or an error; an
error leaves the attempt in doubt (reported, never resent blindly).
"""

from __future__ import annotations

import requests
from urllib3.exceptions import NewConnectionError

from messaging import faults
from messaging.classify import Outcome, classify_sms_response
from messaging.config import SmsSettings
from messaging.transport import ACCEPTED, NOT_SENT, UNKNOWN, OutgoingMessage, Resolution, TransportDown


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the provider (refused, no route, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class SmsTransport:
    name = "http"
    channel = "sms"

    def __init__(self, settings: SmsSettings):
        self.settings = settings
        self.http = requests.Session()
        self.http.auth = (settings.account, settings.token)
        self.messages_url = f"{settings.base_url}/Accounts/{settings.account}/Messages.json"

    def send(self, message: OutgoingMessage) -> tuple[Outcome, str | None]:
        form = {"To": message.to, "From": self.settings.sender, "Body": message.text,
                "ClientReference": message.key}
        if self.settings.status_callback:
            form["StatusCallback"] = self.settings.status_callback
        try:
            response = self.http.post(self.messages_url, data=form, timeout=self.settings.timeout)
        except requests.RequestException as exc:
            if _never_connected(exc):
                raise TransportDown(f"cannot reach the SMS provider at {self.settings.describe()}: "
                                    f"{type(exc).__name__}") from None
            return Outcome("in_doubt", detail=f"no answer from the SMS provider: {type(exc).__name__}"), None
        try:
            body = response.json()
        except ValueError:
            body = {}
        outcome = classify_sms_response(response.status_code, body.get("code"), str(body.get("message", ""))[:120])
        sid = body.get("sid") if outcome.kind == "accepted" else None
        if outcome.kind == "accepted":
            faults.checkpoint("provider_accepted")
        return outcome, sid

    def resolve(self, key: str, provider_id: str | None) -> Resolution:
        try:
            response = self.http.get(self.messages_url, params={"ClientReference": key}, timeout=self.settings.timeout)
            response.raise_for_status()
            found = response.json().get("messages", [])
        except (requests.RequestException, ValueError) as exc:
            return Resolution(UNKNOWN, detail=f"could not ask the SMS provider: {type(exc).__name__}")
        if found:
            return Resolution(ACCEPTED, provider_id=found[0].get("sid"), detail="the SMS provider has it")
        return Resolution(NOT_SENT, detail="the SMS provider has no message with this reference")

    def close(self) -> None:
        self.http.close()
