"""CLI: `rostersync bench`, speed and memory of a sync on a synthetic district (sync/bench.py)."""

from __future__ import annotations

from pathlib import Path

import click

from sync.cli_support import app_of


@click.command("bench")
@click.option("--students", type=click.IntRange(10, 10_000_000), default=100_000, show_default=True,
              help="Size of the synthetic district.")
@click.option("--db", "db_url", metavar="URL",
              help="Database to measure on: a new SQLite file, or a PostgreSQL database in which the benchmark "
                   "makes (and afterwards drops) a schema of its own [default: a new SQLite file in the work "
                   "folder; ROSTERSYNC_DATABASE_URL is ignored, so a real directory is never used].")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the drops (and the SQLite file) here and reuse the drops on the next run of the same "
                   "size and seed [default: a temporary folder, removed afterwards].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.pass_context
def bench_command(ctx: click.Context, students: int, db_url: str | None, seed: int, work_dir: Path | None,
                  as_json: bool) -> None:
    """Measure a sync: the floor (read the CSVs, insert them raw), a full sync into an empty directory, the
    same drop again (nothing to change), and the next night's drop (1% changed, 0.5% gone, 0.5% new).
    """
    from sync.bench import as_json as to_json
    from sync.bench import render_table, run_bench

    progress = (lambda _msg: None) if as_json else (lambda msg: click.echo(f"... {msg}", err=True))
    result = run_bench(students, db_url or app_of(ctx).db, seed=seed, work_dir=work_dir, progress=progress)
    click.echo(to_json(result) if as_json else render_table(result))


def register(cli: click.Group) -> None:
    cli.add_command(bench_command)
