"""Pinned SSH host keys: parse what a district gives us and compare it with what a server presents.

Pure functions on strings and bytes (no paramiko), so the rules are tested on plain values.

A district hands over its server's host key in one of two shapes, and we accept both:

* a public key line, as in ``known_hosts`` or a ``.pub`` file:
  ``ssh-ed25519 AAAAC3Nza... comment`` (a leading host field, as in known_hosts, is allowed);
* a SHA256 fingerprint, as ``ssh-keygen -lf`` prints it: ``SHA256:K1b...`` alone or the whole line
  ``256 SHA256:K1b... comment (ED25519)``.

Several pins may be given, one per line: any of them matches. That lets a district announce a new key
before it rotates the old one without a window where our sync refuses to connect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

# The suffix ssh-keygen -lf prints, mapped to the SSH key type name. ECDSA depends on the curve,
# which ssh-keygen shows as the bit count at the start of the line.
_KEYGEN_TYPES = {"ED25519": "ssh-ed25519", "RSA": "ssh-rsa"}
_ECDSA_BY_BITS = {"256": "ecdsa-sha2-nistp256", "384": "ecdsa-sha2-nistp384", "521": "ecdsa-sha2-nistp521"}

# Unpadded standard base64 of a 32-byte digest is exactly 43 characters.
_FINGERPRINT_RE = re.compile(r"SHA256:([A-Za-z0-9+/]{43})=?(?![A-Za-z0-9+/])")
_KEYGEN_LINE_RE = re.compile(r"^(?:(\d+)\s+)?SHA256:\S+(?:.*\((\w+)\))?\s*$")


@dataclass(frozen=True)
class HostKeyPin:
    """One accepted host key, reduced to its SHA256 fingerprint (and its type when we know it)."""

    fingerprint: str  # "SHA256:<43 base64 chars>", the form ssh-keygen and paramiko print
    key_type: str | None = None  # "ssh-ed25519" ...; None when only a bare fingerprint was given

    def matches(self, key_type: str, key_blob: bytes) -> bool:
        if self.key_type is not None and self.key_type != key_type:
            return False
        return sha256_fingerprint(key_blob) == self.fingerprint

    def describe(self) -> str:
        return f"{self.fingerprint} ({self.key_type})" if self.key_type else self.fingerprint


def sha256_fingerprint(key_blob: bytes) -> str:
    """The OpenSSH SHA256 fingerprint of a public key blob (base64, padding stripped, as ssh-keygen)."""
    digest = hashlib.sha256(key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def describe_key(key_type: str, key_blob: bytes) -> str:
    return f"{sha256_fingerprint(key_blob)} ({key_type})"


def blob_key_type(key_blob: bytes) -> str | None:
    """The type name written at the start of an SSH public key blob (a uint32 length, then the name)."""
    if len(key_blob) < 4:
        return None
    (length,) = struct.unpack(">I", key_blob[:4])
    if length == 0 or length > 64 or len(key_blob) < 4 + length:
        return None
    try:
        return key_blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def parse_pins(text: str | None) -> tuple[HostKeyPin, ...]:
    """Every pin in ``text`` (one per non-blank line). Raises ValueError saying what is wrong.

    An empty or missing text gives no pins; the caller refuses to connect in that case, because an
    unpinned server could be anyone and we would hand it the district's password.
    """
    if not text:
        return ()
    pins = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pins.append(_parse_line(line, number))
    return tuple(pins)


def _parse_line(line: str, number: int) -> HostKeyPin:
    if line.startswith("@"):
        # @cert-authority / @revoked change the meaning of the line; pinning a CA is a different trust
        # model that we do not offer, so say so instead of silently treating it as a plain key.
        raise ValueError(f"host key line {number}: markers like {line.split()[0]} are not supported; "
                         "give the server's own public key or its SHA256 fingerprint")
    if "SHA256:" in line:
        return _parse_fingerprint_line(line, number)
    tokens = line.split()
    # Find "<type> <base64 blob>" anywhere in the line: known_hosts puts host names before it and a
    # .pub file puts a comment after it. The blob names its own type, which must agree.
    for declared, encoded in zip(tokens, tokens[1:]):
        blob = _b64decode(encoded)
        if blob is not None and blob_key_type(blob) == declared:
            return HostKeyPin(sha256_fingerprint(blob), declared)
    if re.search(r"MD5:|^([0-9a-f]{2}:){15}[0-9a-f]{2}$", line, re.IGNORECASE):
        raise ValueError(f"host key line {number}: MD5 fingerprints are not accepted; "
                         "use the SHA256 fingerprint (ssh-keygen -lf) or the public key line")
    raise ValueError(f"host key line {number}: not a public key line ('ssh-ed25519 AAAA...') "
                     "nor a SHA256 fingerprint ('SHA256:...')")


def _parse_fingerprint_line(line: str, number: int) -> HostKeyPin:
    found = _FINGERPRINT_RE.search(line)
    if not found or _b64decode(found.group(1) + "=") is None:
        raise ValueError(f"host key line {number}: a SHA256 fingerprint is 'SHA256:' and 43 base64 characters")
    key_type = None
    keygen = _KEYGEN_LINE_RE.match(line)
    if keygen and keygen.group(2):
        label = keygen.group(2).upper()
        key_type = _KEYGEN_TYPES.get(label) or (_ECDSA_BY_BITS.get(keygen.group(1) or "") if label == "ECDSA" else None)
    return HostKeyPin("SHA256:" + found.group(1), key_type)


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def preferred_host_key_types(pins: tuple[HostKeyPin, ...]) -> list[str]:
    """Host key algorithms to ask for first, so a server with several keys shows the pinned one.

    Without this a server holding both an RSA and an ed25519 key could negotiate the one we did not
    pin and be refused although nothing is wrong. An ``ssh-rsa`` key is negotiated under the SHA-2
    signature names (the SHA-1 ``ssh-rsa`` algorithm is disabled in current OpenSSH and paramiko).
    """
    preferred: list[str] = []
    for pin in pins:
        names = ["rsa-sha2-512", "rsa-sha2-256"] if pin.key_type == "ssh-rsa" else [pin.key_type]
        preferred.extend(name for name in names if name and name not in preferred)
    return preferred
