"""OAuth 1.0a request signing, as ClassLink signs OneRoster 1.1 REST requests.

ClassLink gives each application a consumer key and secret and no token ("two-legged" OAuth 1.0a):
every request carries its own signature, made with HMAC-SHA256 over the RFC 5849 signature base string,
with the consumer secret as the key's first half and an empty token secret.

Facts relied on (RFC 5849, read in the search tool's stored copy: sections 1.2, 3.1, 3.4.1, 3.4.2,
3.5.1, 3.6):
- Base string (3.4.1.1): upper-case method, "&", the encoded base string URI, "&", the encoded
  normalized parameters.
- Base string URI (3.4.1.2): scheme and host lower-cased, the port only when it is not the scheme's
  default (80 for http, 443 for https), the path as sent, no query, no fragment.
- Parameters (3.4.1.3): the query (decoded as application/x-www-form-urlencoded, so "+" is a space),
  the Authorization header's parameters except "realm", and a form-encoded body; "oauth_signature"
  is never part of it. Normalization (3.4.1.3.2): encode each name and value, sort by name then value
  (byte order), join "name=value" pairs with "&".
- Percent-encoding (3.6): UTF-8, then every byte except ALPHA, DIGIT, "-", ".", "_", "~" as %XX with
  upper-case hex; a space is %20, never "+".
- HMAC key (3.4.2): encode(client secret) "&" encode(token secret); the "&" stays when the token
  secret is empty. The digest is base64 encoded.
- Header (3.5.1): "OAuth " then name="value" pairs, names and values percent-encoded, comma-separated.
- oauth_version is optional, "1.0" when sent; oauth_token may be omitted when there is no token (3.1).
ClassLink's own published OneRoster sample client signs with oauth_signature_method "HMAC-SHA256",
consumer key = client id, key = secret + "&" (vossenv/oneroster-python, oneroster/classlink.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Callable, Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests

HASHES = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def percent_encode(value: str) -> str:
    """RFC 5849 3.6: UTF-8, everything but the unreserved characters as upper-case %XX."""
    # quote() never escapes ALPHA, DIGIT and "_.-~" and writes upper-case hex: exactly 3.6 with safe="".
    return quote(str(value), safe="")


def base_string_uri(url: str) -> str:
    """RFC 5849 3.4.1.2: scheme://host[:port]/path, lower-cased, default port dropped, no query."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port and parts.port != _DEFAULT_PORTS.get(scheme):
        host += f":{parts.port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def normalized_parameters(pairs: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1.3.2: encode, sort by name then value, join as name=value&..."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def request_parameters(url: str, oauth_params: Iterable[tuple[str, str]],
                       form: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """RFC 5849 3.4.1.3.1: the decoded query, the protocol parameters and form-body parameters, without
    oauth_signature and realm (they are never signed)."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return [(k, v) for k, v in [*query, *oauth_params, *form] if k not in ("oauth_signature", "realm")]


def signature_base_string(method: str, url: str, oauth_params: Iterable[tuple[str, str]],
                          form: Iterable[tuple[str, str]] = ()) -> str:
    """RFC 5849 3.4.1.1 for a request to ``url`` (its query included) with these protocol parameters."""
    params = normalized_parameters(request_parameters(url, oauth_params, form))
    return "&".join((method.upper(), percent_encode(base_string_uri(url)), percent_encode(params)))


def sign(base_string: str, consumer_secret: str, token_secret: str = "", method: str = "HMAC-SHA256") -> str:
    """RFC 5849 3.4.2 (and the same construction with SHA-256): base64 of the HMAC digest."""
    if method not in HASHES:
        raise ValueError(f"unsupported OAuth signature method {method!r}")
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode("utf-8"), base_string.encode("utf-8"), HASHES[method]).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 3.5.1: OAuth name="value", ... with names and values percent-encoded."""
    return "OAuth " + ", ".join(f'{percent_encode(k)}="{percent_encode(v)}"' for k, v in params)


_HEADER_PARAM = re.compile(r'\s*([^=\s,]+)\s*=\s*"([^"]*)"\s*(?:,|$)')


def parse_authorization_header(value: str) -> list[tuple[str, str]] | None:
    """The (decoded) parameters of an "OAuth ..." Authorization header, or None when it is not one.

    Used by whoever checks a signature (the test server); the scheme name is case-insensitive."""
    if not value or value[:6].lower() != "oauth ":
        return None
    rest, pairs, pos = value[6:], [], 0
    while pos < len(rest.rstrip()):
        match = _HEADER_PARAM.match(rest, pos)
        if not match:
            return None
        pairs.append((unquote(match.group(1)), unquote(match.group(2))))
        pos = match.end()
    return pairs


class OAuth1Auth(requests.auth.AuthBase):
    """Signs each request with the consumer key and secret (no token), HMAC-SHA256 by default.

    No ``refresh()``: a 401 means the key or secret is wrong, and ApiClient raises ApiCredentialsError at
    once instead of retrying. A fresh nonce and timestamp per request, so a retried request is signed anew.
    """

    def __init__(self, consumer_key: str, consumer_secret: str, *, method: str = "HMAC-SHA256",
                 clock: Callable[[], float] = time.time, nonce: Callable[[], str] = lambda: secrets.token_hex(16)):
        if method not in HASHES:
            raise ValueError(f"unsupported OAuth signature method {method!r}")
        self.consumer_key = consumer_key
        self._secret = consumer_secret
        self.method = method
        self._clock, self._nonce = clock, nonce

    def __repr__(self) -> str:  # never the secret, even in a traceback's locals
        return f"OAuth1Auth(consumer_key={self.consumer_key!r}, method={self.method!r})"

    def oauth_params(self) -> list[tuple[str, str]]:
        return [("oauth_consumer_key", self.consumer_key), ("oauth_nonce", self._nonce()),
                ("oauth_signature_method", self.method), ("oauth_timestamp", str(int(self._clock()))),
                ("oauth_version", "1.0")]

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        params = self.oauth_params()
        form: list[tuple[str, str]] = []
        if isinstance(r.body, (str, bytes)) and "application/x-www-form-urlencoded" in (
                r.headers.get("Content-Type") or ""):
            body = r.body.decode("utf-8") if isinstance(r.body, bytes) else r.body
            form = parse_qsl(body, keep_blank_values=True)
        base = signature_base_string(r.method or "GET", r.url or "", params, form)
        params.append(("oauth_signature", sign(base, self._secret, "", self.method)))
        r.headers["Authorization"] = authorization_header(params)
        return r
