"""CLI: syncing (sync, resync, approve), runs and reports."""

from __future__ import annotations

import click
from sqlalchemy import select

from directory.audit import Actor
from directory.districts import get_district
from directory.errors import InvalidInput, NotFound
from directory.models import School, SyncRun
from sync.approve import approve_run
from sync.cli_support import app_of, emit, json_option
from sync.report_render import render_csv, render_html, render_json, trend_item
from sync.run import RunOutcome, run_sync

SUMMARY_KINDS = ("schools", "classrooms", "teachers", "students", "guardians")


def summary_lines(report: dict) -> list[str]:
    """The few lines a person reads after `rostersync sync`."""
    lines = [f"run {report['run_id']} {report['status']}: {report['directory']}"]
    counts = report.get("counts") or {}
    for kind in SUMMARY_KINDS:
        c = counts.get(kind)
        if not c:
            continue
        parts = [f"{c[a]} {a}" for a in ("created", "updated", "archived", "restored") if c.get(a)]
        if parts:
            lines.append(f"  {kind}: {', '.join(parts)}")
    for kind in ("enrollments", "guardian_links"):
        c = counts.get(kind)
        if c and (c.get("added") or c.get("removed")):
            lines.append(f"  {kind.replace('_', ' ')}: {c.get('added', 0)} added, {c.get('removed', 0)} removed")
    if report.get("invitations_queued"):
        lines.append(f"  invitations queued: {report['invitations_queued']}")
    if report.get("held"):
        held = report["held"]
        lines.append(f"  held: {len(held['students'])} student(s) would be archived, more than "
                     f"{held['threshold_pct']}% of a school; review, then `rostersync approve {report['run_id']}`")
    for note in report.get("notes", []):
        lines.append(f"  note: {note}")
    errors, warnings = report.get("errors", []), report.get("warnings", [])
    if report["status"] == "failed":
        lines += [f"  error: {e['message']}" for e in errors]
    elif errors or warnings:
        lines.append(f"  {len(errors)} error(s), {len(warnings)} warning(s): "
                     f"`rostersync report {report['district']} --run {report['run_id']} --format html`")
    return lines


def _print_outcome(ctx, outcome: RunOutcome, as_json: bool) -> None:
    emit(as_json, outcome.report, "\n".join(summary_lines(outcome.report)))
    ctx.exit(outcome.exit_code)


@click.command("sync")
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing to the directory.")
@click.option("--full", is_flag=True, help="Apply the drop even if it was applied before (ignore cursors).")
@json_option
@click.pass_context
def sync_command(ctx, slug, dry_run, full, as_json) -> None:
    """Sync a district from its source now.

    Exit codes: 0 applied, 3 held by the archive threshold, 2 configuration or credentials, 1 any other
    failure (including a run already in progress). The directory is either fully updated or not touched.
    """
    app = app_of(ctx)
    _print_outcome(ctx, run_sync(app.engine(), slug, dry_run=dry_run, full=full, trigger="manual",
                                 requested_by=app.actor_name), as_json)


@click.command("resync")
@click.argument("slug")
@click.option("--reason", required=True, help="Why (kept in the audit log and the run).")
@json_option
@click.pass_context
def resync_command(ctx, slug, reason, as_json) -> None:
    """Support: a full sync now, ignoring cursors and drops already taken; audited with the reason."""
    if not reason.strip():
        raise InvalidInput("a resync needs a reason")
    from sync.cli_ops import resync_by_mode

    if resync_by_mode(ctx, slug, reason.strip(), as_json):
        return  # worker mode: queued ahead of scheduled work, already printed
    app = app_of(ctx)
    _print_outcome(ctx, run_sync(app.engine(), slug, full=True, trigger="resync", requested_by=app.actor_name,
                                 reason=reason.strip()), as_json)


@click.command("approve")
@click.argument("run_id", type=int)
@click.option("--reason", default=None, help="Why the removals are right (kept in the audit log).")
@json_option
@click.pass_context
def approve_command(ctx, run_id, reason, as_json) -> None:
    """Apply the archives a held run kept back (after checking who would leave)."""
    app = app_of(ctx)
    report = approve_run(app.engine(), run_id, Actor("support", app.actor_name, reason=reason))
    archived = report["approved"]["archived"]
    emit(as_json, report, f"run {run_id} approved: " + (", ".join(f"{n} {k} archived" for k, n in archived.items())
                                                         or "nothing left to archive"))


def _run_row(r: SyncRun) -> dict:
    report = r.report or {}
    counts = report.get("counts") or {}
    return {"run_id": r.id, "status": r.status, "mode": r.mode, "dry_run": r.dry_run, "trigger": r.trigger,
            "started_at": r.started_at.isoformat() if r.started_at else None,
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "changes": sum(v for c in counts.values() for k, v in c.items() if k not in ("unchanged",)),
            "errors": len(report.get("errors", [])), "warnings": len(report.get("warnings", []))}


@click.command("runs")
@click.argument("slug")
@click.option("--limit", type=int, default=20, show_default=True)
@json_option
@click.pass_context
def runs_command(ctx, slug, limit, as_json) -> None:
    """List a district's sync runs, newest first."""
    with app_of(ctx).session() as s:
        d = get_district(s, slug)
        rows = [_run_row(r) for r in s.scalars(select(SyncRun).where(SyncRun.district_id == d.id)
                                                .order_by(SyncRun.id.desc()).limit(limit))]
    text = "\n".join(f"{r['run_id']}\t{r['started_at'][:19]}\t{r['status']}\t{r['mode']}"
                     f"{' dry-run' if r['dry_run'] else ''}\t{r['trigger']}\t{r['changes']} changes\t"
                     f"{r['errors']} errors\t{r['warnings']} warnings" for r in rows)
    emit(as_json, rows, text or f"no runs yet for {slug}")


def _school_filter(report: dict, school: str, session, district_id: int) -> dict:
    """Keep only one school's part; SCHOOL is the directory id or the source's id."""
    key = school
    if school.isdigit():
        row = session.get(School, int(school))
        if row is not None and row.district_id == district_id and row.external_id:
            key = row.external_id
    report = dict(report)
    report["schools"] = [s for s in report.get("schools", []) if s.get("school") == key]
    if not report["schools"]:
        raise NotFound(f"school {school} has no changes in run {report['run_id']}")
    return report


@click.command("report")
@click.argument("slug")
@click.option("--run", "run_id", type=int, help="A run id (default: the newest run).")
@click.option("--school", help="Only this school (directory id or the source's id).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to this file.")
@click.pass_context
def report_command(ctx, slug, run_id, school, fmt, output) -> None:
    """Print a run's report: JSON, CSV (one row per change and problem), or a self-contained HTML page."""
    with app_of(ctx).session() as s:
        d = get_district(s, slug)
        stmt = select(SyncRun).where(SyncRun.district_id == d.id)
        run = s.scalar(stmt.where(SyncRun.id == run_id) if run_id else stmt.order_by(SyncRun.id.desc()).limit(1))
        if run is None:
            raise NotFound(f"run {run_id} of {slug} not found" if run_id else f"no runs yet for {slug}")
        report = run.report or {"run_id": run.id, "status": run.status, "district": slug}
        if school:
            report = _school_filter(report, school, s, d.id)
        trend = [trend_item(r.report) for r in reversed(list(s.scalars(
            stmt.where(SyncRun.id <= run.id, SyncRun.report.is_not(None)).order_by(SyncRun.id.desc()).limit(20))))]
    text = {"json": lambda: render_json(report), "csv": lambda: render_csv(report),
            "html": lambda: render_html(report, trend)}[fmt]()
    if output:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        click.echo(f"report of run {report['run_id']} written to {output}")
    else:
        click.echo(text, nl=not text.endswith("\n"))


def register(cli: click.Group) -> None:
    for command in (sync_command, resync_command, approve_command, runs_command, report_command):
        cli.add_command(command)

