"""Logging for the whole service: structlog, JSON lines or readable console lines, redaction always on.

rostersync holds children's and guardians' personal data and districts' credentials, and its log lines end
up in journald, CI artefacts and support tickets. So every line, whether it was written through structlog
or by a library through stdlib ``logging`` (alembic, paramiko, apscheduler, ...), passes through
`redact_event` right before it is rendered, and every line of a command carries ``request_id``,
``command``, ``district`` (and ``run_id`` during a sync run) so one command's lines can be pulled out of a
shared log.

Public API::

    configure_logging(fmt="console", level="INFO", stream=None)   # once at start-up; safe to call again
    get_logger(name)                                              # a structlog logger; configures if nobody has
    bind_command_context(command, district=None, run_id=None) -> request_id
    command_context(command, district=None, run_id=None)          # the same for a block (scheduler jobs)
    bind_district(district)                                       # once the command knows its district
    bind_run_id(run_id)                                           # a sync run adds its id once it has one
    redact_text(s) -> str                                         # for error messages, reports, stderr lines
    redact_event(logger, method_name, event_dict)                 # the structlog processor
    reset_logging()                                               # undo configure_logging (tests)

How a line travels::

    structlog logger --> filter_by_level, contextvars (+ the process's command context), logger name,
                         level, timestamp, positional args, stack, format_exc_info --> wrap_for_formatter
                                                                                              |
    stdlib logger (paramiko ...) -------------------------------------------------------------+
                                                                                              v
        root handler --> ProcessorFormatter: [stdlib records only: contextvars (+ process context),
                         logger name, level, timestamp] --> remove meta, format_exc_info, (JSON: key
                         order), redact_event --> JSONRenderer | ConsoleRenderer --> stderr (or `stream`)

Both kinds of line meet in the one handler on the root logger, so redaction is in one place, and
`redact_event` also formats ``exc_info`` itself so a traceback can never reach a renderer unredacted.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "bind_command_context",
    "bind_district",
    "bind_run_id",
    "command_context",
    "configure_logging",
    "get_logger",
    "new_request_id",
    "redact_event",
    "redact_text",
    "reset_logging",
]

REDACTED = "[redacted]"
EMAIL = "[email]"
PHONE = "[phone]"

# --------------------------------------------------------------------------------------------------------
# The patterns. Every regular expression that decides what is secret or personal lives in this block.
# redact_text applies them in the order of _TEXT_RULES below; the order matters and each comment says why.
#
# Every pattern that replaces a *value* refuses to start on an already redacted value (_NOT_DONE), so
# redact_text(redact_text(s)) == redact_text(s): a second pass must not take "[redacted]" for a fresh
# secret and leave a stray "]" behind. Processors and callers (reports that embed redacted error messages
# in log lines) do run text through twice.
# --------------------------------------------------------------------------------------------------------

_NOT_DONE = r"(?!\[redacted\])"

# 1. URL userinfo: scheme://user:password@host -> scheme://[redacted]@host (smtp_url, database URLs, SFTP
#    URLs). Runs before the email pattern, which would otherwise read "password@host.example" as an address
#    and leave the user name standing. The userinfo is matched greedily up to the LAST "@" before the host:
#    hand-written DSNs often carry a raw "@" in the password (postgresql://u:p@ss@db/x), and stopping at the
#    first "@" would leak "ss". "/", "?", "#" and whitespace end it, because none can appear in the userinfo
#    of a URL, so the match never runs past the host into a path, a query or the next word. A user name
#    alone (sftp://district42@host) is redacted too: a district's SFTP account name is half a credential.
#    The scheme may only start where a run of scheme characters starts (the lookbehind, rather than \b):
#    with \b every "." in "a.b.c.d..." would be a start and a long dotted string would cost quadratic time.
_URL_USERINFO = re.compile(r"(?P<scheme>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://)[^/\s?#]+@")

# 2. An Authorization (or Proxy-Authorization) header written out as text: "Authorization: Basic dXNl...",
#    "authorization=xyz", or the repr/JSON of a headers dict ("'Authorization': 'Bearer xyz'"). The auth
#    scheme is kept (it helps debugging and is not secret); the credential after it goes. Runs before the
#    Bearer rule so that rule finds "Bearer [redacted]" and leaves it alone.
_AUTH_SCHEMES = r"(?:basic|bearer|digest|token|negotiate|ntlm)"
_AUTH_HEADER = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?P<scheme>" + _AUTH_SCHEMES + r")\s+)?"
    # The credential is neither "[redacted]" nor the scheme word itself: without the second lookahead a
    # second pass over "Basic [redacted]" would backtrack, take "Basic" for the credential and eat it.
    + _NOT_DONE + r"(?!" + _AUTH_SCHEMES + r"\s)[^\s\"',;]+",
    re.IGNORECASE,
)

# 3. "Bearer <token>" wherever it appears (HTTP client exceptions, curl lines in error messages). The
#    character class is RFC 6750's b64token, except that it does not end on a "." so a sentence's full stop
#    survives (JWTs have dots inside, never at the end). It also swallows the "bearer of bad news" kind of
#    English, which costs a word of prose and never a token.
_BEARER = re.compile(
    r"\b(?P<scheme>bearer)\s+" + _NOT_DONE + r"[A-Za-z0-9\-._~+/]*[A-Za-z0-9\-_~+/]=*", re.IGNORECASE
)

# 4. name=value or name: value where the name ENDS in a secret word: password=..., client_secret=...,
#    ?access_token=..., &oauth_signature=..., X-Amz-Signature=..., "smtp_password": "...", libpq keyword
#    DSNs ("host=db password=x"), Python reprs ({'password': 'x'}). Requiring the name to end in the word
#    (the [:=] must follow it) is what keeps "secret_count=3" or "tokens=5" intact. The name may be
#    quoted (JSON, repr); the value is a quoted string or runs to whitespace, a quote, or a separator
#    (& # , ; ) } ]) so neighbouring query parameters and dict items survive.
_SECRET_WORDS = (
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key"
    r"|signature|credentials?)"
)
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<name>(?<![\w-])[\w-]*?" + _SECRET_WORDS + r"[\"']?\s*[:=]\s*)"
    + _NOT_DONE + r"(?:\"[^\"]*\"|'[^']*'|[^\s\"'&#,;)}\]]+)",
    re.IGNORECASE,
)

# 5. Query parameters whose names are too short or too common to trust as free-text words but are
#    credentials inside a URL: key= (API keys in the Google style), sig= (SAS and signed URLs), code= (an
#    OAuth authorization code: Clever and ClassLink redirect with ?code=..., and it buys a token), auth=.
#    Only right after "?" or "&", so "exit code=1" or "sort key=name" in prose is left alone.
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&](?:key|apikey|sig|code|auth)=)" + _NOT_DONE + r"[^&#\s\"'<>]+", re.IGNORECASE
)

# 6. Email addresses, also percent-encoded in URLs (?email=jane%40example.org, common in API queries).
#    The local part is the usual practical set rather than RFC 5322's, which allows "/", "=" and "'" and
#    would make a match start inside a path or a key=value. The domain needs at least one dot, so
#    "alembic@head" or "user@localhost" are not taken for addresses (an address field is also caught by
#    its key, see _classify_key). The lookbehind lets a match start only where a run of local-part
#    characters starts: without it every position of a long token-like value (a base64 blob, a response
#    body) is a start, each scanning to the end of the run, and 20 kB took seconds; with it, linear. The
#    possessive label ([\w-]++) cannot give back characters it never needs to: labels hold no ".".
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+(?:@|%40)(?:[\w-]++\.)+[\w-]{2,}")

# Phone numbers. These are the rules that could eat ordinary data (dates, timestamps, counts, ids), so:
#   - a bare run of digits is NEVER a phone number here, unless it starts with "+". Student ids, counts,
#     epoch timestamps and zero-padded SIS ids all look like "5555550123" or "07700900123"; a phone number
#     stored without punctuation is caught by its key instead (phone=, guardian_mobile=, see _classify_key);
#   - national formats need their separators, in the shapes real numbers have, which dates (4-2-2, 2-2-4),
#     times, versions and IPv4 addresses (1-3 digit groups) never have;
#   - the guards below stop a match from starting or ending inside a longer run of letters, digits, or
#     digits joined by "." or "-" (UUIDs, dotted versions, ids like 2026-555-555-0123).
_PHONE_START = r"(?<![\w.])(?<!\d-)"
_PHONE_END = r"(?!\w)(?![.-]\d)"

# 7. International (E.164) numbers: "+" (or "%2B" in a URL), then 7 to 15 digits, E.164's range, with up to
#    two punctuation characters between digits: +15555550123, +1 555 555 0123, +1 (555) 555-0123,
#    +44 (0)20 7946 0958. Runs first so "+1 555-555-0123" goes whole rather than leaving "+1 " behind.
#    The "+" must not follow a letter or digit, which is what keeps "16:54:18+0100" and "1.0+20261128" out.
#    Greedy: a number followed by a space and a small count ("+1 555 555 0123 42") takes the count too,
#    which is over-redaction; the alternative, a lazy match, would leak the last digits of the number.
_PHONE_E164 = re.compile(r"(?<![\w+%])(?:\+|%2[Bb])\d(?:[ .()-]{0,2}\d){6,14}" + _PHONE_END)

# 8. North American numbers: (555) 555-0123, 555-555-0123, 555.555.0123, 555 555 0123, 1-555-555-0123.
#    Area code and exchange start with 2-9 (NANP's rule), which keeps "100 200 3000"-like runs out. One
#    separator throughout ((?P=sep)), which real numbers use and accidental number triples mostly don't.
_PHONE_NANP = re.compile(
    _PHONE_START
    + r"(?:1[ .-]?)?"
    + r"(?:\([2-9]\d{2}\)\ ?[2-9]\d{2}[ .-]\d{4}"
    + r"|[2-9]\d{2}(?P<sep>[ .-])[2-9]\d{2}(?P=sep)\d{4})"
    + _PHONE_END
)

# 9. National numbers with a trunk "0" as written in the UK and much of Europe and Oceania: 07700 900123,
#    07700 900 123, 0161 496 0000, 020 7946 0958. Spelled out as the four group shapes these numbers take
#    (5+6, 5+3+3, 4+3+4, 3+4+4 digits, space or hyphen) rather than "digits and separators", so a date
#    (05-11-2026), a duration or a following count can never be absorbed.
_PHONE_TRUNK0 = re.compile(
    _PHONE_START
    + r"0(?:\d{4}[ -]\d{6}|\d{4}[ -]\d{3}[ -]\d{3}|\d{3}[ -]\d{3}[ -]\d{4}|\d{2}[ -]\d{4}[ -]\d{4})"
    + _PHONE_END
)

# 10. A value that prose names as a birth date: "birth date '2013-02-31' is not a date", "date of birth:
#     2013-02-17", "dob=17/02/2013". Error messages quote what was typed so the person can fix it, and those
#     messages are logged too (command_failed); a child's birth date, even mistyped, is personal, and no
#     date pattern could tell it from the timestamps every line carries, so the words before it decide.
#     The value must hold a digit or be quoted, so "the birth date is missing" keeps its "is". Runs last:
#     nothing before it matches a bare date.
_BIRTH_DATE = re.compile(
    r"(?P<name>\b(?:birth[ _-]?date|date[ _-]of[ _-]birth|dob|birthday)[\"']?\s*[:=]?\s*)"
    + _NOT_DONE + r"(?:'[^'\n]*'|\"[^\"\n]*\"|[^\s,;)}\]]*\d[^\s,;)}\]]*)",
    re.IGNORECASE,
)


def _keep_scheme(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    return f"{match.group('name')}{scheme} {REDACTED}" if scheme else f"{match.group('name')}{REDACTED}"


# Order: credentials inside URLs and headers first (1-5), then addresses (6, after 1 for the reason given
# there), then phone numbers (7-9), so an address like 5555550123@sms.example.org goes as one [email]; birth
# dates named in prose (10) last.
_TEXT_RULES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (_URL_USERINFO, rf"\g<scheme>{REDACTED}@"),
    (_AUTH_HEADER, _keep_scheme),
    (_BEARER, rf"\g<scheme> {REDACTED}"),
    (_SECRET_ASSIGNMENT, rf"\g<name>{REDACTED}"),
    (_SECRET_QUERY, rf"\g<name>{REDACTED}"),
    (_EMAIL, EMAIL),
    (_PHONE_E164, PHONE),
    (_PHONE_NANP, PHONE),
    (_PHONE_TRUNK0, PHONE),
    (_BIRTH_DATE, rf"\g<name>{REDACTED}"),
)

# Key names. A key is split into lower-case words (camelCase and any punctuation split it: "apiKey",
# "X-Api-Key", "SMTP_PASSWORD" -> api key / x api key / smtp password). Then:
#   - a word from _SECRET_ANYWHERE anywhere in the name is a secret (smtp_password, password_hash,
#     client_secret_value);
#   - a word from _SECRET_LAST is a secret only as the LAST word: "access_token" and "private_key" are
#     secrets, but "token_expires_at", "key_count" or "private_key_path" are not, and a timestamp, count or
#     path is worth keeping. Over-redaction is accepted where it is cheap: "cache_key" and "sort_key" go.
_SECRET_ANYWHERE = frozenset({"password", "passwd", "passphrase", "secret", "secrets"})
_SECRET_LAST = frozenset({
    "token", "tokens", "key", "keys", "apikey", "privatekey", "auth", "authorization", "cookie", "cookies",
    "credential", "credentials", "signature", "sig", "pwd", "pin", "otp", "jwt",
})
# Personal data under a telling key is replaced whatever its value looks like: a phone number stored as
# "5555550123" or an int, an address the email rule would not match ("jane at example"), a child's name,
# which no pattern can recognise. A backstop, not a licence: code should not log these at all.
_PHONE_WORDS = frozenset({"phone", "phones", "mobile", "cell", "telephone", "tel", "fax", "sms", "msisdn"})
_NAME_QUALIFIERS = frozenset({
    "first", "last", "given", "family", "middle", "full", "preferred", "legal", "maiden", "nick",
    "student", "guardian", "parent", "child", "contact", "person",
})
_PERSONAL_EXACT = frozenset({
    "firstname", "lastname", "givenname", "familyname", "surname", "fullname", "nickname",
    "dob", "birthdate", "birthday", "street", "streetaddress", "homeaddress", "mailingaddress",
})

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _key_words(key: str) -> list[str]:
    return [w for w in _NON_ALNUM.split(_CAMEL_BOUNDARY.sub("_", key).lower()) if w]


def _classify_key(key: object) -> str | None:
    """The placeholder every value under this key becomes, or None if the key says nothing."""
    if not isinstance(key, str):
        return None
    words = _key_words(key)
    if not words:
        return None
    last = words[-1]
    if _SECRET_ANYWHERE.intersection(words) or last in _SECRET_LAST:
        return REDACTED
    if "email" in words and last in {"email", "emails", "address", "addresses", "addr"}:
        return EMAIL
    if last in _PHONE_WORDS or ("phone" in words and last in {"number", "numbers", "e164"}):
        return PHONE
    joined = "".join(words)
    if (
        joined in _PERSONAL_EXACT
        or (last == "name" and len(words) > 1 and words[-2] in _NAME_QUALIFIERS)
        or "birth" in words
    ):
        return REDACTED
    return None


def redact_text(s: str) -> str:
    """``s`` with credentials, email addresses and phone numbers replaced (see the patterns above).

    For any text that leaves the process outside the log chain: error messages on stderr, run reports,
    exception strings stored in the database. Idempotent: redacting twice gives the same text.
    """
    if not isinstance(s, str):
        s = str(s)
    for pattern, replacement in _TEXT_RULES:
        s = pattern.sub(replacement, s)
    return s


# Depth at which the walk stops: log values are shallow; anything deeper is a cycle or a mistake, and
# "[truncated]" is safer than a RecursionError inside the logging machinery.
_MAX_DEPTH = 12
# Set by ProcessorFormatter for its own use and removed before rendering; a LogRecord must not be
# stringified by the walk (ProcessorFormatter.remove_processors_meta needs them as they are).
_PROCESSOR_META = frozenset({"_record", "_from_structlog"})


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= _MAX_DEPTH:
        return "[truncated]"
    if isinstance(value, Mapping):
        # Keys are scrubbed too: a dict keyed by guardian email must not leak the addresses. Two keys
        # that redact to the same text collapse into one; losing a count there beats leaking an address.
        return {_scrub_key(k): _scrub_under(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_scrub(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, (bytes, bytearray, memoryview)):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    # numpy/pandas scalars (counts from DataFrames) are not int/float but are numbers; keep them numbers
    # rather than their repr.
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    # Anything else (dataclasses, ORM rows, datetimes, Paths, UUIDs) would otherwise be rendered through
    # repr() by the renderer, after redaction: a Guardian's repr carries its email and phone. str() it here
    # and redact the text.
    try:
        return redact_text(str(value))
    except Exception:  # a broken __str__ must not cost the whole line
        return f"[unprintable {type(value).__name__}]"


def _scrub_key(key: Any) -> Any:
    if isinstance(key, str):
        return redact_text(key)
    if key is None or isinstance(key, (bool, int, float)):
        return key
    # JSON keys must be str/int/float/bool/None; a tuple key would make the renderer fail and the line
    # would be lost, so it becomes its (redacted) text.
    try:
        return redact_text(str(key))
    except Exception:
        return f"[unprintable {type(key).__name__}]"


def _scrub_under(key: object, value: Any, depth: int) -> Any:
    placeholder = _classify_key(key)
    # None and booleans cannot carry a secret and say something useful ("password not set", has_token).
    if placeholder is None or value is None or isinstance(value, bool):
        return _scrub(value, depth)
    if isinstance(value, (list, tuple, set, frozenset)):
        # phones=[...] keeps how many there were: one placeholder per item.
        return [_scrub_under(key, item, depth + 1) for item in value]
    return placeholder


def redact_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the event dict with secrets and personal data replaced, ready to render.

    Values under secret-looking keys become "[redacted]" (phone/email/name keys their own placeholders);
    every string anywhere in the dict, the event message and the traceback included, goes through
    `redact_text`; nested dicts and lists are walked. It must be the last processor before the renderer.
    If ``exc_info`` is still present it is formatted here first, so a traceback can't get past unredacted
    whatever the chain looks like.
    """
    if "exc_info" in event_dict:
        event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    return {
        key: (value if key in _PROCESSOR_META else _scrub_under(key, value, 0))
        for key, value in event_dict.items()
    }


# --------------------------------------------------------------------------------------------------------
# Context: what every line of a command carries.
# --------------------------------------------------------------------------------------------------------


def new_request_id() -> str:
    """A short random id for one command: 12 hex characters (48 bits).

    Hex, not token_urlsafe: its "-" and "_" could join digits into something the phone rules redact.
    """
    return secrets.token_hex(6)


# The command context of the process, for lines logged on a thread that has no command context of its own.
# Python threads start with an empty contextvars context, and some threads are not ours to bind: paramiko
# runs each SSH transport in its own thread and logs from there, and an uncaught exception in a thread is
# logged from that thread. Without this their lines would carry no request_id and no district. Set by
# bind_command_context (the command the process runs), kept up to date by bind_district/bind_run_id, and
# used only when a line has no request_id of its own, so a thread that binds its own command (a scheduler
# job under command_context) never gets keys mixed in from another.
_process_context: dict[str, Any] = {}


def _merge_process_context(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    if "request_id" not in event_dict:
        for key, value in _process_context.items():
            event_dict.setdefault(key, value)
    return event_dict


def _bind(command: str, district: str | None, run_id: str | int | None, request_id: str | None) -> dict[str, Any]:
    context: dict[str, Any] = {"request_id": request_id or new_request_id(), "command": command, "district": district}
    if run_id is not None:
        context["run_id"] = run_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**context)
    return context


def bind_command_context(
    command: str,
    district: str | None = None,
    run_id: str | int | None = None,
    *,
    request_id: str | None = None,
) -> str:
    """Start the command this process runs: bind its logging context and return its request id.

    Everything logged afterwards (structlog and stdlib loggers alike) carries ``request_id``, ``command``,
    ``district`` (None until known; add it with `bind_district`) and ``run_id`` once a sync run binds one
    (`bind_run_id`). Lines from threads without a context of their own (paramiko's transport thread) carry
    it too. Clears whatever context was bound before, so a previous command's district or run id can
    never stick to this one's lines (click's test runner runs many commands in one process). Pass
    ``request_id`` to continue an id made elsewhere, e.g. by a parent process.
    """
    global _process_context
    context = _bind(command, district, run_id, request_id)
    _process_context = dict(context)
    return context["request_id"]


@contextlib.contextmanager
def command_context(
    command: str,
    district: str | None = None,
    run_id: str | int | None = None,
    *,
    request_id: str | None = None,
) -> Iterator[str]:
    """A command's context for a block: yields the request id, restores the previous context after.

    For work that runs several commands in one process, such as a scheduler job per district: each job
    binds its own in the thread it runs on (a new thread starts with an empty context). Unlike
    `bind_command_context` it leaves the process's command context alone.
    """
    saved = structlog.contextvars.get_contextvars()
    try:
        yield _bind(command, district, run_id, request_id)["request_id"]
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**saved)


def _bind_key(key: str, value: Any) -> None:
    structlog.contextvars.bind_contextvars(**{key: value})
    # Keep the process's command context in step when this is the process's command (and not a job
    # running under command_context in some thread).
    current = structlog.contextvars.get_contextvars().get("request_id")
    if current is not None and current == _process_context.get("request_id"):
        _process_context[key] = value


def bind_district(district: str) -> None:
    """Add the district to the current command's context once it is known (e.g. from a CLI argument)."""
    _bind_key("district", district)


def bind_run_id(run_id: str | int) -> None:
    """Add the sync run's id to the current command's context once the run exists."""
    _bind_key("run_id", run_id)


# --------------------------------------------------------------------------------------------------------
# Configuration.
# --------------------------------------------------------------------------------------------------------

# Library loggers held at WARNING (or at `level`, when that is higher) even when the service logs DEBUG:
# debugging rostersync should not bury its lines under theirs, and some of them log personal data or
# secrets below WARNING.
_CHATTY_LOGGERS = (
    "alembic",  # INFO per migration step and on every context configuration
    "apscheduler",  # INFO on every job start and finish
    "procrastinate",  # several lines per worker tick at INFO
    "paramiko",  # INFO/DEBUG per SSH channel and packet; DEBUG includes authentication details
    "asyncssh",  # the same, for the test SFTP server
    "sqlalchemy",  # sqlalchemy.engine at INFO logs every statement WITH its parameters: children's names
    "urllib3",  # a line per HTTP connection
    "requests",
    "psycopg",
    "mail.log",  # aiosmtpd (test SMTP server): each SMTP conversation, addresses included
)

_FORMATS = ("console", "json")


class _SafeStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler whose error report does not print the line it failed to write.

    When emitting fails (a closed stream, a renderer error), logging's default handleError prints the
    record's message and arguments to stderr with %r: for a structlog line that is the whole event dict,
    unredacted. Say only that a line was lost, and from which logger.
    """

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if logging.raiseExceptions:
            error = sys.exc_info()[0]
            _last_words(
                f"--- logging error: {error.__name__ if error else 'unknown'} while writing a line "
                f"from logger {record.name!r}; the line was dropped (not shown: it may hold personal data)"
            )


class _CurrentStderrHandler(_SafeStreamHandler):
    """A StreamHandler that writes to whatever ``sys.stderr`` is at the time of each line.

    Binding sys.stderr once would pin the stream of whoever had replaced it at configuration time:
    click's CliRunner swaps in a buffer per invocation and closes it after, and pytest's capsys does
    the same per test, so later lines would go to a closed buffer.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        # StreamHandler.setStream assigns here; the point of this class is to always follow sys.stderr.
        pass


class _State:
    """What configure_logging last set up, so a repeat call can tell "same again" from "change"."""

    def __init__(
        self, fmt: str, levelno: int, stream: TextIO | None, handler: logging.Handler, processors: list[Processor]
    ) -> None:
        self.fmt, self.levelno, self.stream = fmt, levelno, stream
        self.handler = handler
        self.processors = processors

    def still_in_place(self, fmt: str, levelno: int, stream: TextIO | None) -> bool:
        # Same arguments, our handler still on the root logger, and structlog still on our chain. Something
        # else may have undone either (alembic's env.py calling logging.config.fileConfig, a test calling
        # structlog.reset_defaults); then configure again rather than trust the flag.
        # structlog.testing.capture_logs swaps the processors *inside* the same list, so a call made under
        # capture_logs leaves the capture alone.
        return (
            (self.fmt, self.levelno) == (fmt, levelno)
            and self.stream is stream
            and self.handler in logging.getLogger().handlers
            and structlog.get_config()["processors"] is self.processors
        )


_state: _State | None = None
_OURS = "_rostersync_logs_handler"  # marks the handlers configure_logging installs
_lock = threading.Lock()


def _parse_level(level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    name = str(level).strip().upper()
    name = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(name, name)
    if name not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return logging.getLevelNamesMapping()[name]


def _wants_colour(stream: TextIO | None) -> bool:
    # Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org): escape codes in a
    # file or a pipe make the lines harder to grep.
    target = stream if stream is not None else sys.stderr
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(target, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


_LEAD_KEYS = ("timestamp", "level", "event", "logger")


def _lead_keys_first(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    # JSON lines are read by people too (journalctl, less): when, how bad and what first, context after.
    # Only reorders; it runs before redact_event so redaction stays last before rendering.
    lead = {key: event_dict[key] for key in _LEAD_KEYS if key in event_dict}
    return {**lead, **{key: value for key, value in event_dict.items() if key not in lead}}


def _shared_processors() -> list[Processor]:
    # Run for structlog events and (as foreign_pre_chain) for stdlib records alike, so both kinds of line
    # have the same keys and the same bound context.
    return [
        structlog.contextvars.merge_contextvars,
        _merge_process_context,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(fmt: str = "console", level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging for this process.

    ``fmt``: "json" (one JSON object a line: event, level, timestamp (ISO 8601, UTC), logger, and the
    bound context) or "console" (readable lines). ``level``: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    ``stream``: where lines go; by default the current ``sys.stderr``, because stdout carries command
    output.

    Idempotent: calling again with the same arguments changes nothing; with other arguments it replaces
    the previous set-up (one handler, never two). Also routes ``warnings`` through logging and logs
    uncaught exceptions (main thread and other threads) through the same redaction, since Python would
    otherwise print their tracebacks raw.
    """
    global _state
    if fmt not in _FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use 'console' or 'json'")
    levelno = _parse_level(level)
    root = logging.getLogger()

    with _lock:
        if _state is not None and _state.still_in_place(fmt, levelno, stream):
            return

        layout: list[Processor]
        renderer: Processor
        if fmt == "json":
            layout, renderer = [_lead_keys_first], structlog.processors.JSONRenderer()
        else:
            # ConsoleRenderer lays out its own columns; it prints the formatted "exception" text as is.
            layout, renderer = [], structlog.dev.ConsoleRenderer(colors=_wants_colour(stream))

        formatter = structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # stdlib records arrive with exc_info as a tuple; format it before redaction.
                structlog.processors.format_exc_info,
                *layout,
                redact_event,  # always, and last before rendering
                renderer,
            ],
        )
        handler: logging.Handler = _CurrentStderrHandler() if stream is None else _SafeStreamHandler(stream)
        handler.setFormatter(formatter)

        # Remove every handler an earlier call installed, not only the last one remembered: a test
        # fixture that saves and restores root.handlers can put back one we had already replaced.
        for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
            root.removeHandler(old)
        setattr(handler, _OURS, True)
        root.addHandler(handler)
        root.setLevel(levelno)
        for name in _CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(max(logging.WARNING, levelno))
        logging.captureWarnings(True)

        processors: list[Processor] = [
            # Drop below-level events before any work is done on them.
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            # Formatted here, while the exception is current; redacted later with the rest.
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ]
        structlog.configure(
            processors=processors,
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            context_class=dict,
            # Not cached: a cached logger keeps the processor list it first saw. Module-level loggers
            # (`log = structlog.get_logger(...)` in sync/run.py) live across reset_logging/configure_logging
            # in a test session, and capture_logs only patches the list configured now, so a cached one
            # would slip past capture_logs in every later test. The cost is a dict copy per line.
            cache_logger_on_first_use=False,
        )

        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
        _state = _State(fmt, levelno, stream, handler, structlog.get_config()["processors"])


def get_logger(name: str | None = None) -> Any:
    """A structlog logger. Configures logging with the defaults if nothing has yet, so that code run
    without the CLI (a scheduler, a script, another module's tests) still logs to stderr, redacted,
    rather than through structlog's unconfigured default to stdout."""
    if _state is None:
        configure_logging()
    return structlog.stdlib.get_logger(name)


def reset_logging() -> None:
    """Undo configure_logging: for tests. Removes the handler, restores structlog's and Python's defaults."""
    global _state
    with _lock:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
            root.removeHandler(handler)
        _state = None
        _process_context.clear()
        for name in _CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger().setLevel(logging.WARNING)
        logging.captureWarnings(False)
        structlog.reset_defaults()
        if sys.excepthook is _log_uncaught:
            sys.excepthook = sys.__excepthook__
        if threading.excepthook is _log_uncaught_in_thread:
            threading.excepthook = threading.__excepthook__


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    # Ctrl-C stays Python's short "KeyboardInterrupt", not a logged traceback.
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    try:
        structlog.stdlib.get_logger("rostersync").critical("uncaught_exception", exc_info=(exc_type, exc, tb))
    except Exception:  # logging itself broke: say what happened without the (unredacted) details
        _last_words(f"uncaught {exc_type.__name__}; details withheld because logging failed")


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # what threading's own hook does too
        return
    thread = args.thread.name if args.thread is not None else None
    try:
        structlog.stdlib.get_logger("rostersync").critical(
            "uncaught_exception_in_thread",
            thread=thread,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )
    except Exception:
        _last_words(f"uncaught {args.exc_type.__name__} in a thread; details withheld because logging failed")


def _last_words(line: str) -> None:
    stream = sys.stderr or sys.__stderr__
    if stream is not None:
        with contextlib.suppress(Exception):
            stream.write(line + "\n")
