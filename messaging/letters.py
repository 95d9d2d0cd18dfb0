"""Reading what a message says from the directory: one Letter per outbox item (I/O, read only).

Only the guardian's own children (active students linked to them) are named, so no message can carry
another family's data; a "you were added" notice names the one student it is about.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import (ACTIVE, Announcement, AnnouncementRecipient, District, Guardian, GuardianLink,
                              Invitation, School, Student)
from messaging.compose import Letter


def _children(session: Session, guardian_ids: set[int]) -> dict[int, list[tuple[str, str]]]:
    """guardian id -> [(child's given name, school name)] for their active students."""
    out: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if not guardian_ids:
        return out
    ids = sorted(guardian_ids)
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(GuardianLink.guardian_id, Student.given_name, School.name)
            .join(Student, Student.id == GuardianLink.student_id).join(School, School.id == Student.school_id)
            .where(GuardianLink.guardian_id.in_(ids[i:i + 500]), Student.status == ACTIVE)
            .order_by(GuardianLink.guardian_id, Student.given_name))
        for guardian_id, given, school in rows:
            out[guardian_id].append((given, school))
    return out


def guardian_name(g: Guardian) -> str:
    return f"{g.given_name} {g.family_name}".strip()


def invitation_letters(session: Session, invitations: list[Invitation], join_url: str) -> dict[int, Letter]:
    guardians = {g.id: g for g in session.scalars(select(Guardian).where(
        Guardian.id.in_({i.guardian_id for i in invitations})))} if invitations else {}
    districts = {d.id: d for d in session.scalars(select(District).where(
        District.id.in_({i.district_id for i in invitations})))} if invitations else {}
    children = _children(session, set(guardians))
    letters = {}
    for inv in invitations:
        g, d = guardians[inv.guardian_id], districts[inv.district_id]
        kids = children.get(g.id, [])
        if inv.kind == "added" and inv.student_id is not None:
            student = session.get(Student, inv.student_id)
            school = session.get(School, student.school_id) if student else None
            kids = [(student.given_name, school.name if school else "")] if student else []
        letters[inv.id] = Letter(inv.kind, d.name, guardian_name(g), tuple(k for k, _ in kids),
                                 tuple(s for _, s in kids), inv.join_code, join_url)
    return letters


def announcement_letters(session: Session, recipients: list[AnnouncementRecipient]) -> dict[int, Letter]:
    if not recipients:
        return {}
    guardians = {g.id: g for g in session.scalars(select(Guardian).where(
        Guardian.id.in_({r.guardian_id for r in recipients})))}
    announcements = {a.id: a for a in session.scalars(select(Announcement).where(
        Announcement.id.in_({r.announcement_id for r in recipients})))}
    districts = {d.id: d for d in session.scalars(select(District).where(
        District.id.in_({r.district_id for r in recipients})))}
    return {r.id: Letter("announcement", districts[r.district_id].name, guardian_name(guardians[r.guardian_id]),
                         subject=announcements[r.announcement_id].subject, body=announcements[r.announcement_id].body)
            for r in recipients}
