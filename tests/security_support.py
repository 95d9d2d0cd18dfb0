"""What the security tests share: loading a peer server module, reading back everything rostersync wrote
(every column of every table, every report of every run), and saying where a secret or a name leaked.

A leak check is only as good as its haystack, so ``database_text`` reads every table the schema has
(reflected, not listed by hand: a table added later is searched too), and ``find_leaks`` reports every
(secret, place) pair at once, so one run of a failing test shows the whole picture.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Mapping

import sqlalchemy as sa

from peers import peer_module  # noqa: F401 - re-exported for the tests

TESTS = Path(__file__).resolve().parent


def invoke(db_url: str, *args, fmt: str = "json", env: dict | None = None):
    """`rostersync --log-level DEBUG --log-format FMT ...` in process; the log lines land in the result's
    stderr (the log handler follows sys.stderr, which click's runner captures), whatever the exit code."""
    from click.testing import CliRunner

    from sync.cli import cli

    return CliRunner().invoke(cli, ["--db", db_url, "--log-format", fmt, "--log-level", "DEBUG", *map(str, args)],
                              env=env, catch_exceptions=False)


def database_text(db_url: str) -> dict[str, str]:
    """table -> the text of every value of every row (JSON columns as their JSON text)."""
    from directory.db import make_engine

    engine = make_engine(db_url)
    out: dict[str, str] = {}
    try:
        meta = sa.MetaData()
        with engine.connect() as conn:
            meta.reflect(bind=conn)
            for table in meta.sorted_tables:
                rows = conn.execute(sa.select(table)).all()
                out[table.name] = "\n".join("\t".join("" if v is None else str(v) for v in row) for row in rows)
    finally:
        engine.dispose()
    assert "districts" in out and "audit_log" in out, f"reflection found only {sorted(out)}"
    return out


def find_leaks(needles: Mapping[str, str], haystacks: Mapping[str, str], *, ignore_case: bool = False) -> list[str]:
    """Every "NAME in PLACE" where a needle's value occurs in a haystack."""
    found = []
    for where, text in haystacks.items():
        hay = text.lower() if ignore_case else text
        for name, value in needles.items():
            if value and (value.lower() if ignore_case else value) in hay:
                found.append(f"{name} in {where}")
    return found


def run_ids(cli, slug: str) -> list[int]:
    return [r["run_id"] for r in cli.json("runs", slug, "--json", "--limit", "1000")]


def reports(cli, slug: str, runs: Iterable[int] | None = None) -> dict[str, str]:
    """"report SLUG run N FORMAT" -> the report as `rostersync report` prints it, every run, every format."""
    out = {}
    for run in runs if runs is not None else run_ids(cli, slug):
        for fmt in ("json", "csv", "html"):
            out[f"report {slug} run {run} {fmt}"] = cli("report", slug, "--run", run, "--format", fmt).stdout
    return out
