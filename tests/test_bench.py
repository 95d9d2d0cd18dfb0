"""`rostersync bench` kept working at a tiny size (speed itself is measured by the benchmark, never by tests),
and the fast paths it drove give exactly the answers of the code they stand in for."""

from __future__ import annotations

import json
import string

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from directory.contacts import ContactNormalizer, normalize_email, normalize_phone
from directory.errors import InvalidInput
from messaging import joincodes
from sync.apply import join_codes
from sync.bench import BENCH_KEYS, BOOKKEEPING, render_table, run_bench

STUDENTS = 300


@pytest.fixture
def figures(db_url, tmp_path) -> dict:
    return run_bench(STUDENTS, db_url, work_dir=tmp_path / "bench")


def test_bench_measures_full_noop_and_delta(figures, db_url):
    r = figures
    assert set(BENCH_KEYS) <= set(r)
    assert r["students"] == STUDENTS
    assert r["db"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    for key in ("floor_s", "full_s", "noop_s", "delta_s", "peak_rss_mb", "full_to_floor", "noop_to_full",
                "delta_to_full"):
        assert r[key] > 0, key

    # the floor inserted every data row of the drop
    assert r["floor"]["rows"] >= r["shape"]["students"] + r["shape"]["enrollments"]

    full, noop, delta = (r["rows_by_table"][p] for p in ("full", "noop", "delta"))
    shape = r["shape"]
    # full: every record created, every student's enrollments and guardians linked, invitations queued
    assert full["students"] == shape["students"] == STUDENTS
    assert full["schools"] == shape["schools"]
    assert full["classrooms"] == shape["classrooms"]
    assert full["enrollments"] + full["classroom_teachers"] == shape["enrollments"]
    assert 0 < full["guardians"] <= shape["guardians"]
    assert full["invitations"] == full["guardians"]
    assert full["guardian_links"] > 0
    # noop: nothing but the run's own record (run row, lease, cursor, the drop taken again)
    assert set(noop) <= BOOKKEEPING and noop.get("sync_runs", 0) >= 1
    assert r["directory_rows_written"]["noop"] == 0
    # noop_full: the same drop read and compared whole (--full) writes nothing either
    assert set(r["rows_by_table"]["noop_full"]) <= BOOKKEEPING and r["directory_rows_written"]["noop_full"] == 0
    assert r["noop_full_s"] > 0
    # delta: a few students changed, left and arrived
    assert 0 < delta["students"] < STUDENTS // 5
    assert 0 < r["directory_rows_written"]["delta"] < r["directory_rows_written"]["full"] // 5

    table = render_table(r)
    for phase in ("floor", "full", "noop", "noop_full", "delta"):
        assert f"\n{phase} " in table


def test_bench_command_prints_json(tmp_path):
    result = CliRunner().invoke(
        __import__("sync.cli", fromlist=["cli"]).cli,
        ["bench", "--students", "120", "--db", f"sqlite:///{tmp_path}/bench.db", "--json"],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(BENCH_KEYS) <= set(out) and out["students"] == 120 and out["db"] == "sqlite"


def test_bench_refuses_an_existing_sqlite_file(tmp_path):
    existing = tmp_path / "rostersync.db"
    existing.write_bytes(b"")
    result = CliRunner().invoke(__import__("sync.cli", fromlist=["cli"]).cli,
                                ["bench", "--students", "50", "--db", f"sqlite:///{existing}"])
    assert result.exit_code == 2
    assert "new SQLite file" in result.output


# -- the fast paths give the same answers ----------------------------------------------------------------

def _answer(normalize, raw):
    try:
        return normalize(raw)
    except InvalidInput as exc:
        return ("refused", str(exc))


LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "._+-!#'\"é İ@", min_size=0, max_size=70)
DOMAINS = ["example.org", "EXAMPLE.com", "gmail.com", "sub.school.k12.us", "localhost", "test", "x.invalid",
           "xn--bcher-kva.example", "bücher.example", "a..b.com", "-x.com", "x-.com", "123", "com", "x.123",
           "[127.0.0.1]", "", "a" * 64 + ".com", "mail." + "b" * 63 + ".org", "Ex-Ample.ORG."]


@settings(max_examples=400, deadline=None)
@given(local=LOCAL, domain=st.sampled_from(DOMAINS), pad=st.sampled_from(["", " ", "\t"]))
def test_email_normalizer_answers_as_the_library(local, domain, pad):
    raw = f"{pad}{local}@{domain}{pad}"
    normalizer = ContactNormalizer()
    assert _answer(normalizer.email, raw) == _answer(normalize_email, raw)
    assert _answer(normalizer.email, raw) == _answer(normalize_email, raw)  # remembered, same again


def test_email_normalizer_long_and_blank_values():
    normalizer = ContactNormalizer()
    for raw in (None, "", "   ", "a" * 64 + "@example.org", "a" * 65 + "@example.org",
                "x" * 60 + "@" + ".".join(["abcdefghij"] * 18) + ".org", "Parent.One+kids@Example.ORG",
                "no-at-sign", "two@@example.org", "a@b@example.org", "Postmaster@Example.org"):
        assert _answer(normalizer.email, raw) == _answer(normalize_email, raw), raw


def _formatted(digits: str, style: int) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return [f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"{a} {b} {c}", digits, f"{a}-{b}-{c}", f" ({a}){b}-{c} ",
            f"+1 {a} {b} {c}", f"1-{a}-{b}-{c}", f"{a}/{b}-{c}", f"{a} {b} {c} x12", f"{b}-{c}"][style]


@settings(max_examples=400, deadline=None)
@given(digits=st.text(alphabet=string.digits, min_size=10, max_size=10), style=st.integers(0, 10),
       region=st.sampled_from(["US", "CA", "GB"]))
def test_phone_normalizer_answers_as_the_library(digits, style, region):
    raw = _formatted(digits, style)
    expected = _answer(lambda v: normalize_phone(v, region), raw)
    assert _answer(ContactNormalizer(region).phone, raw) == expected
    # a number the directory already holds (made by normalize_phone) is taken without parsing: same answer
    known = {expected} if isinstance(expected, str) else set()
    assert _answer(ContactNormalizer(region, known).phone, raw) == expected


def test_phone_normalizer_on_real_shapes():
    raws = ["(201) 555-0123", "(212) 555-0175", "(800) 555-0100", "(900) 555-0100", "+44 20 7946 0958",
            "+44 7700 900123", "07700 900123", "1-800-FLOWERS", "", "  ", None, "12", "(604) 555-0134"]
    for region in ("US", "CA", "GB"):
        known = {v for v in (_answer(lambda r: normalize_phone(r, region), raw) for raw in raws) if isinstance(v, str)}
        for normalizer in (ContactNormalizer(region), ContactNormalizer(region, known)):
            for raw in raws:
                assert _answer(normalizer.phone, raw) == _answer(lambda r: normalize_phone(r, region), raw), raw


def test_join_codes_in_bulk_are_shaped_like_new_join_code():
    codes = join_codes(5000)
    assert len(codes) == len(set(codes)) == 5000
    assert all(joincodes.normalize_join_code(code) == code for code in codes)
    assert len(joincodes.new_join_code()) == len(codes[0])
    assert set("".join(codes).replace("-", "")) == set(joincodes.ALPHABET)  # every symbol drawn
    assert join_codes(0) == [] and len(join_codes(1)) == 1
