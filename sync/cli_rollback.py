"""CLI: `rostersync rollback RUN --reason TEXT [--force] [--dry-run] [--json]` (support).

Exit codes: 0 rolled back (or, with --dry-run, it would be); 10 refused because records the run changed
were changed again later (named on stdout and in the error line; --force goes ahead); 5 a run that
cannot be rolled back (already rolled back, a dry run, failed, nothing changed); 4 an unknown run;
1 a sync of the district in progress.
"""

from __future__ import annotations

import click

from directory.errors import Conflict
from sync.cli_support import app_of, emit, json_option
from sync.rollback import refusal_message, rollback_run

RECORD_WORDS = (("created_archived", "archived (created by the run)"),
                ("reverted", "reverted (updated by the run)"),
                ("restored", "restored (archived by the run)"),
                ("archived_again", "archived again (restored by the run)"),
                ("released", "released to hand-made (adopted by the run)"))
PAIR_WORDS = (("removed", "removed (added by the run)"), ("put_back", "put back (removed by the run)"),
              ("reverted", "relationships put back (changed by the run)"))


def _end(e: dict) -> str:
    return f"{e['kind']} {e['external_id'] or '#' + str(e['id'])} {e['name']} (id {e['id']})"


def _conflict_line(c: dict, done: bool) -> str:
    what = " / ".join(_end(e) for e in c["ends"]) if "ends" in c else _end(c)
    if "ends" in c:
        what = f"{c['kind'].replace('_', ' ')}: {what}"
    return (f"    {what}: {'' if done else 'would '}{'; '.join(c['would'])}; changed since by "
            f"{', '.join(c['touched_by'])}")


def render_text(result: dict) -> str:
    status, run = result["status"], f"run {result['run_id']} of {result['district']}"
    head = {"rolled_back": f"{run} rolled back (reason: {result['reason']})",
            "dry_run": f"dry run: rolling back {run} would change (nothing was written):",
            "refused": f"{run} was NOT rolled back: nothing was changed"}[status]
    lines = [head]
    counts = result["counts"]
    for kind, c in counts.items():
        words = PAIR_WORDS if kind in ("enrollments", "classroom_teachers", "guardian_links") else RECORD_WORDS
        parts = [f"{c[key]} {label}" for key, label in words if c.get(key)]
        if kind == "guardians":  # a guardian is removed, not archived
            parts = [p.replace("archived", "removed") for p in parts]
        lines.append(f"  {kind.replace('_', ' ')}: {'; '.join(parts)}")
    if not counts:
        lines.append("  no directory changes to undo")
    inv = result["invitations"]
    if inv["cancelled"]:
        lines.append(f"  invitations {'cancelled' if status == 'rolled_back' else 'to cancel'}, never sent: "
                     f"{len(inv['cancelled'])}")
    if inv["sent"]:
        lines.append(f"  invitations already sent, not unsent: {len(inv['sent'])}")
        lines += [f"    invitation {i['id']} ({i['kind']}) to guardian {i['guardian_id']} {i['guardian']}: "
                  f"{i['status'].replace('_', ' ')}{' by ' + i['channel'] if i['channel'] else ''}"
                  f"{' at ' + i['sent_at'][:19] if i['sent_at'] else ''}" for i in inv["sent"]]
    if inv["in_flight"]:
        lines.append(f"  invitations a relay is sending right now (may arrive): "
                     f"{', '.join(str(i['id']) for i in inv['in_flight'])}")
    if result["conflicts"]:
        label = {"rolled_back": "changed again later, rolled back anyway (--force)",
                 "refused": "changed again later (roll back anyway with --force)",
                 "dry_run": "changed again later: " + ("would be rolled back anyway (--force)" if result["forced"]
                                                       else "the rollback would be refused without --force")}[status]
        lines.append(f"  {len(result['conflicts'])} record(s) {label}:")
        lines += [_conflict_line(c, status == "rolled_back") for c in result["conflicts"]]
    lines += [f"  warning: {w}" for w in result["warnings"]]
    if status != "refused":
        lines += [f"  note: {n}" for n in result["notes"]]
    return "\n".join(lines)


@click.command("rollback")
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--reason", required=True, help="Why (kept in the audit log with every reversal).")
@click.option("--force", is_flag=True,
              help="Roll back even where a later run or a person changed the same records (their changes to "
                   "the same fields and memberships are undone too).")
@click.option("--dry-run", is_flag=True, help="Show what would be undone and any conflicts; change nothing.")
@json_option
@click.pass_context
def rollback_command(ctx, run_id, reason, force, dry_run, as_json) -> None:
    """Support: put the directory back as it was before sync run RUN.

    Records the run created are archived (never deleted), its updates reverted, its archives restored,
    and the enrollments and guardian links it added or removed put back as they were. Its invitations
    still queued are cancelled; those already sent are listed, not unsent. Refused, naming the records,
    where a later run or a manual change touched the same records, unless --force.

    Exit codes: 0 done (or would be, with --dry-run); 10 refused because of later changes (--dry-run
    too, when the rollback would be refused); 5 a run that cannot be rolled back (already rolled back,
    failed, a dry run); 4 unknown run; 1 a sync of the district is in progress.
    """
    app = app_of(ctx)
    outcome = rollback_run(app.engine(), run_id, app.actor_name, reason, force=force, dry_run=dry_run)
    result = outcome.result
    emit(as_json, result, render_text(result))
    if outcome.refused:
        raise Conflict(refusal_message(result))
    if dry_run and result["conflicts"] and not force:
        ctx.exit(Conflict.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(rollback_command)
