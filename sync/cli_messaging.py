"""CLI: invitations, announcements, the messaging relay, delivery events and contact resets.

Sending happens in the relay (messaging/relay.py), after the commit that queued the messages; the
commands that send now (`invitations send|resend`, `announce`) run the relay for just their messages.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import click
from sqlalchemy import select

from directory.districts import get_district
from directory.errors import InvalidInput
from directory.models import Guardian, Invitation
from messaging.announcements import announcement_report, create_announcement, read_list, select_guardians
from messaging.config import load_config
from messaging.contact_status import apply_event, reset_contact
from messaging.events import parse_event
from messaging.invitations import STATUSES, list_invitations, requeue, scope_conditions
from messaging.letters import invitation_letters
from messaging.printing import render_html, render_invitations_pdf
from messaging.relay import Relay, Scope
from sync.cli_support import app_of, emit, json_option


def _relay_text(report: dict, slug: str | None = None) -> str:
    target = f" {slug}" if slug else " DISTRICT"
    if report["dry_run"]:
        w = report["would_send"]
        lines = [f"dry run: would send {w['email'] + w['sms']} message(s) ({w['email']} email, {w['sms']} sms; "
                 f"{report['fallbacks']} by the fallback channel); nothing was sent"]
    else:
        s = report["sent"]
        lines = [f"sent {report['total_sent']} message(s) ({s['email']} email, {s['sms']} sms; "
                 f"{report['fallbacks']} by the fallback channel)"]
    if report["unreachable"]:
        lines.append(f"  {len(report['unreachable'])} could not be reached (no usable email or mobile number): "
                     f"`rostersync invitations list{target} --status unreachable`")
    if report["failed"]:
        lines.append(f"  {len(report['failed'])} failed on every channel: `rostersync invitations list{target} --status failed`")
    if report["deferred"]:
        lines.append(f"  {len(report['deferred'])} deferred (the provider could not take them now); retried later")
    if report["in_doubt"]:
        lines.append(f"  {len(report['in_doubt'])} in doubt (handed over, outcome unknown; not resent): check the "
                     f"provider, then `rostersync invitations resend{target} ID` if it never arrived")
    if report["cancelled"]:
        lines.append(f"  {len(report['cancelled'])} cancelled (the guardian joined or was removed meanwhile)")
    rec = report["recovered"]
    if any(rec.values()):
        lines.append(f"  recovered from an interrupted relay: {rec['sent']} already sent, {rec['requeued']} never "
                     f"sent (sent now), {rec['released']} released, {rec['in_doubt']} in doubt")
    if report["transport"].get("outbox"):
        lines.append(f"  no SMTP or SMS provider configured: messages are files in {report['transport']['outbox']}")
    return "\n".join(lines)


def _run_relay(ctx, scope: Scope, dry_run: bool) -> dict:
    relay = Relay(app_of(ctx).engine(), load_config(), scope, dry_run=dry_run)
    return relay.run_once().as_dict()


# -- invitations -------------------------------------------------------------------------------------------
@click.group()
def invitations() -> None:
    """List, send, resend and print invitations (open on synced schools too)."""


def _scope_options(f):
    f = click.option("--classroom", "classroom_id", type=int, help="Only guardians of this classroom's students.")(f)
    return click.option("--school", "school_id", type=int, help="Only guardians of this school's students.")(f)


@invitations.command("list")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--status", type=click.Choice(STATUSES), help="Only invitations in this state.")
@_scope_options
@click.option("--limit", type=int, default=None, help="At most this many (oldest first).")
@json_option
@click.pass_context
def invitations_list(ctx, district_slug, status, school_id, classroom_id, limit, as_json) -> None:
    """Invitations and class notices with their state, channel and masked contacts."""
    with app_of(ctx).session() as s:
        district = get_district(s, district_slug)
        rows = list_invitations(s, scope_conditions(s, district, school_id, classroom_id), status, limit)
    text = "\n".join(f"{r['id']}\t{r['kind']}\t{r['status']}\tguardian {r['guardian_id']} {r['guardian_name']}"
                     f"\t{r['channel'] or '-'}\t{r['error'] or ''}".rstrip() for r in rows)
    emit(as_json, rows, text or "no invitations")


@invitations.command("send")
@click.argument("district_slug", metavar="DISTRICT")
@_scope_options
@click.option("--dry-run", is_flag=True, help="Show who would get what by which channel; send nothing.")
@json_option
@click.pass_context
def invitations_send(ctx, district_slug, school_id, classroom_id, dry_run, as_json) -> None:
    """Send the district's queued invitations now (what the relay does, for this district only)."""
    with app_of(ctx).session() as s:
        district = get_district(s, district_slug)
        conditions = scope_conditions(s, district, school_id, classroom_id)
    report = _run_relay(ctx, Scope(district.id, ("invitation",), conditions), dry_run)
    emit(as_json, report, _relay_text(report, district_slug))


@invitations.command("resend")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("invitation_ids", type=int, nargs=-1, metavar="[INVITATION_ID]...")
@_scope_options
@click.option("--queue-only", is_flag=True, help="Queue them for the relay instead of sending now.")
@json_option
@click.pass_context
def invitations_resend(ctx, district_slug, invitation_ids, school_id, classroom_id, queue_only, as_json) -> None:
    """Send invitations again: the ones named, or all pending ones of a school or classroom.

    The join code stays the same. This is also how an invitation in doubt is sent again, once a person
    has checked that it never arrived.
    """
    if not invitation_ids and school_id is None and classroom_id is None:
        raise InvalidInput("name invitation ids, or --school or --classroom")
    with app_of(ctx).session() as s:
        district = get_district(s, district_slug)
        conditions = scope_conditions(s, district, school_id, classroom_id, tuple(invitation_ids))
        queued, skipped = requeue(s, conditions, single=bool(invitation_ids))
    result: dict = {"district": district_slug, "queued": queued, "skipped": skipped, "relay": None}
    if queued and not queue_only:
        result["relay"] = _run_relay(ctx, Scope(district.id, ("invitation",), (Invitation.id.in_(queued),)), False)
    text = f"{len(queued)} invitation(s) queued again, {len(skipped)} left alone" + "".join(
        f"\n  {k['id']}: {k['reason']}" for k in skipped)
    if result["relay"]:
        text += "\n" + _relay_text(result["relay"], district_slug)
    emit(as_json, result, text)


@invitations.command("print")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("invitation_ids", type=int, nargs=-1, metavar="[INVITATION_ID]...")
@_scope_options
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write.")
@json_option
@click.pass_context
def invitations_print(ctx, district_slug, invitation_ids, school_id, classroom_id, fmt, output, as_json) -> None:
    """Print invitations, a page per guardian with the join code (guardians who have not joined)."""
    config = load_config()
    with app_of(ctx).session() as s:
        district = get_district(s, district_slug)
        conditions = scope_conditions(s, district, school_id, classroom_id, tuple(invitation_ids))
        newest: dict[int, Invitation] = {}
        for inv, g in s.execute(select(Invitation, Guardian).join(Guardian, Guardian.id == Invitation.guardian_id)
                                .where(*conditions, Invitation.kind == "invite", Guardian.state == "pending",
                                       Guardian.status == "active").order_by(Invitation.id)):
            newest[g.id] = inv
        items = sorted(newest.values(), key=lambda i: i.id)
        letters_by_id = invitation_letters(s, items, config.join_url)
        letters = [letters_by_id[i.id] for i in items]
    if not letters:
        raise InvalidInput("no pending invitation to print for that selection")
    if fmt == "pdf":
        output.write_bytes(render_invitations_pdf(letters))
    else:
        output.write_text(render_html(letters), encoding="utf-8")
    emit(as_json, {"file": str(output), "format": fmt, "pages": len(letters),
                   "invitation_ids": [i.id for i in items]},
         f"{len(letters)} invitation page(s) written to {output}")


# -- announcements -----------------------------------------------------------------------------------------
@click.command("announce")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--subject", help="The subject line (email) and first words (SMS).")
@click.option("--message", "body", help="The message text.")
@click.option("--message-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the message text from this file.")
@click.option("--classroom", "classroom_ids", type=int, multiple=True, help="Guardians of this classroom (repeat).")
@click.option("--student", "student_ids", type=int, multiple=True, help="Guardians of this student (repeat).")
@click.option("--guardian", "guardian_ids", type=int, multiple=True, help="This guardian (repeat).")
@click.option("--list", "list_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file with one guardian id, email or mobile number per line.")
@click.option("--dry-run", is_flag=True, help="Show who would get it by which channel; store and send nothing.")
@click.option("--queue-only", is_flag=True, help="Queue it for the relay instead of sending now.")
@click.option("--show", "show_id", type=int, metavar="ID", help="Show the report of an earlier announcement.")
@json_option
@click.pass_context
def announce(ctx, district_slug, subject, body, message_file, classroom_ids, student_ids, guardian_ids, list_file,
             dry_run, queue_only, show_id, as_json) -> None:
    """Send a message to selected families, by classroom, student or list, with the delivery policy of
    invitations; prints who got it by which channel and who could not be reached."""
    app = app_of(ctx)
    if show_id is not None:
        with app.session() as s:
            report = announcement_report(s, get_district(s, district_slug), show_id)
        emit(as_json, report, _announcement_text(report))
        return
    if message_file is not None:
        body = message_file.read_text(encoding="utf-8")
    if not subject or not body:
        raise InvalidInput("an announcement needs --subject and --message (or --message-file)")
    if not (classroom_ids or student_ids or guardian_ids or list_file):
        raise InvalidInput("choose the families: --classroom, --student, --guardian or --list")
    audience = {"classrooms": list(classroom_ids), "students": list(student_ids), "guardians": list(guardian_ids),
                "list": str(list_file) if list_file else None}
    with app.session() as s:
        district = get_district(s, district_slug)
        ids, emails, phones = read_list(list_file, district) if list_file else ([], [], [])
        chosen = select_guardians(s, district, classroom_ids, student_ids, list(guardian_ids) + ids, emails, phones)
        if not dry_run:
            announcement = create_announcement(s, district, app.actor_name, subject, body, audience, chosen)
            announcement_id = announcement.id
    if dry_run:
        report = _dry_run_announcement(ctx, district, chosen)
        emit(as_json, report, f"dry run: {report['recipients']} guardian(s); would send "
             f"{report['would_send']['email']} email and {report['would_send']['sms']} sms; "
             f"{len(report['unreachable'])} unreachable; nothing was stored or sent")
        return
    relay = None
    if not queue_only:
        relay = _run_relay(ctx, Scope(district.id, ("announcement",), announcement_id=announcement_id), False)
    with app.session() as s:
        report = announcement_report(s, district, announcement_id)
    report["relay"] = relay
    emit(as_json, report, _announcement_text(report))


def _dry_run_announcement(ctx, district, guardian_ids: list[int]) -> dict:
    from messaging.policy import choose_channel
    from messaging.relay import contact_points

    config = load_config()
    would = {"email": 0, "sms": 0}
    unreachable = []
    with app_of(ctx).session() as s:
        for g in s.scalars(select(Guardian).where(Guardian.id.in_(guardian_ids))) if guardian_ids else []:
            choice = choose_channel(district.default_channel, contact_points(g), config.channels)
            if choice.channel:
                would[choice.channel] += 1
            else:
                unreachable.append({"guardian_id": g.id, "name": f"{g.given_name} {g.family_name}".strip(),
                                    "reasons": choice.blocked})
    return {"dry_run": True, "district": district.slug, "recipients": len(guardian_ids), "would_send": would,
            "unreachable": unreachable}


def _announcement_text(report: dict) -> str:
    lines = [f"announcement {report['announcement_id']} \"{report['subject']}\": {report['recipients']} guardian(s); "
             f"{report['by_channel']['email']} by email, {report['by_channel']['sms']} by sms, "
             f"{len(report['unreachable'])} not reached, {len(report['pending'])} pending"]
    lines += [f"  not reached: guardian {u['guardian_id']} {u['name']}: {u['reason']}" for u in report["unreachable"]]
    lines += [f"  pending: guardian {p['guardian_id']} {p['name']}: {p['status']}" for p in report["pending"]]
    return "\n".join(lines)


# -- messaging: relay and events -----------------------------------------------------------------------------
@click.group()
def messaging() -> None:
    """The messaging relay and delivery events (bounces, complaints, SMS status, STOP)."""


@messaging.command("relay")
@click.option("--once", is_flag=True, help="Deliver what is queued now, then exit (for cron and tests).")
@click.option("--district", "district_slug", help="Only this district's messages.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent by which channel; send nothing.")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
              help="Seconds between looks at the queue (without --once).")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@click.pass_context
def messaging_relay(ctx, once, district_slug, dry_run, interval, batch_size, as_json) -> None:
    """Deliver queued invitations, class notices and announcements (safe to run several at once).

    Each message is recorded before it is handed to the provider; a relay that was killed is recovered
    by the next one, which asks the provider or the delivery log what happened and never sends blindly.
    """
    app = app_of(ctx)
    config = load_config()
    scope = Scope()
    if district_slug:
        with app.session() as s:
            scope = Scope(get_district(s, district_slug).id)
    if once or dry_run:
        report = Relay(app.engine(), config, scope, batch_size=batch_size, dry_run=dry_run).run_once().as_dict()
        emit(as_json, report, _relay_text(report, district_slug))
        return
    stop = {"now": False}

    def _stop(*_):  # finish the message in hand, then leave
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop["now"]:
        report = Relay(app.engine(), config, scope, batch_size=batch_size).run_once().as_dict()
        if report["total_sent"] or report["unreachable"] or report["in_doubt"] or report["failed"] or any(
                report["recovered"].values()):
            click.echo(json.dumps(report, sort_keys=True) if as_json else _relay_text(report, district_slug))
            sys.stdout.flush()
        slept = 0.0
        while slept < interval and not stop["now"]:
            time.sleep(min(0.2, interval))
            slept += 0.2


def _read_events(path: str) -> list[dict]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        try:  # JSON lines: one event per line, as webhooks are often logged
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise InvalidInput(f"{path}: not JSON or JSON lines ({exc})") from None
    return data if isinstance(data, list) else [data]


@messaging.command("event")
@click.argument("file", metavar="FILE")
@json_option
@click.pass_context
def messaging_event(ctx, file, as_json) -> None:
    """Apply delivery events from a JSON file (an object, a list, or JSON lines; - for stdin): bounces,
    complaints, SMS status callbacks, STOP/START. All or none: a bad event changes nothing."""
    raw = _read_events(file)
    events = []
    for index, item in enumerate(raw):
        try:
            events.append(parse_event(item))
        except ValueError as exc:
            raise InvalidInput(f"{file}, event {index + 1}: {exc}") from None
    with app_of(ctx).session() as s:
        results = [apply_event(s, e) for e in events]
    summary = {"events": len(results), "matched": sum(r["matched"] for r in results),
               "unmatched": sum(not r["matched"] for r in results),
               "requeued": sum(r["requeued"] is not None for r in results), "results": results}
    emit(as_json, summary, f"{summary['events']} event(s): {summary['matched']} matched, {summary['unmatched']} "
         f"unmatched; {summary['requeued']} message(s) queued again for the other channel")


# -- contact ------------------------------------------------------------------------------------------------
@click.group()
def contact() -> None:
    """A guardian's contact points: delivery status."""


@contact.command("reset")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("guardian_id", type=int)
@click.option("--channel", type=click.Choice(["email", "sms"]), help="Only this channel (default: both).")
@json_option
@click.pass_context
def contact_reset(ctx, district_slug, guardian_id, channel, as_json) -> None:
    """Mark a guardian's email and/or number as working again (after the family fixed it), so the preferred
    channel is used again. An SMS opt-out (STOP) is kept: only the family lifts it, by texting START."""
    app = app_of(ctx)
    with app.session() as s:
        result = reset_contact(s, app.actor(), get_district(s, district_slug), guardian_id, channel)
    text = (f"guardian {guardian_id}: {', '.join(result['reset'])} reset to ok" if result["reset"]
            else f"guardian {guardian_id}: nothing to reset")
    if result["kept_opted_out"]:
        text += " (text messages stay opted out: only the family can opt back in, by texting START)"
    emit(as_json, result, text)


def register(cli: click.Group) -> None:
    for command in (invitations, announce, messaging, contact):
        cli.add_command(command)
