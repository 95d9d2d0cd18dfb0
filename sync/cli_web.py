"""CLI: the web app (`rostersync web`) and its accounts (`rostersync user ...`)."""

from __future__ import annotations

import os

import click

from directory.errors import ConfigError
from sync.cli_support import app_of, emit, json_option
from sync.web.access import ROLES


@click.command("web")
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1, only this machine].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: 8080].")
@click.pass_context
def web_command(ctx, host, port) -> None:
    """Serve the web app: reports, runs, directories, resync and approve, the JSON API under /api/ and the
    messaging webhooks. Sign in at /login with an account made by `rostersync user add`.

    Set ROSTERSYNC_WEB_SECRET (32+ characters) so sessions and message links survive a restart, and
    ROSTERSYNC_WEB_SECURE_COOKIES=1 behind an HTTPS proxy. Ctrl-C or SIGTERM stops it.
    """
    from sync.web.app import create_app
    from sync.web.server import serve_forever
    from sync.web.settings import DEFAULT_HOST, DEFAULT_PORT, ENV_SECRET, load_settings

    app = app_of(ctx)
    settings = load_settings()
    host, port = host or DEFAULT_HOST, port or DEFAULT_PORT
    if settings.ephemeral_secret:
        click.echo(f"warning: {ENV_SECRET} is not set: sign-ins end when this process stops, and links in "
                   "messages sent meanwhile will not work after a restart", err=True)
    click.echo(f"rostersync web on http://{host}:{port}/ (Ctrl-C stops)")
    serve_forever(create_app(app.engine(), app.url, settings), host, port)


@click.group("user")
def user() -> None:
    """Web app accounts: school leaders, district admins and support staff."""


def _password(var: str) -> str:
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(f"--password-env names {var}, which is not set")
    return value


@user.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="leader: their schools; district-admin: the district; support: everything, and may resync, "
                   "approve and override locks.")
@click.option("--district", "district_slug", metavar="SLUG", help="The district (leaders and district admins).")
@click.option("--school", "school_ids", type=int, multiple=True, metavar="ID",
              help="A school a leader sees (the directory id; repeat for several).")
@click.option("--password-env", metavar="VAR", required=True,
              help="The environment variable holding the password (never typed on the command line).")
@json_option
@click.pass_context
def user_add(ctx, email, role, district_slug, school_ids, password_env, as_json) -> None:
    """Create an account that signs in at /login."""
    from sync.web.accounts import create_user

    app = app_of(ctx)
    password = _password(password_env)
    with app.session() as s:
        u = create_user(s, app.actor(), email, role, password, district_slug, list(school_ids))
        data = {"id": u.id, "email": u.email, "role": u.role, "district": district_slug,
                "school_ids": sorted(set(school_ids))}
    emit(as_json, data, f"account {data['email']} ({role}) created; it signs in at /login")


@user.command("list")
@json_option
@click.pass_context
def user_list(ctx, as_json) -> None:
    """Every account, its role, district and schools."""
    from sync.web.accounts import list_users

    with app_of(ctx).session() as s:
        rows = list_users(s)
    text = "\n".join(f"{r['email']}\t{r['role']}\tdistrict {r['district_id'] or '-'}\tschools "
                     f"{','.join(map(str, r['school_ids'])) or '-'}\t{'active' if r['active'] else 'disabled'}"
                     for r in rows)
    emit(as_json, rows, text or "no accounts yet")


@user.command("token")
@click.argument("email")
@json_option
@click.pass_context
def user_token(ctx, email, as_json) -> None:
    """Issue the account's API bearer token (any earlier one stops working). Printed once, never stored."""
    from sync.web.accounts import get_user, issue_token

    app = app_of(ctx)
    with app.session() as s:
        token = issue_token(s, app.actor(), get_user(s, email))
    emit(as_json, {"email": email, "token": token}, token)


@user.command("password")
@click.argument("email")
@click.option("--password-env", metavar="VAR", required=True, help="The variable holding the new password.")
@click.pass_context
def user_password(ctx, email, password_env) -> None:
    """Set a new password (ends the account's open sessions)."""
    from sync.web.accounts import get_user, set_password

    app = app_of(ctx)
    password = _password(password_env)
    with app.session() as s:
        set_password(s, app.actor(), get_user(s, email), password)
    click.echo(f"password of {email} changed")


@user.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable a disabled account again instead.")
@click.pass_context
def user_disable(ctx, email, enable) -> None:
    """Stop an account from signing in or using its API token (the account is kept, for the audit log)."""
    from sync.web.accounts import get_user, set_active

    app = app_of(ctx)
    with app.session() as s:
        set_active(s, app.actor(), get_user(s, email), enable)
    click.echo(f"{email} {'enabled' if enable else 'disabled'}")


def register(cli: click.Group) -> None:
    cli.add_command(web_command)
    cli.add_command(user)
