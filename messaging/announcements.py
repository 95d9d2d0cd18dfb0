"""Announcements to selected families: pick guardians by classroom, student or a list, queue one item per
guardian (same outbox and delivery policy as invitations), and report who got it by which channel (I/O).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.contacts import normalize_email, normalize_phone
from directory.errors import InvalidInput, NotFound
from directory.models import (ACTIVE, Announcement, AnnouncementRecipient, Classroom, District, Enrollment,
                              Guardian, GuardianLink, Student)


def read_list(path: Path, district: District) -> tuple[list[int], list[str], list[str]]:
    """A list file: one guardian id, email or mobile number per line (# starts a comment).
    Returns (ids, emails, phones), normalized."""
    ids, emails, phones = [], [], []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read the list {path}: {exc.strerror}") from None
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if text.isdigit():
            ids.append(int(text))
        elif "@" in text:
            try:
                emails.append(normalize_email(text))
            except InvalidInput as exc:
                raise InvalidInput(f"{path}, line {number}: {exc}") from None
        else:
            try:
                phones.append(normalize_phone(text, district.phone_region))
            except InvalidInput as exc:
                raise InvalidInput(f"{path}, line {number}: {exc}") from None
    return ids, emails, phones


def select_guardians(session: Session, district: District, classroom_ids=(), student_ids=(), guardian_ids=(),
                     emails=(), phones=()) -> list[int]:
    """Active guardians of the district picked by any of the ways given; unknown ids are an error."""
    chosen: set[int] = set()
    if classroom_ids:
        known = set(session.scalars(select(Classroom.id).where(Classroom.id.in_(classroom_ids),
                                                               Classroom.district_id == district.id)))
        _missing("classroom", classroom_ids, known, district)
        chosen |= set(session.scalars(
            select(GuardianLink.guardian_id).join(Enrollment, Enrollment.student_id == GuardianLink.student_id)
            .join(Student, Student.id == GuardianLink.student_id)
            .where(Enrollment.classroom_id.in_(classroom_ids), Student.status == ACTIVE)))
    if student_ids:
        known = set(session.scalars(select(Student.id).where(Student.id.in_(student_ids),
                                                             Student.district_id == district.id)))
        _missing("student", student_ids, known, district)
        chosen |= set(session.scalars(select(GuardianLink.guardian_id).where(GuardianLink.student_id.in_(student_ids))))
    if guardian_ids:
        known = set(session.scalars(select(Guardian.id).where(Guardian.id.in_(guardian_ids),
                                                              Guardian.district_id == district.id)))
        _missing("guardian", guardian_ids, known, district)
        chosen |= known
    for column, values, label in ((Guardian.email, emails, "email"), (Guardian.phone, phones, "phone")):
        if values:
            found = dict(session.execute(select(column, Guardian.id).where(
                column.in_(values), Guardian.district_id == district.id, Guardian.status == ACTIVE)).all())
            missing = [v for v in values if v not in found]
            if missing:
                raise NotFound(f"{len(missing)} {label}(s) in the list belong to no guardian of {district.slug!r}")
            chosen |= set(found.values())
    if not chosen:
        return []
    return sorted(session.scalars(select(Guardian.id).where(Guardian.id.in_(chosen), Guardian.status == ACTIVE)))


def _missing(label: str, asked, known: set[int], district: District) -> None:
    missing = [i for i in asked if i not in known]
    if missing:
        raise NotFound(f"unknown {label} {', '.join(map(str, missing))} in district {district.slug!r}")


def create_announcement(session: Session, district: District, created_by: str, subject: str, body: str,
                        audience: dict, guardian_ids: list[int]) -> Announcement:
    if not subject.strip() or not body.strip():
        raise InvalidInput("an announcement needs a subject and a message")
    if not guardian_ids:
        raise InvalidInput("nobody to send to: the selection has no active guardian")
    announcement = Announcement(district_id=district.id, subject=subject.strip()[:200], body=body.strip(),
                                audience=audience, created_by=created_by)
    session.add(announcement)
    session.flush()
    session.add_all([AnnouncementRecipient(announcement_id=announcement.id, district_id=district.id,
                                           guardian_id=g, status="queued") for g in guardian_ids])
    session.flush()
    return announcement


def announcement_report(session: Session, district: District, announcement_id: int) -> dict:
    """Who got it by which channel, who could not be reached and why, and who is still pending."""
    a = session.get(Announcement, announcement_id)
    if a is None or a.district_id != district.id:
        raise NotFound(f"unknown announcement {announcement_id} in district {district.slug!r}")
    rows = session.execute(select(AnnouncementRecipient, Guardian)
                           .join(Guardian, Guardian.id == AnnouncementRecipient.guardian_id)
                           .where(AnnouncementRecipient.announcement_id == a.id).order_by(Guardian.id)).all()
    sent, unreachable, pending = [], [], []
    for r, g in rows:
        entry = {"guardian_id": g.id, "name": f"{g.given_name} {g.family_name}".strip()}
        if r.status == "sent":
            sent.append({**entry, "channel": r.channel})
        elif r.status in ("unreachable", "failed", "cancelled"):
            unreachable.append({**entry, "status": r.status, "reason": r.error})
        else:
            pending.append({**entry, "status": r.status, "detail": r.error})
    by_channel = {c: sum(1 for s in sent if s["channel"] == c) for c in ("email", "sms")}
    return {"announcement_id": a.id, "district": district.slug, "subject": a.subject, "audience": a.audience,
            "created_by": a.created_by, "created_at": a.created_at.isoformat() if a.created_at else None,
            "recipients": len(rows), "by_channel": by_channel, "sent": sent, "unreachable": unreachable,
            "pending": pending}
