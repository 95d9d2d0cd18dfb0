"""The run report for people and tools: JSON (tools), CSV (a spreadsheet), one HTML page (a school leader).

The report dict (see sync/report.py and sync/run.py) is the single source; these functions only present
it. They never query the database, so a stored report renders the same way years later. A report may be
partial: a run that died mid-way (sync/lease.py) leaves little more than a status and an error, so every
key is read with a default.

The HTML page is self-contained on purpose: it is mailed, attached to tickets and opened offline, so it
loads nothing (no scripts, fonts, images or style sheets from anywhere) and the trend chart is inline SVG.
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

import jinja2

from directory.csvsafe import neutralize, write_rows

CSV_COLUMNS = ("run_id", "school_id", "school", "kind", "action", "record_id", "name", "details", "file", "line",
               "field")

# The order a reader meets the actions in, in the CSV and on the page.
ACTIONS = ("created", "updated", "archived", "restored", "adopted", "held")
SCHOOL_KINDS = ("students", "classrooms")
TREND_RUNS = 20
# A code with thousands of rows (a whole file of guardians without contacts) would bury every other
# problem on the page; the CSV export always has all of them.
PROBLEMS_PER_CODE = 200
# report["held"]["students"] is not capped by sync/report.py; the page caps it per school like the rest.
HELD_NAMES_PER_SCHOOL = 100

RECORD_KINDS = ("schools", "teachers", "classrooms", "students", "guardians")
LINK_KINDS = ("enrollments", "classroom_teachers", "guardian_links")

# (one, many): for sentences such as "Also held: 1 class to archive".
KIND_NOUNS = {
    "schools": ("school", "schools"), "teachers": ("teacher", "teachers"), "classrooms": ("class", "classes"),
    "students": ("student", "students"), "guardians": ("guardian", "guardians"),
    "enrollments": ("student–class link", "student–class links"),
    "classroom_teachers": ("teacher–class link", "teacher–class links"),
    "guardian_links": ("guardian–student link", "guardian–student links"),
}

KIND_LABELS = {
    "schools": "Schools", "teachers": "Teachers", "classrooms": "Classes", "students": "Students",
    "guardians": "Parents and guardians", "enrollments": "Students in classes",
    "classroom_teachers": "Teachers of classes", "guardian_links": "Guardian–student links",
}

STATUS = {  # label, badge colour (white text on each passes WCAG AA for normal text)
    "succeeded": ("Succeeded", "#1a7f37"),
    "held": ("Held for approval", "#9a6700"),
    "failed": ("Failed", "#cf222e"),
    "running": ("Still running", "#57606a"),
    "rolled_back": ("Rolled back", "#8250df"),
}
UNKNOWN_STATUS_COLOUR = "#57606a"

SOURCE_LABELS = {"oneroster-csv": "OneRoster CSV files", "clever-csv": "Clever CSV files", "clever": "Clever",
                 "classlink": "ClassLink", "oneroster": "OneRoster"}

FIELD_LABELS = {"school_id": "school", "given_name": "first name", "family_name": "last name",
                "student_number": "student number", "birth_date": "birth date", "school_number": "school number"}

# What a school leader reads above each group of problems. Codes not listed fall back to the code in
# words, so a new code in a connector still shows up, just less nicely.
PROBLEM_HEADINGS = {
    # rows in the SIS export
    "missing_value": "Required values that are blank",
    "duplicate_id": "The same ID used on more than one row",
    "invalid_date": "Dates in the wrong format",
    "invalid_status": "Rows with an unknown status",
    "invalid_value": "Values the roster format does not allow",
    "no_school": "People or classes without a school",
    "no_role": "Users without a usable role",
    "role_mismatch": "Users whose roles contradict each other",
    "unknown_reference": "References to records that are not in the export",
    "rejected_reference": "References to records that were skipped because of another problem",
    "inconsistent_rows": "Rows for the same record that disagree",
    "unkeyed_contact": "Contacts without an ID",
    "agent_not_guardian": "Guardian links that point to someone who is not a guardian",
    "agent_not_student": "Guardian links that point to someone who is not a student",
    "wrong_field_count": "Rows with the wrong number of columns",
    "manifest_missing_entry": "Files the manifest does not list",
    "manifest_value": "Manifest entries this sync does not use",
    "file_ignored": "Files that were ignored",
    "empty_kind": "Files with no usable rows",
    # guardians and their contacts
    "guardian_no_contact": "Guardians without an email or mobile number",
    "guardian_without_student": "Guardians not linked to any student",
    "invalid_email": "Email addresses that are not valid",
    "invalid_phone": "Phone numbers that are not valid",
    "phone_not_mobile": "Phone numbers that cannot receive text messages",
    "email_phone_conflict": "Contacts already used by another family",
    "conflicting_guardian_rows": "Guardian rows that disagree",
    "joined_contact_differs": "Contacts that differ from what the family set up",
    "excluded_contact_type": "Contacts of a type that is not synced",
    "too_many_guardians": "Students with more guardians than the directory allows",
    "unknown_student": "Guardian rows for students who are not in the export",
    "unmatched_manual_student": "Students added by hand who are not in the SIS",
    # the run as a whole (not always the SIS's fault: the heading says who acts)
    "drop_csv_format_error": "A roster file could not be read",
    "drop_incomplete_drop": "The roster upload is incomplete",
    "drop_drop_error": "The roster upload could not be taken",
    "drop_drop_folder_missing": "The upload folder is missing",
    "drop_drop_transient_error": "The upload could not be reached (will be retried)",
    "drop_authentication_failed": "The SFTP login was refused",
    "drop_host_key_rejected": "The SFTP server's identity did not match",
    "configuration": "The connection to the SIS is not set up correctly",
    "interrupted": "The run was interrupted (not a problem in the SIS)",
    "runinprogress": "Another sync was already running",
    "databaseunavailable": "The directory database could not be reached (not a problem in the SIS)",
    "internal_error": "Rostersync hit an unexpected error (not a problem in the SIS; please report it)",
}


# -- JSON -------------------------------------------------------------------------------------------------

def render_json(report: dict) -> str:
    # default=str: a report read back from the database is plain JSON already, but one still in memory
    # may hold a datetime; a report must always be printable.
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


# -- CSV --------------------------------------------------------------------------------------------------

def render_csv(report: dict) -> str:
    """One row per change (per school) and per problem; formula-like cells are neutralized."""
    out = io.StringIO()
    write_rows(out, CSV_COLUMNS, ([_cell(v) for v in row] for row in _csv_rows(report)))
    return out.getvalue()


def _cell(value) -> str:
    """A cell with no carriage return in it.

    csv.writer with lineterminator="\n" does not quote a field that holds a bare CR, and every CSV reader
    (Python's, Excel's) then splits the row there; a CR in a SIS name or message would shift the columns of
    everything after it. Neutralizing first keeps a leading CR (a formula trigger) marked; write_rows
    neutralizes again, which leaves an already-neutralized cell as it is.
    """
    return neutralize(value).replace("\r\n", "\n").replace("\r", "\n")


def _csv_rows(report: dict) -> Iterable[list]:
    run_id = report.get("run_id")
    names = _school_names(report)
    for school in report.get("schools") or []:
        sid, sname = school.get("school"), school.get("name") or school.get("school") or "(no school)"
        for kind in SCHOOL_KINDS:
            actions = school.get(kind) or {}
            for action in _ordered(actions):
                group = actions[action] or {}
                items = group.get("items") or []
                for item in items:
                    yield [run_id, sid, sname, kind, action, item.get("id"), item.get("name"),
                           _change_details(item, names), None, None, None]
                more = (group.get("count") or 0) - len(items)
                if more > 0:
                    # The report caps name lists; a spreadsheet reader must not take the rows for all of them.
                    yield [run_id, sid, sname, kind, action, None, None,
                           f"and {more} more not listed (lists are capped in the report; the count is complete)",
                           None, None, None]
    for problem in _problems_in_order(report):
        yield [run_id, None, None, "problem", problem["severity"], problem.get("record"), problem.get("code"),
               problem.get("message"), problem.get("file"), problem.get("line"),
               problem.get("field") or problem.get("column")]


def _change_details(item: dict, school_names: dict[str, str]) -> str:
    parts = []
    fields = [f for f in item.get("fields") or [] if not (f == "school_id" and item.get("moved_from"))]
    if fields:
        parts.append("changed: " + ", ".join(_field_label(f) for f in fields))
    if item.get("moved_from"):
        parts.append("moved from " + _school_label(item["moved_from"], school_names))
    return "; ".join(parts)


# -- trend ------------------------------------------------------------------------------------------------

def trend_item(report: dict) -> dict:
    """The few numbers of one run that the trend chart plots; store them per run, or derive them here."""
    counts = report.get("counts") or {}

    def total(action: str) -> int:
        return sum((counts.get(kind) or {}).get(action, 0) or 0 for kind in RECORD_KINDS)

    return {"run_id": report.get("run_id"), "started_at": report.get("started_at"), "status": report.get("status"),
            "created": total("created"), "updated": total("updated"), "archived": total("archived"),
            "errors": len(report.get("errors") or []), "warnings": len(report.get("warnings") or [])}


# -- HTML -------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # autoescape=True, not select_autoescape: every value on the page is data from a SIS export, which a
    # district does not control (a student's name can be anything), and the page must never run it.
    return jinja2.Environment(loader=jinja2.PackageLoader("sync", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(report: dict, trend: list[dict] | None = None) -> str:
    """One self-contained page a school leader can read (and print)."""
    return _environment().get_template("report.html").render(**page_context(report, trend or []))


def page_context(report: dict, trend: list[dict]) -> dict[str, Any]:
    status = report.get("status") or "running"
    label = STATUS.get(status, (status.capitalize(),))[0]
    names = _school_names(report)
    errors, warnings = _problems(report, "errors"), _problems(report, "warnings")
    counts = report.get("counts") or {}
    return {
        "run_id": report.get("run_id"),
        "district": report.get("district_name") or report.get("district") or "(unknown district)",
        "status": status, "status_label": label,
        "dry_run": bool(report.get("dry_run")),
        "started": _when(report.get("started_at")),
        "duration": _duration(report.get("started_at"), report.get("finished_at")),
        "source": SOURCE_LABELS.get(report.get("source") or "", report.get("source") or "unknown"),
        "mode": {"full": "Full roster", "delta": "Changes only (delta)"}.get(report.get("mode") or "",
                                                                          report.get("mode") or "unknown"),
        "trigger": _trigger(report),
        "directory": _sentence(report.get("directory")),
        "directory_state": report.get("directory_state"),
        "drop": _drop(report.get("drop")),
        "summary": _summary_sentence(report, counts, errors, warnings),
        "notes": [n for n in report.get("notes") or [] if n],
        "count_rows": _count_rows(counts),
        "adopted_note": any((counts.get(k) or {}).get("adopted") for k in RECORD_KINDS),
        "invitations": _invitations(report),
        "held": _held(report, names),
        "unreachable": report.get("unreachable") or [],
        "schools": [_school(s, names, approved=bool(report.get("approved"))) for s in report.get("schools") or []],
        "problem_groups": _problem_groups(errors) + _problem_groups(warnings),
        "error_count": len(errors), "warning_count": len(warnings),
        "trend": _trend(trend, report.get("run_id")),
        "statuses": [{"label": lab, "colour": col} for lab, col in STATUS.values()],
    }


def _sentence(text: str | None) -> str | None:
    if not text:
        return None
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _parse(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _when(value, weekday: bool = True) -> str | None:
    """A date a person reads ("Mon 2 Sep 2024, 06:00 UTC"); the zone is shown, never converted, since the
    report does not know the reader's zone."""
    moment = _parse(value)
    if moment is None:
        return str(value) if value else None
    text = (f"{moment:%a} " if weekday else "") + f"{moment.day} {moment:%b %Y, %H:%M}"
    offset = moment.utcoffset()
    if offset is None:
        return text
    if not offset:
        return text + " UTC"
    return text + " UTC" + moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]


def _short_when(value) -> str:
    moment = _parse(value)
    if moment is None:
        return str(value or "")
    return f"{moment.day} {moment:%b %H:%M}"


def _duration(start, end) -> str | None:
    a, b = _parse(start), _parse(end)
    if a is None or b is None or (a.tzinfo is None) != (b.tzinfo is None):
        return None
    seconds = int((b - a).total_seconds())
    if seconds < 0:
        return None
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _trigger(report: dict) -> str:
    trigger = report.get("trigger") or "manual"
    text = {"manual": "Started by hand", "scheduled": "Scheduled", "schedule": "Scheduled",
            "resync": "Resync requested by support"}.get(trigger, trigger.capitalize())
    if report.get("requested_by"):
        text += f" ({report['requested_by']})"
    if report.get("reason"):
        text += f": {report['reason']}"
    return text


def _drop(drop: dict | None) -> dict | None:
    if not drop:
        return None
    files = drop.get("files") or {}
    return {"source": drop.get("source"), "fingerprint": (drop.get("fingerprint") or "")[:12] or None,
            "files": [{"name": n, "size": _size(s)} for n, s in sorted(files.items())],
            "ignored": list(drop.get("ignored") or [])}


def _size(n) -> str:
    try:
        n = int(n)
    except (TypeError, ValueError):
        return str(n)
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _summary_sentence(report: dict, counts: dict, errors: list, warnings: list) -> str:
    """The page's first paragraph: what happened, in one breath."""
    status = report.get("status")
    if status == "failed":
        first = (f"Nothing was changed. Fix the {'problem' if len(errors) <= 1 else 'problems'} listed below, "
                 "then run the sync again.")
    elif status == "running":
        first = "This run has not finished yet; the numbers below may change."
    else:
        students = counts.get("students") or {}
        bits = [f"{students.get(a, 0)} {w}" for a, w in (("created", "added"), ("updated", "updated"),
                                                          ("archived", "archived"), ("restored", "restored"))
                if students.get(a)]
        where = _plural(len(report.get("schools") or []), "school")
        if not bits:
            first = "No student was added, changed or archived."
        elif report.get("dry_run"):
            first = f"A real run would change students: {', '.join(bits)}, in {where}."
        else:
            first = f"Students: {', '.join(bits)}, in {where}."
        held = report.get("held")
        if held:
            leaving = _plural(len(held.get("students") or []), "student")
            if report.get("approved"):
                first += f" The removals held back ({leaving} leaving) were approved and applied."
            elif report.get("dry_run"):
                first += f" {leaving} would leave, more than usual: a real run would hold them for approval."
            else:
                first += f" {leaving} would leave, which is more than usual: those removals wait for approval."
    found = [_plural(len(p), word) for p, word in ((errors, "error"), (warnings, "warning")) if p]
    if found and status != "failed":
        first += f" {' and '.join(found)} to fix, listed below."
    return first


def _count_rows(counts: dict) -> list[dict]:
    rows = []
    for kind in RECORD_KINDS + LINK_KINDS:
        c = counts.get(kind)
        if c is None:
            continue
        is_link = kind in LINK_KINDS
        rows.append({
            "label": KIND_LABELS.get(kind, kind), "link": is_link,
            "created": c.get("added" if is_link else "created"),
            "updated": c.get("updated"),
            "archived": c.get("removed" if is_link else "archived"),
            "restored": None if is_link else c.get("restored"),
            "adopted": None if is_link else c.get("adopted"),
            "unchanged": None if is_link else c.get("unchanged"),
        })
    # Kinds a later version adds still show, after the known ones.
    for kind, c in counts.items():
        if kind not in RECORD_KINDS + LINK_KINDS and isinstance(c, dict):
            rows.append({"label": kind.replace("_", " ").capitalize(), "link": False,
                         "created": c.get("created", c.get("added")), "updated": c.get("updated"),
                         "archived": c.get("archived", c.get("removed")), "restored": c.get("restored"),
                         "adopted": c.get("adopted"), "unchanged": c.get("unchanged")})
    return rows


def _invitations(report: dict) -> str | None:
    if report.get("dry_run") and report.get("invitations_planned"):
        return f"{_plural(report['invitations_planned'], 'invitation')} to families would be sent in a real run."
    if report.get("invitations_queued"):
        return f"{_plural(report['invitations_queued'], 'invitation')} to families queued for sending."
    return None


def _school_names(report: dict) -> dict[str, str]:
    return {s.get("school"): s.get("name") for s in report.get("schools") or [] if s.get("school") and s.get("name")}


def _school_label(school_id, names: dict[str, str]) -> str:
    if not school_id:
        return "(no school)"
    return names.get(school_id) or str(school_id)


def _field_label(field: str) -> str:
    return FIELD_LABELS.get(field, field.replace("_", " "))


def _ordered(actions: dict) -> list[str]:
    return [a for a in ACTIONS if a in actions] + sorted(a for a in actions if a not in ACTIONS)


ACTION_TITLES = {
    # (students, classes)
    "created": ("New students", "New classes"),
    "updated": ("Students whose details changed", "Classes whose details changed"),
    "moved": ("Students who moved here from another school", "Classes moved here from another school"),
    "archived": ("Students who left (archived)", "Classes that ended (archived)"),
    "restored": ("Students who came back (restored)", "Classes restored"),
    "adopted": ("Students added by hand, now matched to the SIS", "Classes added by hand, now matched to the SIS"),
    "held": ("Students who would leave (held for approval)", "Classes that would end (held for approval)"),
    "approved": ("Students who left (archived after approval)", "Classes that ended (archived after approval)"),
}
ACTION_TONES = {"created": "add", "restored": "add", "archived": "remove", "held": "hold", "updated": "change",
                "moved": "change", "adopted": "change"}
DISPLAY_ORDER = ("created", "moved", "updated", "restored", "adopted", "archived", "held")


def _school(entry: dict, names: dict[str, str], approved: bool = False) -> dict:
    kinds = []
    for kind in SCHOOL_KINDS:
        actions = entry.get(kind) or {}
        groups: dict[str, dict] = {}
        for action, group in actions.items():
            group = group or {}
            items = [_item(i, names) for i in group.get("items") or []]
            count = group.get("count") or len(items)
            if action == "updated":
                # Moves are updates of school_id; a leader looks for them separately. If the updated list
                # is capped, the moves beyond the cap are unknown, so "and N more" stays on the updated group.
                moved = [i for i in items if i["moved_from"]]
                items = [i for i in items if not i["moved_from"]]
                if moved:
                    groups["moved"] = {"count": len(moved), "items": moved, "more": 0}
                count -= len(moved)
            groups[action] = {"count": count, "items": items, "more": max(count - len(items), 0)}
        order = [a for a in DISPLAY_ORDER if a in groups] + sorted(a for a in groups if a not in DISPLAY_ORDER)
        shown = [{"action": a, "title": _action_title(a, kind, approved), "tone": ACTION_TONES.get(a, "change"),
                  **groups[a]} for a in order if groups[a]["count"] or groups[a]["items"]]
        if shown:
            kinds.append({"kind": kind, "label": KIND_LABELS[kind], "groups": shown})
    chips = []
    for k in kinds:
        for g in k["groups"]:
            noun = ("student", "students") if k["kind"] == "students" else ("class", "classes")
            chips.append({"text": _chip(g["count"], g["action"], noun[g["count"] != 1], approved),
                          "tone": "remove" if approved and g["action"] == "held" else g["tone"]})
    return {"id": entry.get("school"), "name": entry.get("name") or _school_label(entry.get("school"), names),
            "kinds": kinds, "chips": chips}


def _chip(n: int, action: str, noun: str, approved: bool = False) -> str:
    if action == "created":
        return f"{n} new {noun}"
    held = "archived after approval" if approved else "held for approval"
    return f"{n} {noun} " + {"moved": "moved in", "held": held}.get(action, action)


def _action_title(action: str, kind: str, approved: bool = False) -> str:
    if action == "held" and approved:
        action = "approved"
    titles = ACTION_TITLES.get(action)
    if titles is None:
        return f"{KIND_LABELS.get(kind, kind)}: {action}"
    return titles[0] if kind == "students" else titles[1]


def _item(item: dict, names: dict[str, str]) -> dict:
    fields = [f for f in item.get("fields") or [] if not (f == "school_id" and item.get("moved_from"))]
    return {"id": item.get("id"), "name": item.get("name") or item.get("id") or "(no name)",
            "fields": [_field_label(f) for f in fields],
            "moved_from": _school_label(item["moved_from"], names) if item.get("moved_from") else None}


def _held(report: dict, names: dict[str, str]) -> dict | None:
    held = report.get("held")
    if not held:
        return None
    by_school: dict[Any, list] = {}
    for s in held.get("students") or []:
        by_school.setdefault(s.get("school"), []).append(s)
    schools_over = [{"name": _school_label(s.get("school"), names), "id": s.get("school"), "active": s.get("active"),
                     "leaving": s.get("leaving"), "percent": s.get("percent")} for s in held.get("schools") or []]
    leaving = []
    for school, students in sorted(by_school.items(), key=lambda kv: _school_label(kv[0], names).lower()):
        students = sorted(students, key=lambda s: (_natural(s.get("name")), _natural(s.get("id"))))
        leaving.append({"name": _school_label(school, names), "count": len(students),
                        "items": students[:HELD_NAMES_PER_SCHOOL],
                        "more": max(len(students) - HELD_NAMES_PER_SCHOOL, 0)})
    removals = held.get("removals") or {}
    other = []
    for kind, ids in sorted((removals.get("archives") or {}).items()):
        if kind != "students" and ids:
            other.append(f"{_count_of(len(ids), kind)} to archive")
    for kind, pairs in sorted((removals.get("removed") or {}).items()):
        if pairs:
            other.append(f"{_count_of(len(pairs), kind)} to remove")
    # A held run is in one of three states, and each asks something else of the reader: approve it, approve
    # nothing (a dry run changed nothing: sync/approve.py refuses it), or just see who approved it.
    approved = report.get("approved")
    state = "approved" if approved else ("dry_run" if report.get("dry_run") else "waiting")
    approval = None
    if approved:
        archived = approved.get("archived") or {}
        approval = {"by": approved.get("by") or "someone", "at": _when(approved.get("at")),
                    "reason": approved.get("reason"),
                    "archived": ", ".join(_count_of(n, k) for k, n in sorted(archived.items()) if n) or "nothing"}
    return {"threshold": held.get("threshold_pct"), "schools": schools_over, "leaving": leaving,
            "total": len(held.get("students") or []), "other": other, "state": state, "approval": approval,
            "command": f"rostersync approve {report.get('run_id')}",
            "sync_command": f"rostersync sync {report.get('district') or 'DISTRICT'}",
            "applied_rest": state == "waiting" and report.get("directory_state") == "held"}


def _count_of(n: int, kind: str) -> str:
    one, many = KIND_NOUNS.get(kind, (kind, kind))
    return f"{n} {one if n == 1 else many}"


def _natural(text) -> tuple:
    """Sort key under which "Number2" comes before "Number10", as a person expects in a list of names."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", str(text or "").lower()) if part)


def _problems(report: dict, key: str) -> list[dict]:
    severity = "error" if key == "errors" else "warning"
    return [{**p, "severity": severity} for p in report.get(key) or [] if isinstance(p, dict)]


def _problems_in_order(report: dict) -> list[dict]:
    return _problems(report, "errors") + _problems(report, "warnings")


def _problem_heading(code: str | None) -> str:
    if not code:
        return "Other problems"
    return PROBLEM_HEADINGS.get(code) or code.replace("_", " ").capitalize()


def _problem_groups(problems: list[dict]) -> list[dict]:
    """Problems of one severity grouped by code, the largest group first (where most of the work is)."""
    groups: dict[str, list[dict]] = {}
    for p in problems:
        groups.setdefault(p.get("code") or "", []).append(p)
    out = []
    for code, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        items = sorted(items, key=lambda p: (str(p.get("file") or ""), p.get("line") or 0))
        out.append({"code": code, "heading": _problem_heading(code), "severity": items[0]["severity"],
                    "count": len(items), "items": items[:PROBLEMS_PER_CODE],
                    "more": max(len(items) - PROBLEMS_PER_CODE, 0),
                    "has_file": any(p.get("file") for p in items),
                    "has_record": any(p.get("record") for p in items),
                    "has_field": any(p.get("field") or p.get("column") for p in items)})
    return out


# -- the trend chart --------------------------------------------------------------------------------------

CHART = {"width": 960, "left": 48, "right": 16, "top": 28, "panel": 110, "gap": 46, "strip": 14}


def _trend(trend: list[dict], current_run) -> dict | None:
    """The geometry of the inline SVG chart, computed here so the template only draws.

    Two panels share the run axis: changes per run (records created + updated + archived) on top and
    problems (errors, with warnings stacked lighter) below; each run's bars and its status strip are in
    the colour of its status. Separate panels, not one chart with two scales: a leader compares heights.
    """
    items = [t for t in trend if isinstance(t, dict)]
    if not items:
        return None
    # Oldest to newest, left to right; the caller may hand them in any order.
    items = sorted(items, key=lambda t: str(t.get("started_at") or ""))[-TREND_RUNS:]
    c = CHART
    plot_w = c["width"] - c["left"] - c["right"]
    # Up to 10 runs keep the width of 10 slots (three runs are not three fat blocks); beyond that the
    # slots narrow so the newest run is always at the right edge.
    slot = plot_w / max(len(items), 10)
    bar_w = min(28.0, slot * 0.6)
    top1 = c["top"]
    base1 = top1 + c["panel"]
    top2 = base1 + c["gap"]
    base2 = top2 + c["panel"]
    strip_y = base2 + 10
    height = strip_y + c["strip"] + 34

    def num(t, key):
        try:
            return max(int(t.get(key) or 0), 0)
        except (TypeError, ValueError):
            return 0

    changes = [num(t, "created") + num(t, "updated") + num(t, "archived") for t in items]
    errors = [num(t, "errors") for t in items]
    warnings = [num(t, "warnings") for t in items]
    max_changes = _nice_max(max(changes))
    max_problems = _nice_max(max(e + w for e, w in zip(errors, warnings)))

    def scale(v, vmax):
        return round(c["panel"] * v / vmax, 1) if vmax else 0.0

    marks = []
    for i, t in enumerate(items):
        status = t.get("status") or "running"
        label, colour = STATUS.get(status, (str(status).capitalize(), UNKNOWN_STATUS_COLOUR))
        cx = c["left"] + slot * i + slot / 2
        x = round(cx - bar_w / 2, 1)
        h_changes = scale(changes[i], max_changes)
        h_err = scale(errors[i], max_problems)
        h_warn = scale(warnings[i], max_problems)
        marks.append({
            "run_id": t.get("run_id"), "status": status, "status_label": label, "colour": colour,
            "current": current_run is not None and t.get("run_id") == current_run,
            "x": x, "cx": round(cx, 1), "w": round(bar_w, 1),
            "changes": changes[i], "changes_y": round(base1 - h_changes, 1), "changes_h": h_changes,
            "errors": errors[i], "err_y": round(base2 - h_err, 1), "err_h": h_err,
            "warnings": warnings[i], "warn_y": round(base2 - h_err - h_warn, 1), "warn_h": h_warn,
            "label": _short_when(t.get("started_at")),
            "title": (f"Run {t.get('run_id')}, {_when(t.get('started_at')) or 'time unknown'}: {label.lower()}; "
                      f"{changes[i]} changes ({num(t, 'created')} added, {num(t, 'updated')} updated, "
                      f"{num(t, 'archived')} archived); {errors[i]} errors, {warnings[i]} warnings"),
        })
    # Label every run's date while they fit; past 10 runs every other one, or the labels collide.
    step = 1 if len(marks) <= 10 else 2
    for i, m in enumerate(marks):
        m["show_label"] = (len(marks) - 1 - i) % step == 0
    rows = [{**m, "created": num(t, "created"), "updated": num(t, "updated"), "archived": num(t, "archived"),
             "started": _when(t.get("started_at"), weekday=False)} for m, t in zip(marks, items)]
    return {
        "width": c["width"], "height": height, "left": c["left"], "right": c["width"] - c["right"],
        "top1": top1, "base1": base1, "top2": top2, "base2": base2, "strip_y": strip_y, "strip_h": c["strip"],
        "label_y": strip_y + c["strip"] + 16,
        "max_changes": max_changes, "mid_changes": max_changes // 2, "mid1": (top1 + base1) / 2,
        "max_problems": max_problems, "mid_problems": max_problems // 2, "mid2": (top2 + base2) / 2,
        "marks": marks, "rows": list(reversed(rows)), "count": len(marks),
        "summary": (f"{len(marks)} runs from {marks[0]['label']} to {marks[-1]['label']}: "
                    f"{sum(m['status'] == 'failed' for m in marks)} failed, "
                    f"{sum(m['status'] == 'held' for m in marks)} held; "
                    f"at most {max(changes)} changes and {max(e + w for e, w in zip(errors, warnings))} problems "
                    "in one run"),
    }


def _nice_max(value: int) -> int:
    """A round axis maximum at or above value (2, 4, 6, 8 or 10 x 10^n): even, so the middle tick is whole."""
    if value <= 0:
        return 0
    magnitude = 1
    while True:
        for step in (2, 4, 6, 8, 10):
            if value <= step * magnitude:
                return step * magnitude
        magnitude *= 10
