"""Join codes: random, unguessable, one per invitation, easy to read aloud and type.

12 symbols of Crockford's base32 (no I, L, O, U) give 60 random bits: a guess succeeds with odds of one in
10^18 per try, and a district with millions of invitations still has no practical chance of a collision
(the column is unique anyway). Shown as three groups of four: ``K7QM-3XTB-9WDR``.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){2}$")


def new_join_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, LENGTH, 4))


def normalize_join_code(text: str) -> str | None:
    """What a parent typed, as stored: upper case, look-alikes mapped (O->0, I/L->1), dashes placed."""
    raw = re.sub(r"[\s-]", "", text.upper()).translate(str.maketrans("OIL", "011"))
    if len(raw) != LENGTH or any(c not in ALPHABET for c in raw):
        return None
    code = "-".join(raw[i:i + 4] for i in range(0, LENGTH, 4))
    return code if _SHAPE.match(code) else None
