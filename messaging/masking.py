"""Contact details shown to a school leader so they can tell which one is wrong, but not read it whole.

``m***@example.org`` and ``+1******0123``: the first letter of the address and its domain; the country
code and the last four digits of a number. Never used for logs: logs carry no contact at all.
"""

from __future__ import annotations

import phonenumbers


def mask_email(email: str | None) -> str | None:
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    try:
        country = f"+{phonenumbers.parse(phone, None).country_code}"
    except phonenumbers.NumberParseException:
        country = phone[:2]
    digits = phone[len(country):]
    keep = 4 if len(digits) > 6 else 2
    return country + "*" * (len(digits) - keep) + digits[-keep:]


def mask(channel: str, value: str | None) -> str | None:
    return mask_email(value) if channel == "email" else mask_phone(value)
