"""`rostersync`: the command line.

Commands are grouped by what they act on (README, "Command line"). Every command runs in one database
transaction, prints its result on stdout (`--json` where it has one), errors as one line on stderr, and
exits with a documented code (directory/errors.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from directory import migrate
from directory.db import ENV_URL, safe_url
from directory.errors import ConfigError
from sync.cli_directory import register as register_directory
from sync.cli_sync import register as register_sync
from sync.cli_web import register as register_web
from sync.cli_ops import register as register_ops
from sync.cli_bench import register as register_bench
from sync.cli_messaging import register as register_messaging
from sync.cli_rollback import register as register_rollback
from sync.cli_retention import register as register_retention
from sync.cli_support import RostersyncGroup, app_of, emit, json_option
from sync.logs import bind_command_context, configure_logging


@click.group(cls=RostersyncGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", metavar="URL", help="Database URL [default: $ROSTERSYNC_DATABASE_URL, else "
              "sqlite:///rostersync.db in the working folder]. PostgreSQL: postgresql://user@host:5432/name")
@click.option("--log-format", type=click.Choice(["console", "json"]),
              default=lambda: os.environ.get("ROSTERSYNC_LOG_FORMAT", "console"), show_default="console",
              help="Log lines (on stderr) as readable text or JSON lines [$ROSTERSYNC_LOG_FORMAT].")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              default=lambda: os.environ.get("ROSTERSYNC_LOG_LEVEL", "WARNING"), show_default="WARNING",
              help="Least important log lines shown [$ROSTERSYNC_LOG_LEVEL].")
@click.version_option(package_name="rostersync")
@click.pass_context
def cli(ctx: click.Context, db: str | None, log_format: str, log_level: str) -> None:
    """rostersync keeps a school-to-family messaging directory in step with a district's student
    information system (Clever, ClassLink, or SFTP CSV drops), and lets staff edit it by hand where
    the sync does not own it.

    Start with `rostersync init`, then `rostersync district add`.
    """
    configure_logging(log_format, log_level.upper())
    bind_command_context(ctx.invoked_subcommand or "", None)
    app_of(ctx).db = db


@cli.command()
@json_option
@click.pass_context
def init(ctx: click.Context, as_json: bool) -> None:
    """Create the database schema, or upgrade it to this version. Safe to run again."""
    app = app_of(ctx)
    engine = app.engine(require_schema=False)
    before, after = migrate.upgrade(engine)
    state = "created" if before is None else ("unchanged" if before == after else "upgraded")
    emit(as_json, {"database": safe_url(app.url), "schema": after, "previous": before, "result": state},
         f"database {safe_url(app.url)}: schema {state} (revision {after})")


@cli.command()
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True, help="Folder for the demo's drop, database and reports (remade each time).")
@click.option("--students", type=click.IntRange(10, 100_000), default=400, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--sandbox", is_flag=True,
              help="Sync from local Clever and ClassLink API fakes instead of a file drop.")
@click.pass_context
def demo(ctx: click.Context, folder: Path, students: int, seed: int, sandbox: bool) -> None:
    """Run the main job on a generated demo district: two nights of SFTP-style drops synced into SQLite.

    Uses DIR/rostersync.db unless --db or ROSTERSYNC_DATABASE_URL names another database.
    """
    from sync.demo import prepare_folder, run_demo, run_sandbox_demo

    app = app_of(ctx)
    try:
        prepare_folder(folder)
    except FileExistsError as exc:
        raise ConfigError(str(exc)) from None
    if app.db is None and not os.environ.get(ENV_URL):
        app.db = f"sqlite:///{folder / 'rostersync.db'}"
    migrate.upgrade(app.engine(require_schema=False))
    click.echo(f"database: {safe_url(app.url)}")
    ctx.exit((run_sandbox_demo if sandbox else run_demo)(app.engine(), folder, students, seed, click.echo))


register_directory(cli)
register_sync(cli)
register_web(cli)
register_ops(cli)
register_bench(cli)
register_messaging(cli)
register_rollback(cli)
register_retention(cli)


def main() -> None:
    cli(prog_name="rostersync")


if __name__ == "__main__":
    main()
