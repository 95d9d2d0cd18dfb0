"""Checking who posted a webhook or made a link (pure).

- SMS provider callbacks are signed the way Twilio documents: base64 of HMAC-SHA1, keyed with the
  account's auth token, over the full URL the provider called followed by every POST field's name and
  value, sorted by name; sent in ``X-Twilio-Signature``.
- Email events carry a shared secret token (``Authorization: Bearer TOKEN`` or ``?token=``).
- A link in a message names the message key and an HMAC of it, so nobody can mint clicks for other
  messages (or probe keys) without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable


def sms_signature(auth_token: str, url: str, fields: Iterable[tuple[str, str]]) -> str:
    data = url + "".join(name + value for name, value in sorted(fields, key=lambda kv: (kv[0], kv[1])))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sms_signature_ok(auth_token: str, url: str, fields: Iterable[tuple[str, str]], given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(sms_signature(auth_token, url, fields), given.strip())


def token_ok(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def link_signature(key: bytes, message_key: str) -> str:
    """24 URL-safe characters (144 bits): short enough for an SMS, far beyond guessing."""
    digest = hmac.new(key, message_key.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode()


def link_ok(key: bytes, message_key: str, given: str) -> bool:
    return hmac.compare_digest(link_signature(key, message_key), given)


def click_path(key: bytes, message_key: str) -> str:
    """The path of the link a message carries (prefix it with the public URL of the web app)."""
    return f"/m/{message_key}/{link_signature(key, message_key)}"
