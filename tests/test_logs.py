"""sync/logs.py: redaction, bound context, and the configured JSON/console output.

Three levels, because each catches what the others can't:
- `redact_text` / `redact_event` on their own, table-driven and with Hypothesis for "ordinary data
  survives" (dates, timestamps, counts, ids), the part a hand-picked table misses;
- structlog.testing.capture_logs for what the processors see (context, redaction of the event dict);
- a really configured logger writing JSON to a StringIO, and a `python -c` subprocess writing to its real
  stderr, where every line is parsed as JSON and the raw text is searched for the secrets and personal
  data that were logged. Only these prove nothing slips past the chain (stdlib loggers, tracebacks,
  warnings, uncaught exceptions).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from sync.logs import (
    bind_command_context,
    bind_district,
    bind_run_id,
    command_context,
    configure_logging,
    get_logger,
    new_request_id,
    redact_event,
    redact_text,
    reset_logging,
)

REPO = Path(__file__).resolve().parent.parent

# No example database: Hypothesis would otherwise write .hypothesis/ into the working tree.
hypothesis_settings = settings(database=None, deadline=None, max_examples=200)

# Secrets and personal data the tests log, in one place so "none of these appear" checks them all.
SECRETS = [
    "hunter2",  # a password
    "S3cr3t-Pa55",  # an SFTP password in a URL
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",  # an API token
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",  # a bearer JWT
    "c2lnbmF0dXJl",  # an oauth signature
    "jane.doe@example.org",
    "guardian+kids@school.example.edu",
    "+15555550123",
    "(555) 555-0199",
    "555-555-0142",
    "555.555.0177",
    "07700 900123",
    "smtp-user",  # userinfo of an SMTP URL
]

# Ordinary values logged beside them, which must come out as they went in.
KEPT = ["2026-11-28", "2026-11-28T16:54:18Z", "12345", "run-2026-11-28-0007", "/srv/rostersync/in/students.csv"]


@pytest.fixture(autouse=True)
def clean_logging():
    """Every test starts and ends with logging unconfigured and no bound context."""
    reset_logging()  # first, so a handler left by an earlier test's CLI run is not saved and restored below
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    reset_logging()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def capture(*processors):
    """structlog.testing.capture_logs, running ``processors`` (bound context, redaction) before capturing.

    capture_logs takes processors from structlog 25.5 on; pyproject allows 24.1, so on an older structlog
    do the same by hand: a LogCapture at the end of a chain, and the configuration restored after.
    """
    try:
        return capture_logs(processors=list(processors))
    except TypeError:
        return _capture_by_hand(list(processors))


@contextlib.contextmanager
def _capture_by_hand(processors):
    cap = structlog.testing.LogCapture()
    saved = structlog.get_config()
    structlog.configure(processors=[*processors, cap])
    try:
        yield cap.entries
    finally:
        structlog.configure(**saved)


def json_lines(text: str) -> list[dict]:
    """Every line must be one JSON object; a line that isn't fails the test here."""
    lines = text.splitlines()
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        parsed.append(obj)
    return parsed


def assert_no_secrets(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"leaked {leaked} in:\n{text}"


def raise_with_secrets() -> None:
    # The literal below is on the `raise` line, so the traceback's source excerpt carries it too.
    raise ConnectionError("cannot reach smtp://smtp-user:hunter2@mail.example.org:587 for jane.doe@example.org")


# ------------------------------------------------------------------------------------------------ text --


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail jane.doe@example.org now", "mail [email] now"),
        ("to guardian+kids@school.example.edu,", "to [email],"),
        ("JANE@Sub.Example.CO.UK", "[email]"),
        ("<o.brien-smith@district-42.k12.ca.us>", "<[email]>"),
        ("GET /v3/users?email=jane%40example.org&page=2", "GET /v3/users?email=[email]&page=2"),
        ("mailto:jane@example.org", "mailto:[email]"),
        ("5555550123@sms.example.org", "[email]"),  # an email-to-SMS address goes whole, as an address
    ],
)
def test_emails_become_placeholder(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "phone",
    [
        "+15555550123",
        "+1 555 555 0123",
        "+1-555-555-0123",
        "+1 (555) 555-0123",
        "+44 7700 900123",
        "+44 (0)20 7946 0958",
        "+33 6 12 34 56 78",
        "(555) 555-0123",
        "(555)555-0123",
        "555-555-0123",
        "555.555.0123",
        "555 555 0123",
        "1-555-555-0123",
        "07700 900123",
        "07700 900 123",
        "020 7946 0958",
        "0161 496 0000",
        "%2B15555550123",  # "+" percent-encoded in a query string
    ],
)
def test_phone_numbers_become_placeholder(phone):
    assert redact_text(f"guardian {phone} added") == "guardian [phone] added"
    assert redact_text(f"phone={phone};") == "phone=[phone];"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("postgresql://rostersync:hunter2@db.internal:5432/roster", "postgresql://[redacted]@db.internal:5432/roster"),
        ("smtp_url=smtp://smtp-user:S3cr3t-Pa55@mail.example.org:587",
         "smtp_url=smtp://[redacted]@mail.example.org:587"),
        # a raw "@" inside the password must not leave its tail behind
        ("sftp://district42:p@ss@sftp.example.org/upload", "sftp://[redacted]@sftp.example.org/upload"),
        ("sftp://district42@sftp.example.org/in", "sftp://[redacted]@sftp.example.org/in"),
        ("https://api.clever.com/v3.0/districts/5f1e?page=2", "https://api.clever.com/v3.0/districts/5f1e?page=2"),
    ],
)
def test_url_userinfo_is_redacted(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "Authorization: Bearer [redacted]"),
        ("sent with bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc.", "sent with bearer [redacted]."),
        ("Authorization: Basic dXNlcjpodW50ZXIy", "Authorization: Basic [redacted]"),
        ("{'Authorization': 'Bearer abc.def', 'Accept': 'json'}",
         "{'Authorization': 'Bearer [redacted]', 'Accept': 'json'}"),
        ("authorization=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "authorization=[redacted]"),
    ],
)
def test_bearer_and_authorization_credentials_are_redacted(text, expected):
    assert redact_text(text) == expected


def test_secret_query_parameters_are_redacted_and_others_kept():
    url = (
        "https://idp.example.com/cb?code=abc123&state=xyz&page=2&access_token=tok1&token=tok2"
        "&client_secret=cs&signature=sig1&oauth_signature=c2lnbmF0dXJl&password=pw&secret=s"
        "&X-Amz-Signature=deadbeef&district=42"
    )
    assert redact_text(url) == (
        "https://idp.example.com/cb?code=[redacted]&state=xyz&page=2&access_token=[redacted]&token=[redacted]"
        "&client_secret=[redacted]&signature=[redacted]&oauth_signature=[redacted]&password=[redacted]"
        "&secret=[redacted]&X-Amz-Signature=[redacted]&district=42"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("password=hunter2 host=db.internal", "password=[redacted] host=db.internal"),
        ("{'smtp_password': 'hunter two', 'port': 587}", "{'smtp_password': [redacted], 'port': 587}"),
        ('{"client_secret": "abc def", "district": "d-42"}', '{"client_secret": [redacted], "district": "d-42"}'),
        ("api_key: sk_live_4eC39HqLyjWDarjtT1zdp7dc", "api_key: [redacted]"),
        # names that merely contain a secret word are not secrets
        ("secret_count=3 tokens=5 exit code=1", "secret_count=3 tokens=5 exit code=1"),
    ],
)
def test_secret_assignments_in_text_are_redacted(text, expected):
    assert redact_text(text) == expected


ORDINARY = [
    "2026-11-28",
    "2026-11-28T16:54:18Z",
    "2026-11-28T16:54:18.012345+00:00",
    "2026-11-28 16:54:18",
    "16:54:18+0100",
    "11/28/2026",
    "28.11.2026",
    "05-11-2026",
    "12345",
    "1234567890",  # a bare run of digits is an id or a count, never a phone number
    "5555550123",
    "07700900123",
    "000123456789",
    "1,234,567",
    "run 42 synced 12345 students in 3.52s",
    "rows 100-2000",
    "elapsed 0:00:01.250",
    "run-2026-11-28-0007",
    "/srv/rostersync/in/2026-11-28/students.csv",
    "123e4567-e89b-12d3-a456-426614174000",
    "5f1e2d3c4b5a69788796a5b4",
    "10.0.0.12",
    "192.168.100.200",
    "3.11.7",
    "1.0+20261128",
    "alembic@head",
    "https://api.clever.com/v3.0/sections?limit=100&starting_after=5f1e",
    # shaped like phone numbers, but glued to more digits, letters or dots: the guards keep them
    "build 3.202.555.0123",
    "v202.555.0123",
    "id 2026-202-555-0123",
    "serial 202-555-01234",
    "ref 202-555-0123-7",
    "ticket 07700 900123-4",
    # NANP area codes and exchanges never start with 0 or 1; separators must match throughout
    "shard 123-045-6789",
    "batch 100 100 1000",
    "pages 200-300 1000 rows",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_values_survive(text):
    assert redact_text(text) == text
    assert redact_text(f"sync {text} done") == f"sync {text} done"


@pytest.mark.parametrize(
    "text",
    ORDINARY + [s for s in SECRETS] + ["Authorization: Basic dXNl", "a?token=x&code=y", "password: 'a b'"],
)
def test_redaction_is_idempotent(text):
    once = redact_text(text)
    assert redact_text(once) == once


@pytest.mark.parametrize(
    "shape", ["a", "a.", "1-", "+1 ", "1 ", "a@", "a:", "a-", "a%40", "QUJD", "a://", "0 ", "password", "a@b."]
)
def test_redaction_time_grows_linearly_with_long_values(shape):
    # A response body or a base64 blob in a log value must not stall the process: a regex that may start
    # at every position of a long run and scan to its end is quadratic (20 kB of "a" took 12 s once).
    text = shape * (40_000 // len(shape))
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 1.0


_moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 12, 31))


@hypothesis_settings
@given(moment=_moments)
def test_dates_and_timestamps_survive(moment):
    forms = [
        moment.date().isoformat(),
        moment.isoformat(),
        moment.replace(tzinfo=timezone.utc).isoformat(),
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        moment.strftime("%m/%d/%Y"),
        moment.strftime("%d.%m.%Y"),
        moment.strftime("%d-%m-%Y"),
        moment.strftime("%m-%d-%Y %H:%M"),
    ]
    for form in forms:
        assert redact_text(f"run started {form} ok") == f"run started {form} ok"


@hypothesis_settings
@given(n=st.integers(min_value=-(10**18), max_value=10**18))
def test_counts_and_ids_survive(n):
    for form in (str(n), f"{n:,}", f"{n}ms", f"student {abs(n)}", f"id={abs(n):012d}"):
        assert redact_text(form) == form


@hypothesis_settings
@given(raw=st.binary(min_size=6, max_size=6), seconds=st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_request_ids_and_durations_survive(raw, seconds):
    text = f"request_id={raw.hex()} took {seconds}s"
    assert redact_text(text) == text


@hypothesis_settings
@given(
    area=st.integers(200, 999),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    form=st.sampled_from(
        ["({a}) {e}-{l}", "{a}-{e}-{l}", "{a}.{e}.{l}", "+1{a}{e}{l}", "+1 {a} {e} {l}", "1-{a}-{e}-{l}"]
    ),
)
def test_generated_north_american_numbers_are_redacted(area, exchange, line, form):
    phone = form.format(a=area, e=exchange, l=f"{line:04d}")
    assert redact_text(f"call {phone} today") == "call [phone] today"


@hypothesis_settings
@given(country=st.sampled_from(["44", "33", "49", "61", "353", "91"]), rest=st.integers(10**8, 10**10 - 1))
def test_generated_e164_numbers_are_redacted(country, rest):
    assert redact_text(f"sms to +{country}{rest} queued") == "sms to [phone] queued"


# ----------------------------------------------------------------------------------------------- event --


@pytest.mark.parametrize(
    "key",
    ["password", "smtp_password", "smtpPassword", "passwd", "client_secret", "token", "access_token", "accessToken",
     "api_key", "apiKey", "X-Api-Key", "private_key", "authorization", "Cookie", "set-cookie", "credentials",
     "password_hash"],
)
def test_values_under_secret_keys_are_redacted(key):
    out = redact_event(None, "info", {"event": "e", key: "plain-value-42", "nested": {key: 123}})
    assert out[key] == "[redacted]"
    assert out["nested"][key] == "[redacted]"


@pytest.mark.parametrize("key", ["token_expires_at", "key_count", "private_key_path", "tokens_refreshed", "district"])
def test_keys_that_only_mention_a_secret_word_are_kept(key):
    assert redact_event(None, "info", {key: "2026-11-28T16:54:18Z"})[key] == "2026-11-28T16:54:18Z"


def test_none_and_booleans_under_secret_keys_are_kept():
    out = redact_event(None, "info", {"password": None, "has_token": True, "token": False})
    assert out == {"password": None, "has_token": True, "token": False}


def test_personal_keys_are_replaced_whatever_the_value_looks_like():
    out = redact_event(None, "info", {
        "phones": ["5555550123", None, 15555550124],
        "guardian": {"phone": "5555550123", "mobile": 15555550123, "email": "jane at example",
                     "first_name": "Jane", "lastName": "Doe", "dob": "2015-04-01", "sourced_id": "g-1001"},
        "guardian_count": 2,
    })
    assert out["guardian"] == {"phone": "[phone]", "mobile": "[phone]", "email": "[email]", "first_name": "[redacted]",
                               "lastName": "[redacted]", "dob": "[redacted]", "sourced_id": "g-1001"}
    assert out["guardian_count"] == 2
    assert out["phones"] == ["[phone]", None, "[phone]"]


def test_nested_values_lists_and_dict_keys_are_walked():
    out = redact_event(None, "info", {
        "event": "bounced for jane.doe@example.org",
        "batch": [{"to": "guardian+kids@school.example.edu", "n": 3}, ("+15555550123", 7)],
        "by_address": {"jane.doe@example.org": 2},
        "deep": {"a": {"b": {"c": ["call (555) 555-0199"]}}},
    })
    assert out["event"] == "bounced for [email]"
    assert out["batch"] == [{"to": "[email]", "n": 3}, ("[phone]", 7)]
    assert out["by_address"] == {"[email]": 2}
    assert out["deep"] == {"a": {"b": {"c": ["call [phone]"]}}}


def test_objects_exceptions_and_bytes_are_rendered_as_redacted_text():
    class Guardian:
        def __repr__(self) -> str:
            return "Guardian(email='jane.doe@example.org')"

        __str__ = __repr__

    out = redact_event(None, "info", {
        "guardian": Guardian(),
        "error": ValueError("bad phone 555-555-0142"),
        "raw": b"token=sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "when": datetime(2026, 11, 28, 16, 54, 18, tzinfo=timezone.utc),
    })
    assert out == {
        "guardian": "Guardian(email='[email]')",
        "error": "ValueError: bad phone [phone]",
        "raw": "token=[redacted]",
        "when": "2026-11-28 16:54:18+00:00",
    }


def test_numpy_counts_stay_numbers():
    np = pytest.importorskip("numpy")  # comes with pandas, a dependency
    out = redact_event(None, "info", {"students": np.int64(12345), "ratio": np.float64(0.5)})
    assert out == {"students": 12345, "ratio": 0.5}
    assert type(out["students"]) is int


def test_exc_info_is_formatted_then_redacted_even_without_format_exc_info_in_the_chain():
    try:
        raise_with_secrets()
    except ConnectionError:
        out = redact_event(None, "error", {"event": "send_failed", "exc_info": sys.exc_info()})
    assert "exc_info" not in out
    assert "Traceback (most recent call last)" in out["exception"]
    assert "ConnectionError: cannot reach smtp://[redacted]@mail.example.org:587 for [email]" in out["exception"]
    assert_no_secrets(out["exception"])


def test_odd_keys_and_unprintable_values_do_not_break_the_line():
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    buf = configured_json()
    structlog.get_logger().info("odd", by_pair={("jane.doe@example.org", 2): 1}, thing=Unprintable(), n=3)
    (line,) = json_lines(buf.getvalue())
    assert line["by_pair"] == {"('[email]', 2)": 1}
    assert line["thing"] == "[unprintable Unprintable]" and line["n"] == 3


def test_a_line_that_cannot_be_written_is_not_dumped_raw_to_stderr(capsys):
    buf = configured_json()
    buf.close()  # writing now fails, and logging reports the failure on stderr
    structlog.get_logger("rostersync.sync").info("lost", password="hunter2", to="jane.doe@example.org")
    logging.getLogger("paramiko.transport").warning("lost too: %s", "sftp://smtp-user:hunter2@h.example.org")
    err = capsys.readouterr().err
    assert "logging error" in err and "rostersync.sync" in err and "paramiko.transport" in err
    assert_no_secrets(err)


def test_deep_or_cyclic_values_do_not_break_logging():
    cyclic: list = []
    cyclic.append(cyclic)
    out = redact_event(None, "info", {"v": cyclic})
    assert "[truncated]" in json.dumps(out)


# --------------------------------------------------------------------------------------------- context --


def test_bound_command_context_is_on_every_event():
    with capture(structlog.contextvars.merge_contextvars) as events:
        request_id = bind_command_context("sync", "d-42")
        log = structlog.get_logger("rostersync.test")
        log.info("sync_started")
        bind_run_id(7)
        log.info("students_fetched", count=12345)
        structlog.contextvars.bind_contextvars(district="d-43")
        log.warning("district_switched")
    assert [e["request_id"] for e in events] == [request_id] * 3
    assert [e["command"] for e in events] == ["sync"] * 3
    assert [e["district"] for e in events] == ["d-42", "d-42", "d-43"]
    assert "run_id" not in events[0]
    assert [e.get("run_id") for e in events[1:]] == [7, 7]


def test_bind_command_context_forgets_the_previous_command():
    bind_command_context("sync", "d-42", run_id=7)
    structlog.contextvars.bind_contextvars(extra="stale")
    bind_command_context("person show")
    context = structlog.contextvars.get_contextvars()
    assert context.keys() == {"request_id", "command", "district"}
    assert context["district"] is None


def test_command_context_restores_the_outer_context():
    outer = bind_command_context("scheduler")
    with capture(structlog.contextvars.merge_contextvars) as events:
        with command_context("sync", "d-42", run_id="r-9") as inner:
            structlog.get_logger().info("inside")
        structlog.get_logger().info("outside")
    assert inner != outer
    assert events[0]["request_id"] == inner and events[0]["run_id"] == "r-9" and events[0]["district"] == "d-42"
    assert events[1]["request_id"] == outer and "run_id" not in events[1] and events[1]["command"] == "scheduler"


def test_threads_without_their_own_context_carry_the_process_command_context():
    buf = configured_json()
    request_id = bind_command_context("sftp pull")
    bind_district("d-42")  # known only after the command has started, as in the CLI
    bind_run_id(7)

    def transport() -> None:  # like paramiko's transport thread: not ours, binds nothing
        logging.getLogger("paramiko.transport").warning("rekeying")

    def job() -> None:  # a scheduler job binds its own command, and gets nothing mixed in
        with command_context("notify", "d-43"):
            structlog.get_logger("rostersync.notify").warning("job line")

    for target in (transport, job, transport):
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    transport_line, job_line, transport_after_job = json_lines(buf.getvalue())
    for line in (transport_line, transport_after_job):  # the job did not take over the process's context
        assert (line["request_id"], line["command"]) == (request_id, "sftp pull")
        assert (line["district"], line["run_id"]) == ("d-42", 7)
    assert job_line["request_id"] != request_id
    assert (job_line["command"], job_line["district"]) == ("notify", "d-43")
    assert "run_id" not in job_line


def test_request_ids_are_short_random_hex():
    ids = {new_request_id() for _ in range(200)} | {bind_command_context("x") for _ in range(50)}
    assert len(ids) == 250
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    assert bind_command_context("x", request_id="parent-id") == "parent-id"


def test_capture_logs_with_the_redaction_processor():
    with capture(structlog.contextvars.merge_contextvars, redact_event) as events:
        bind_command_context("guardian add", "d-42")
        structlog.get_logger().info("guardian_added", email="jane.doe@example.org", password="hunter2", count=1)
    assert events[0]["email"] == "[email]" and events[0]["password"] == "[redacted]" and events[0]["count"] == 1
    assert events[0]["district"] == "d-42"


# -------------------------------------------------------------------------------- a configured logger --


def configured_json(level: str = "INFO") -> io.StringIO:
    buf = io.StringIO()
    configure_logging("json", level, stream=buf)
    return buf


def test_json_lines_carry_level_timestamp_and_context_on_every_line():
    buf = configured_json()
    request_id = bind_command_context("sync", "d-42", run_id=7)
    structlog.get_logger("rostersync.sync").info("sync_started", source="clever")
    logging.getLogger("rostersync.connectors.sftp").warning("slow server: %d ms", 2500)  # a stdlib logger
    structlog.get_logger("rostersync.sync").warning("sync_finished", students=12345)

    lines = json_lines(buf.getvalue())
    assert [line["event"] for line in lines] == ["sync_started", "slow server: 2500 ms", "sync_finished"]
    assert [line["level"] for line in lines] == ["info", "warning", "warning"]
    for line in lines:
        assert line["request_id"] == request_id
        assert (line["command"], line["district"], line["run_id"]) == ("sync", "d-42", 7)
        stamp = datetime.fromisoformat(line["timestamp"])
        assert line["timestamp"].endswith("Z") and stamp.utcoffset().total_seconds() == 0
    assert lines[2]["students"] == 12345
    assert lines[1]["logger"] == "rostersync.connectors.sftp"
    # when, how bad, what and where first, for people reading the lines
    assert all(list(line)[:4] == ["timestamp", "level", "event", "logger"] for line in lines)


def test_nothing_secret_reaches_the_json_output():
    buf = configured_json()
    bind_command_context("sync", "d-42", run_id="run-2026-11-28-0007")
    log = structlog.get_logger("rostersync.sync")
    log.info("guardian %s updated", "jane.doe@example.org", phones=["+15555550123", "(555) 555-0199"],
             other="call 555-555-0142 or 555.555.0177 or 07700 900123", password="hunter2",
             smtp_url="smtp://smtp-user:S3cr3t-Pa55@mail.example.org:587", date="2026-11-28",
             seen="2026-11-28T16:54:18Z", count=12345, file="/srv/rostersync/in/students.csv")
    log.info("api_call", headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"},
             url="https://api.example.com/x?access_token=sk_live_4eC39HqLyjWDarjtT1zdp7dc&oauth_signature=c2lnbmF0dXJl")
    log.info("token refreshed", api_key="sk_live_4eC39HqLyjWDarjtT1zdp7dc", to="guardian+kids@school.example.edu")

    text = buf.getvalue()
    assert_no_secrets(text)
    assert [kept for kept in KEPT if kept not in text] == []
    lines = json_lines(text)
    assert lines[0]["event"] == "guardian [email] updated"
    assert lines[0]["phones"] == ["[phone]", "[phone]"]
    assert lines[0]["smtp_url"] == "smtp://[redacted]@mail.example.org:587"
    assert (lines[0]["date"], lines[0]["seen"], lines[0]["count"]) == ("2026-11-28", "2026-11-28T16:54:18Z", 12345)
    assert lines[0]["file"] == "/srv/rostersync/in/students.csv"
    assert lines[0]["run_id"] == "run-2026-11-28-0007"
    assert lines[1]["headers"] == {"Authorization": "[redacted]"}  # by its key, scheme and all
    assert lines[1]["url"] == "https://api.example.com/x?access_token=[redacted]&oauth_signature=[redacted]"


def test_exception_messages_and_tracebacks_are_redacted():
    buf = configured_json()
    bind_command_context("notify", "d-42")
    try:
        try:
            raise_with_secrets()
        except ConnectionError as exc:
            raise RuntimeError("notify failed for guardian (555) 555-0199") from exc
    except RuntimeError:
        structlog.get_logger("rostersync.notify").exception("notify_failed")
    try:
        raise_with_secrets()
    except ConnectionError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised an exception")  # stdlib

    text = buf.getvalue()
    assert_no_secrets(text)
    lines = json_lines(text)
    assert [line["level"] for line in lines] == ["error", "error"]
    for line in lines:
        assert "Traceback (most recent call last)" in line["exception"]
        assert "smtp://[redacted]@mail.example.org:587 for [email]" in line["exception"]
        assert line["district"] == "d-42"
    assert "notify failed for guardian [phone]" in lines[0]["exception"]  # the chained exception too


def test_stdlib_library_loggers_are_routed_through_redaction():
    buf = configured_json()
    bind_command_context("sftp pull", "d-42")
    logging.getLogger("paramiko.transport").warning(
        "Authentication (password) failed for %s", "sftp://district42:S3cr3t-Pa55@sftp.example.org")
    logging.getLogger("alembic.runtime.migration").error("cannot connect to postgresql://rs:hunter2@db/roster")
    text = buf.getvalue()
    assert_no_secrets(text)
    lines = json_lines(text)
    assert lines[0]["event"] == "Authentication (password) failed for sftp://[redacted]@sftp.example.org"
    assert [line["logger"] for line in lines] == ["paramiko.transport", "alembic.runtime.migration"]
    assert all(line["district"] == "d-42" and line["command"] == "sftp pull" for line in lines)


def test_chatty_libraries_stay_at_warning_even_at_debug():
    buf = configured_json("DEBUG")
    for name in ("paramiko.transport", "apscheduler.scheduler", "alembic.runtime.migration",
                 "sqlalchemy.engine.Engine"):
        logging.getLogger(name).info("chatter from %s", name)
    logging.getLogger("paramiko.transport").warning("worth knowing")
    structlog.get_logger("rostersync.sync").debug("our own debug line")
    assert [line["event"] for line in json_lines(buf.getvalue())] == ["worth knowing", "our own debug line"]


def test_level_filters_structlog_and_stdlib_lines():
    buf = configured_json("WARNING")
    structlog.get_logger("rostersync.sync").info("hidden")
    logging.getLogger("rostersync.sync").info("hidden too")
    structlog.get_logger("rostersync.sync").error("shown")
    assert [line["event"] for line in json_lines(buf.getvalue())] == ["shown"]


def test_configure_logging_is_idempotent_and_replaces_rather_than_stacks():
    first = io.StringIO()
    configure_logging("json", "INFO", stream=first)
    configure_logging("json", "INFO", stream=first)
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)]
    assert len(ours) == 1
    structlog.get_logger().info("once")
    assert len(json_lines(first.getvalue())) == 1

    second = io.StringIO()
    configure_logging("json", "INFO", stream=second)
    structlog.get_logger().info("moved")
    assert [line["event"] for line in json_lines(first.getvalue())] == ["once"]
    assert [line["event"] for line in json_lines(second.getvalue())] == ["moved"]


def test_configure_logging_sets_up_again_after_something_undid_it():
    buf = configured_json()
    logging.getLogger().handlers.clear()  # what logging.config.fileConfig (alembic's env.py) does
    structlog.reset_defaults()
    configure_logging("json", "INFO", stream=buf)
    structlog.get_logger().info("still here", password="hunter2")
    logging.getLogger("x").warning("stdlib too")
    assert [line["event"] for line in json_lines(buf.getvalue())] == ["still here", "stdlib too"]
    assert "hunter2" not in buf.getvalue()


def test_a_module_level_logger_follows_every_later_configuration(capsys):
    early = structlog.get_logger("rostersync.early")  # module-level loggers are made once, at import
    early.info("before configure")  # structlog's default output
    capsys.readouterr()
    buf = configured_json()
    early.info("after configure", password="hunter2")
    assert [line["event"] for line in json_lines(buf.getvalue())] == ["after configure"]
    assert "hunter2" not in buf.getvalue() + capsys.readouterr().out

    # The next test in a session resets and configures again, then captures: a logger cached on its
    # first use above would still hold the old chain and its events would never reach capture_logs.
    reset_logging()
    configured_json()
    with capture_logs() as events:
        early.info("captured")
    assert [e["event"] for e in events] == ["captured"]


def test_default_stream_is_the_current_stderr_not_stdout(capsys, monkeypatch):
    configure_logging("json")
    structlog.get_logger().warning("to stderr", email="jane.doe@example.org")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [line["email"] for line in json_lines(captured.err)] == ["[email]"]

    # click's CliRunner swaps sys.stderr per invocation: lines follow the stream of the moment.
    replacement = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replacement)
    configure_logging("json")  # same arguments again, as a second CLI invocation does
    structlog.get_logger().warning("to the replacement")
    assert [line["event"] for line in json_lines(replacement.getvalue())] == ["to the replacement"]


def test_get_logger_configures_when_nobody_has(capsys):
    get_logger("rostersync.script").warning("unconfigured", token="sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unconfigured" in captured.err and "token=[redacted]" in captured.err
    assert "sk_live" not in captured.err


def test_console_format_is_readable_and_redacted():
    buf = io.StringIO()
    configure_logging("console", "INFO", stream=buf)
    request_id = bind_command_context("sync", "d-42", run_id=7)
    structlog.get_logger("rostersync.sync").info("sync_started", to="jane.doe@example.org", count=12345)
    try:
        raise_with_secrets()
    except ConnectionError:
        structlog.get_logger("rostersync.sync").exception("send_failed")
    logging.getLogger("paramiko.transport").warning("auth failed for sftp://smtp-user:hunter2@sftp.example.org")

    text = buf.getvalue()
    assert_no_secrets(text)
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal
    first = text.splitlines()[0]
    assert re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z \[info\s*\] sync_started ", first), first
    for part in ("district=d-42", "command=sync", f"request_id={request_id}", "run_id=7", "to=[email]", "count=12345"):
        assert part in first
    assert "Traceback (most recent call last)" in text
    assert "ConnectionError: cannot reach smtp://[redacted]@mail.example.org:587 for [email]" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_warnings_are_routed_through_redaction():
    buf = configured_json()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("retrying with access_token=sk_live_4eC39HqLyjWDarjtT1zdp7dc", UserWarning, stacklevel=1)
    text = buf.getvalue()
    assert "sk_live" not in text
    (line,) = json_lines(text)
    assert line["logger"] == "py.warnings" and "access_token=[redacted]" in line["event"]


def test_uncaught_exception_in_a_thread_is_logged_redacted():
    buf = configured_json()
    bind_command_context("scheduler")

    def job() -> None:
        with command_context("sync", "d-42"):
            raise_with_secrets()

    thread = threading.Thread(target=job, name="sync-d-42")
    thread.start()
    thread.join()
    text = buf.getvalue()
    assert_no_secrets(text)
    (line,) = json_lines(text)
    assert line["event"] == "uncaught_exception_in_thread" and line["thread"] == "sync-d-42"
    assert line["level"] == "critical" and "ConnectionError" in line["exception"]


@pytest.mark.parametrize("fmt, level", [("xml", "INFO"), ("json", "LOUD"), ("json", "")])
def test_bad_arguments_are_refused(fmt, level):
    with pytest.raises(ValueError):
        configure_logging(fmt, level)


# ---------------------------------------------------------------------------------------- a real process --


SCRIPT = textwrap.dedent(
    """
    import logging, threading, structlog
    from sync.logs import configure_logging, bind_command_context, bind_district, bind_run_id

    configure_logging("json", "INFO")
    bind_command_context("sync")
    bind_district("d-42")
    bind_run_id(7)
    log = structlog.get_logger("rostersync.sync")
    log.info("fetched", count=12345, date="2026-11-28", email="jane.doe@example.org", password="hunter2")
    log.info("guardian phones", numbers="+15555550123, (555) 555-0199, 555-555-0142, 555.555.0177, 07700 900123")
    logging.getLogger("paramiko.transport").warning("auth failed: sftp://smtp-user:S3cr3t-Pa55@sftp.example.org")
    logging.getLogger("urllib3.connectionpool").info("chatty, dropped")
    print("12345 students synced")  # command output: stdout, and the only thing there
    def job():
        raise RuntimeError("called with Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig")
    t = threading.Thread(target=job)
    t.start(); t.join()
    raise SystemError("db at postgresql://rs:hunter2@db.internal/roster; guardian jane.doe@example.org")
    """
)


def test_a_real_process_logs_json_lines_to_stderr_with_nothing_secret():
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("NO_COLOR", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stderr  # the uncaught exception still fails the process
    assert done.stdout == "12345 students synced\n"
    assert_no_secrets(done.stderr)
    lines = json_lines(done.stderr)
    assert [line["event"] for line in lines] == [
        "fetched", "guardian phones", "auth failed: sftp://[redacted]@sftp.example.org",
        "uncaught_exception_in_thread", "uncaught_exception",
    ]
    assert lines[0]["count"] == 12345 and lines[0]["date"] == "2026-11-28"
    assert lines[1]["numbers"] == "[phone], [phone], [phone], [phone], [phone]"
    assert "Bearer [redacted]" in lines[3]["exception"]
    assert "postgresql://[redacted]@db.internal/roster; guardian [email]" in lines[4]["exception"]
    assert len({line["request_id"] for line in lines}) == 1
    for line in lines:  # the thread's line too: it has no context of its own, so it gets the command's
        assert {"event", "level", "timestamp", "logger", "request_id"} <= line.keys()
        assert (line["command"], line["district"], line["run_id"]) == ("sync", "d-42", 7)
