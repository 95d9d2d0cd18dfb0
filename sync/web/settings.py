"""The web app's settings, from the environment (secrets are never stored in the database or a file)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from directory.errors import ConfigError

ENV_SECRET = "ROSTERSYNC_WEB_SECRET"  # signs session cookies and the links in messages
ENV_LISTEN = "ROSTERSYNC_WEB_LISTEN"  # HOST:PORT: `rostersync serve` also serves the web app there
ENV_PUBLIC_URL = "ROSTERSYNC_WEB_PUBLIC_URL"  # the URL people and providers reach the app at (behind a proxy)
ENV_SECURE = "ROSTERSYNC_WEB_SECURE_COOKIES"  # 1: cookies only over HTTPS (set it behind a TLS proxy)
ENV_HOOK_TOKEN = "ROSTERSYNC_WEBHOOK_TOKEN"  # the shared secret of the email events webhook

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
MIN_SECRET = 32
SESSION_HOURS = 12


@dataclass(frozen=True)
class WebSettings:
    secret: str
    ephemeral_secret: bool  # made up at start: sessions end when the process does, message links break
    public_url: str | None
    secure_cookies: bool
    webhook_token: str | None
    session_hours: int = SESSION_HOURS

    def key(self, purpose: str) -> bytes:
        """One key per purpose from the one secret, so a session signature can never pass as a link's."""
        return hmac.new(self.secret.encode(), f"rostersync-web:{purpose}".encode(), hashlib.sha256).digest()


def load_settings(env: dict | None = None) -> WebSettings:
    env = os.environ if env is None else env
    secret = env.get(ENV_SECRET) or ""
    if secret and len(secret) < MIN_SECRET:
        raise ConfigError(f"{ENV_SECRET} must be at least {MIN_SECRET} characters (e.g. `openssl rand -hex 32`)")
    token = env.get(ENV_HOOK_TOKEN) or None
    if token is not None and len(token) < 16:
        raise ConfigError(f"{ENV_HOOK_TOKEN} must be at least 16 characters")
    public = (env.get(ENV_PUBLIC_URL) or "").strip().rstrip("/") or None
    if public and not public.startswith(("http://", "https://")):
        raise ConfigError(f"{ENV_PUBLIC_URL} must be an http:// or https:// URL")
    return WebSettings(secret=secret or secrets.token_hex(32), ephemeral_secret=not secret, public_url=public,
                       secure_cookies=(env.get(ENV_SECURE) or "").strip().lower() in ("1", "true", "yes", "on"),
                       webhook_token=token)


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (or just PORT) as in $ROSTERSYNC_WEB_LISTEN."""
    host, _, port = value.strip().rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"{ENV_LISTEN}={value!r}: expected HOST:PORT, e.g. 127.0.0.1:8080") from None
    if not 0 <= number < 65536:  # 0: any free port (tests)
        raise ConfigError(f"{ENV_LISTEN}={value!r}: port out of range")
    return (host.strip("[]") or DEFAULT_HOST), number
