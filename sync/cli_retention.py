"""CLI: `rostersync retention SLUG | --all [--dry-run] [--json]`, the purge of sync/retention.py.

One district is one transaction: all of its purge or none. With ``--all`` each district with a
retention period is its own transaction, so a district whose sync is running (skipped, exit 1) does not
stop the others; meant for a daily cron job (`rostersync retention --all`).
"""

from __future__ import annotations

import click
import structlog

from directory.districts import get_district
from directory.errors import InvalidInput
from sync.cli_support import app_of, emit, json_option
from sync.logs import bind_district
from sync.retention import RetentionBusy, districts_with_retention, purge_district

log = structlog.get_logger("rostersync.retention")

KINDS = ("students", "guardians", "enrollments", "guardian_links", "invitations", "announcement_recipients",
         "message_deliveries")


def _line(r: dict) -> str:
    if r["status"] == "off":
        return (f"{r['district']}: retention is off, nothing purged (set a period with `rostersync district set "
                f"{r['district']} retention_days N`)")
    cutoff = r["cutoff"][:10]
    if r["status"] == "nothing_to_purge":
        return f"{r['district']}: nothing archived on or before {cutoff} (retention {r['retention_days']} days)"
    verb = "would purge" if r["dry_run"] else "purged"
    parts = ", ".join(f"{r['counts'][k]} {k.replace('_', ' ')}" for k in KINDS if r["counts"].get(k))
    return (f"{r['district']}: {verb} {parts} (archived on or before {cutoff}, retention {r['retention_days']} days)"
            + (f"; audit entry {r['audit_id']}" if r.get("audit_id") else ""))


@click.command("retention")
@click.argument("slug", required=False)
@click.option("--all", "all_districts", is_flag=True, help="Every district that has a retention period.")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; delete nothing.")
@json_option
@click.pass_context
def retention_command(ctx, slug: str | None, all_districts: bool, dry_run: bool, as_json: bool) -> None:
    """Delete students archived more than the district's `retention_days` ago, with their enrollments,
    guardian links and messages, and the guardians left with no student; the audit log lists what went
    (ids only). A district with retention off keeps everything.

    Exit codes: 0 done (also when nothing was due), 1 a district's sync was running (not purged),
    4 unknown district, 5 neither SLUG nor --all.
    """
    if bool(slug) == all_districts:
        raise InvalidInput("give one district SLUG or --all")
    app = app_of(ctx)
    if slug:
        bind_district(slug)
        with app.session() as s:
            result = purge_district(s, get_district(s, slug), app.actor_name, dry_run=dry_run).as_dict()
        log.info("retention_finished", status=result["status"], counts=result["counts"], dry_run=dry_run)
        emit(as_json, result, _line(result))
        return
    with app.session() as s:
        slugs = [d.slug for d in districts_with_retention(s)]
    results, busy = [], []
    for name in slugs:
        try:
            with app.session() as s:
                results.append(purge_district(s, get_district(s, name), app.actor_name, dry_run=dry_run).as_dict())
        except RetentionBusy as exc:
            busy.append({"district": name, "error": str(exc)})
    log.info("retention_finished", districts=len(results), busy=len(busy), dry_run=dry_run)
    emit(as_json, {"districts": results, "busy": busy},
         "\n".join([_line(r) for r in results] + [f"{b['district']}: {b['error']}" for b in busy])
         or "no district has a retention period (`rostersync district set SLUG retention_days N`)")
    if busy:
        ctx.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(retention_command)
