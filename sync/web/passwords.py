"""Passwords and API tokens: scrypt (RFC 7914, from the standard library) and SHA-256 of random tokens.

A password hash is self-describing, ``scrypt$N$r$p$salt$hash`` (base64), so the cost can be raised later
and old hashes still verify. API tokens are 256 random bits: a fast hash is enough to store them (there is
nothing to brute-force), and it lets a request find its account by the hash in one indexed lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

N, R, P = 2 ** 15, 8, 1  # about 32 MiB and a tenth of a second per check: slow for an attacker's guesses
_MAXMEM = 64 * 1024 * 1024
MIN_LENGTH = 12
TOKEN_PREFIX = "rst_"  # recognisable in a leaked config or a secret scanner


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def check_strength(password: str) -> str | None:
    """Why the password is refused, or None (length is what counts; no composition rules)."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if password.strip() != password:
        return "a password cannot start or end with a space"
    return None


def hash_password(password: str, *, n: int = N) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=R, p=P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Checked when the email is unknown, so a wrong email takes as long as a wrong password (no user probing).
DUMMY_HASH = hash_password(secrets.token_hex(16))


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_stamp(password_hash: str) -> str:
    """Kept in the session cookie: a new password changes it, which ends every session of the account."""
    return hashlib.sha256(("session:" + password_hash).encode()).hexdigest()[:16]
