"""The link a message carries (for messaging/): a click on it tells us the address reached a person.

    url = message_link(delivery.key)   # None when the web app's public URL or secret is not configured

The link is ``$ROSTERSYNC_WEB_PUBLIC_URL/m/KEY/SIGNATURE``; the web app checks the signature with the
same secret (routes_hooks.py), so nobody can forge clicks for other messages.
"""

from __future__ import annotations

from sync.web.settings import load_settings
from sync.web.signatures import click_path


def message_link(message_key: str, env: dict | None = None) -> str | None:
    settings = load_settings(env)
    if settings.ephemeral_secret or not settings.public_url:
        return None  # a link signed with a made-up secret would stop working at the web app's restart
    return settings.public_url + click_path(settings.key("click"), message_key)
