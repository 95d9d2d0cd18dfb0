"""Per school, the guardians a message cannot reach on some channel, why, and what to fix in the SIS.

``unreachable_by_school(session, district_id)`` is what the sync report shows school leaders. A guardian
appears under each school of their active children when one of their contact points is unusable
(missing counts only when the other one is unusable too: one good contact is enough to reach a family).
Contacts are masked (``m***@example.org``, ``+1******0123``) so a leader can tell which one is wrong
without the report becoming a contact list; nothing here is logged.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, not_, or_, select
from sqlalchemy.orm import Session

from directory.models import ACTIVE, Guardian, GuardianLink, School, Student
from messaging.masking import mask_email, mask_phone

# What the school should do, per (channel, status or reason).
FIXES = {
    ("email", "missing"): "No email address in the SIS: add one to the contact record.",
    ("email", "invalid"): "The email address does not exist (it bounced): correct it in the SIS.",
    ("email", "inbox_full"): "The mailbox is full: ask the family to clear it, or add another address; "
                             "then `rostersync contact reset`.",
    ("email", "spam_complaint"): "The family marked our email as spam: ask whether they want email, then "
                                 "`rostersync contact reset`, or rely on text messages.",
    ("email", "not_engaged"): "Messages have gone unread for a long time: confirm the address with the family.",
    ("email", "blocked"): "The family's mail server blocks our messages: ask for another address.",
    ("sms", "missing"): "No mobile number in the SIS: add one (a cell phone, not home or work).",
    ("sms", "invalid"): "The number cannot receive texts (wrong, or a landline): correct it in the SIS.",
    ("sms", "blocked"): "The carrier blocks our texts to this number: ask the family for another number.",
    ("sms", "inbox_full"): "The phone cannot take messages now: ask the family to check it.",
    ("sms", "not_engaged"): "Texts have gone unread for a long time: confirm the number with the family.",
    ("sms", "spam_complaint"): "The family reported our texts as spam: ask whether they want texts.",
    ("sms", "opted_out"): "The family replied STOP: only they can opt back in, by texting START to our number.",
}


class _GuardianValues(NamedTuple):
    """The columns of a guardian that ``guardian_problems`` reads (it takes a Guardian row just as well)."""

    id: int
    external_id: str | None
    given_name: str
    family_name: str
    email: str | None
    email_status: str
    email_status_reason: str | None
    phone: str | None
    phone_status: str
    phone_status_reason: str | None


def _problem(channel: str, value: str | None, status: str, reason: str | None) -> dict | None:
    if value and status == "ok":
        return None
    state = "missing" if not value else ("opted_out" if status == "opted_out" else (reason or "invalid"))
    return {"channel": channel, "status": "missing" if not value else status, "reason": state,
            "contact": (mask_email(value) if channel == "email" else mask_phone(value)) if value else None,
            "fix": FIXES.get((channel, state), "Check this contact with the family and correct it in the SIS.")}


def guardian_problems(g: Guardian) -> tuple[list[dict], list[str]]:
    """(problems per channel, channels that still work) for one guardian (pure on the row's values)."""
    problems = [p for p in (_problem("email", g.email, g.email_status, g.email_status_reason),
                            _problem("sms", g.phone, g.phone_status, g.phone_status_reason)) if p]
    working = [c for c, value, status in (("email", g.email, g.email_status), ("sms", g.phone, g.phone_status))
               if value and status == "ok"]
    if working:  # a missing contact is not a problem while another one works
        problems = [p for p in problems if p["status"] != "missing"]
    return problems, working


def _has_problem():
    """SQL for "guardian_problems would find something": a contact that is there but not ok, or no
    contact that works (a missing one alone, beside a working one, is no problem). Filtering in the query
    keeps the families with one good contact (half of a large district) out of Python altogether."""
    email_there, phone_there = Guardian.email.is_not(None), Guardian.phone.is_not(None)
    email_ok = and_(email_there, Guardian.email_status == "ok")
    phone_ok = and_(phone_there, Guardian.phone_status == "ok")
    return or_(and_(email_there, Guardian.email_status != "ok"), and_(phone_there, Guardian.phone_status != "ok"),
               not_(or_(email_ok, phone_ok)))


def unreachable_by_school(session: Session, district_id: int) -> list[dict]:
    # Plain columns, not Guardian objects: a report's query must not build an ORM object per family.
    rows = session.execute(
        select(*(getattr(Guardian, name) for name in _GuardianValues._fields), School.id, School.name,
               School.external_id, Student.given_name, Student.family_name)
        .join(GuardianLink, GuardianLink.guardian_id == Guardian.id)
        .join(Student, Student.id == GuardianLink.student_id).join(School, School.id == Student.school_id)
        .where(Guardian.district_id == district_id, Guardian.status == ACTIVE, Student.status == ACTIVE)
        .where(_has_problem())
        .order_by(School.name, Guardian.family_name, Guardian.given_name, Guardian.id)).all()
    schools: dict[int, dict] = {}
    entries: dict[tuple[int, int], dict] = {}
    width = len(_GuardianValues._fields)
    for row in rows:
        g = _GuardianValues(*row[:width])
        school_id, school_name, school_ext, child_given, child_family = row[width:]
        problems, working = guardian_problems(g)
        if not problems:
            continue
        school = schools.setdefault(school_id, {"school_id": school_id, "school": school_name,
                                                "external_id": school_ext, "guardians": []})
        entry = entries.get((school_id, g.id))
        if entry is None:
            entry = {"guardian_id": g.id, "external_id": g.external_id,
                     "name": f"{g.given_name} {g.family_name}".strip(), "students": [],
                     "unreachable": not working, "reachable_by": working, "channels": problems}
            entries[(school_id, g.id)] = entry
            school["guardians"].append(entry)
        entry["students"].append(f"{child_given} {child_family}".strip())
    out = []
    for school in schools.values():
        school["guardians"].sort(key=lambda e: (not e["unreachable"], e["name"], e["guardian_id"]))
        school["count"] = len(school["guardians"])
        school["unreachable_count"] = sum(e["unreachable"] for e in school["guardians"])
        out.append(school)
    return out
