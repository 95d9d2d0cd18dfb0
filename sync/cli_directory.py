"""CLI: districts, schools, teachers and classrooms, and reading the directory (search, export, audit)."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from directory.districts import create_district, get_district, list_districts, set_setting, set_source
from directory.errors import ConfigError
from directory.export import export_directory, write_csv
from directory.models import AuditEntry, School
from directory.service import SEARCH_KINDS
from directory.settings import SETTINGS, settings_of
from sync.cli_people import guardian, student
from sync.cli_support import app_of, emit, json_option
from sync.district_file import load_districts
from sync.sources import ALL_SOURCES, API_SOURCE_KEYS, FILE_SOURCE_KEYS, validate_source


def _district_dict(d) -> dict:
    return {"slug": d.slug, "name": d.name, "source": d.source, "source_config": d.source_config,
            "settings": settings_of(d)}


# -- districts ---------------------------------------------------------------------------------------
@click.group()
def district() -> None:
    """Add districts, list them, and change their settings."""


@district.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The district's display name.")
@click.option("--source", type=click.Choice(ALL_SOURCES),
              help="Where the roster comes from; without it the district is edited by hand.")
@click.option("--path", type=click.Path(file_okay=False), help="A local folder that receives the drops.")
@click.option("--sftp-host", help="SFTP server with the drops.")
@click.option("--sftp-port", type=int, default=None, help="SFTP port [default: 22].")
@click.option("--sftp-user")
@click.option("--sftp-key", type=click.Path(dir_okay=False), help="Private key file for SFTP login.")
@click.option("--sftp-key-passphrase-env", metavar="VAR", help="Environment variable holding the key's passphrase.")
@click.option("--sftp-password-env", metavar="VAR", help="Environment variable that holds the SFTP password.")
@click.option("--sftp-path", help="Folder on the server [default: the login folder].")
@click.option("--sftp-host-key", help="The server's public key line or SHA256 fingerprint (pinned).")
@click.option("--clever-token-env", metavar="VAR", help="Clever: environment variable holding the district token.")
@click.option("--clever-base-url", metavar="URL", help="Clever: API base URL [default: https://api.clever.com].")
@click.option("--oneroster-url", metavar="URL", help="ClassLink: the OneRoster REST base URL.")
@click.option("--oneroster-version", type=click.Choice(["1.1", "1.2"]), help="ClassLink: OneRoster version.")
@click.option("--client-id-env", metavar="VAR", help="ClassLink: environment variable holding the client id.")
@click.option("--client-secret-env", metavar="VAR", help="ClassLink: environment variable holding the secret.")
@click.option("--token-url", metavar="URL", help="ClassLink 1.2: OAuth 2 token URL.")
@json_option
@click.pass_context
def district_add(ctx, slug: str, name: str, source: str | None, as_json: bool, **source_options) -> None:
    """Add a district (SLUG: lower-case letters, digits, dashes), synced from a source or edited by hand."""
    config = {}
    if source:
        config = validate_source(source, source_options)
    elif any(v is not None for v in source_options.values()):
        raise ConfigError("source options need --source")
    app = app_of(ctx)
    with app.session() as session:
        d = create_district(session, app.actor(), slug, name, source, config)
        emit(as_json, _district_dict(d), f"district {d.slug} added" + (f", synced from {source}" if source else ""))


@district.command("list")
@json_option
@click.pass_context
def district_list(ctx, as_json: bool) -> None:
    """List districts."""
    with app_of(ctx).session() as session:
        rows = [_district_dict(d) for d in list_districts(session)]
    emit(as_json, rows, "\n".join(f"{r['slug']}\t{r['name']}\t{r['source'] or 'manual'}" for r in rows)
         or "no districts yet")


@district.command("show")
@click.argument("slug")
@click.pass_context
def district_show(ctx, slug: str) -> None:
    """Show a district's source and settings (JSON)."""
    with app_of(ctx).session() as session:
        emit(True, _district_dict(get_district(session, slug)), "")


SETTINGS_HELP = "\n".join(f"  {k}: {s.meaning}" for k, s in sorted(SETTINGS.items())) + (
    "\n  source, path, sftp_host, sftp_port, sftp_user, sftp_key, sftp_password_env, sftp_path, sftp_host_key,"
    "\n  clever_token_env, clever_base_url, oneroster_url, oneroster_version, client_id_env,"
    "\n  client_secret_env, token_url: where the roster comes from (as for district add)")


@district.command("set", help=f"""Change one setting of a district.

\b
Settings:
{SETTINGS_HELP}""")
@click.argument("slug")
@click.argument("key")
@click.argument("value")
@click.pass_context
def district_set(ctx, slug: str, key: str, value: str) -> None:
    app = app_of(ctx)
    with app.session() as session:
        district = get_district(session, slug)
        name = key.strip().lower().replace("-", "_")
        if name == "source" or name in FILE_SOURCE_KEYS + API_SOURCE_KEYS:
            source = value if name == "source" else district.source
            config = dict(district.source_config or {})
            if name != "source":
                config[name] = value
                if name == "path":
                    config.pop("sftp_host", None)
                elif name == "sftp_host":
                    config.pop("path", None)
            # Without a source yet, connection settings are kept as given and checked when it is set.
            set_source(session, app.actor(), district, source,
                       validate_source(source, config) if source else config)
            column, parsed = name, value
        else:
            column, parsed = set_setting(session, app.actor(), district, key, value)
    click.echo(f"{slug}: {column} = {json.dumps(parsed)}")


@district.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def district_load(ctx, file: str) -> None:
    """Add or update districts from a TOML file (see config/district.example.toml)."""
    app = app_of(ctx)
    with app.session() as session:
        for line in load_districts(session, app.actor(), file):
            click.echo(line)


# -- schools, teachers, classrooms -------------------------------------------------------------------
@click.group()
def school() -> None:
    """Add and list schools."""


@school.command("add")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--name", required=True)
@click.option("--number", "school_number", help="The school's number in the SIS.")
@click.option("--source", type=click.Choice(["oneroster-csv", "clever-csv", "clever", "classlink"]),
              help="Declare the school as fed by this source (normally the sync does this); it is then locked.")
@click.option("--external-id", help="The school's id in that source.")
@json_option
@click.pass_context
def school_add(ctx, district_slug, name, school_number, source, external_id, as_json) -> None:
    """Add a school."""
    with app_of(ctx).directory(district_slug) as svc:
        s = svc.add_school(name, school_number, source, external_id)
        emit(as_json, {"id": s.id, "name": s.name, "source": s.source},
             f"school {s.id} added: {s.name}" + (f" (synced from {s.source})" if s.source else ""))


@school.command("list")
@click.argument("district_slug", metavar="DISTRICT")
@json_option
@click.pass_context
def school_list(ctx, district_slug, as_json) -> None:
    """List a district's schools and whether each is synced (locked)."""
    with app_of(ctx).directory(district_slug) as svc:
        rows = [{"id": s.id, "name": s.name, "source": s.source, "external_id": s.external_id, "status": s.status}
                for s in svc.session.scalars(select(School).where(School.district_id == svc.district.id)
                                             .order_by(School.id))]
    emit(as_json, rows, "\n".join(f"{r['id']}\t{r['name']}\t{r['source'] or 'manual'}\t{r['status']}"
                                  for r in rows) or "no schools yet")


@click.group()
def teacher() -> None:
    """Add teachers."""


@teacher.command("add")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--email")
@json_option
@click.pass_context
def teacher_add(ctx, district_slug, given_name, family_name, email, as_json) -> None:
    """Add a teacher."""
    with app_of(ctx).directory(district_slug) as svc:
        t = svc.add_teacher(given_name, family_name, email)
        emit(as_json, {"id": t.id}, f"teacher {t.id} added")


@click.group()
def classroom() -> None:
    """Add classrooms."""


@classroom.command("add")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--school", "school_id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--teacher", "teacher_ids", type=int, multiple=True, help="A teacher id; repeat for co-teachers.")
@json_option
@click.pass_context
def classroom_add(ctx, district_slug, school_id, name, teacher_ids, as_json) -> None:
    """Add a classroom to a school, with its teachers."""
    with app_of(ctx).directory(district_slug) as svc:
        c = svc.add_classroom(school_id, name, teacher_ids)
        emit(as_json, {"id": c.id, "school_id": c.school_id, "name": c.name}, f"classroom {c.id} added: {c.name}")


# -- reading the directory ----------------------------------------------------------------------------
@click.group("directory")
def directory_group() -> None:
    """Search and export the directory."""


@directory_group.command("search")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("query")
@click.option("--kind", "kinds", type=click.Choice(SEARCH_KINDS), multiple=True, help="Only these kinds.")
@click.option("--include-archived", is_flag=True, help="Also archived students and removed guardians.")
@json_option
@click.pass_context
def directory_search(ctx, district_slug, query, kinds, include_archived, as_json) -> None:
    """Find students, guardians, teachers and classrooms by name, number, id, email or phone."""
    with app_of(ctx).directory(district_slug) as svc:
        rows = svc.search(query, tuple(kinds) or SEARCH_KINDS, include_archived)
    emit(as_json, rows, "\n".join(f"{r['kind']}\t{r['id']}\t{r['name']}\t{r.get('status', '')}" for r in rows)
         or "nothing found")


@directory_group.command("export")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file instead of standard output.")
@click.pass_context
def directory_export(ctx, district_slug, fmt, output) -> None:
    """Print the directory: schools, classrooms, students, guardians, and who is linked to whom."""
    with app_of(ctx).directory(district_slug) as svc:
        data = export_directory(svc.session, svc.district)
    if fmt == "json":
        json.dump(data, output, indent=2, default=str)
        output.write("\n")
    else:
        write_csv(data, output)


@click.command("audit")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
@click.pass_context
def audit_command(ctx, district_slug, limit, as_json) -> None:
    """Show the newest audit log entries of a district: who changed what, when, before and after."""
    with app_of(ctx).session() as session:
        d = get_district(session, district_slug)
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.district_id == d.id)
                                       .order_by(AuditEntry.id.desc()).limit(limit)))
        rows = [{"id": e.id, "at": e.at, "actor_type": e.actor_type, "actor": e.actor, "run_id": e.run_id,
                 "action": e.action, "entity": e.entity, "entity_id": e.entity_id, "before": e.before,
                 "after": e.after, "reason": e.reason} for e in entries]
    emit(as_json, rows, "\n".join(
        f"{r['at']:%Y-%m-%d %H:%M:%S}\t{r['actor_type']}:{r['actor']}\t{r['action']}\t{r['entity']} "
        f"{r['entity_id'] or ''}" + (f"\treason: {r['reason']}" if r["reason"] else "") for r in rows)
        or "no audit entries")


def register(cli: click.Group) -> None:
    for command in (district, school, teacher, classroom, student, guardian, directory_group, audit_command):
        cli.add_command(command)
