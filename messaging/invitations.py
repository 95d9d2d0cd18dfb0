"""Invitations for staff: which ones (a school, a classroom, ids), listing them, and resending (I/O).

A resend puts an invitation back in the queue with its join code unchanged (any copy the parent got
still works) and a clean slate: channels that failed before are tried again, since the contact may have
been fixed since. It is the one way an invitation in doubt is sent again: a person decided to.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.errors import InvalidInput, NotFound
from directory.models import ACTIVE, Classroom, District, Enrollment, Guardian, GuardianLink, Invitation, School, Student
from messaging.masking import mask_email, mask_phone

STATUSES = ("queued", "claimed", "sent", "unreachable", "failed", "in_doubt", "cancelled")
RESENDABLE = ("sent", "unreachable", "failed", "in_doubt", "cancelled")


def scope_conditions(session: Session, district: District, school_id: int | None = None,
                     classroom_id: int | None = None, invitation_ids: tuple[int, ...] = ()) -> tuple:
    """SQL conditions on Invitation for one district and, optionally, a school, a classroom or ids."""
    conditions = [Invitation.district_id == district.id]
    if school_id is not None:
        school = session.get(School, school_id)
        if school is None or school.district_id != district.id:
            raise NotFound(f"unknown school {school_id} in district {district.slug!r}")
        conditions.append(Invitation.guardian_id.in_(
            select(GuardianLink.guardian_id).join(Student, Student.id == GuardianLink.student_id)
            .where(Student.school_id == school_id, Student.status == ACTIVE)))
    if classroom_id is not None:
        classroom = session.get(Classroom, classroom_id)
        if classroom is None or classroom.district_id != district.id:
            raise NotFound(f"unknown classroom {classroom_id} in district {district.slug!r}")
        conditions.append(Invitation.guardian_id.in_(
            select(GuardianLink.guardian_id).join(Enrollment, Enrollment.student_id == GuardianLink.student_id)
            .join(Student, Student.id == Enrollment.student_id)
            .where(Enrollment.classroom_id == classroom_id, Student.status == ACTIVE)))
    if invitation_ids:
        found = set(session.scalars(select(Invitation.id).where(Invitation.id.in_(invitation_ids),
                                                                Invitation.district_id == district.id)))
        missing = [i for i in invitation_ids if i not in found]
        if missing:
            raise NotFound(f"unknown invitation {', '.join(map(str, missing))} in district {district.slug!r}")
        conditions.append(Invitation.id.in_(invitation_ids))
    return tuple(conditions)


def invitation_row(inv: Invitation, g: Guardian) -> dict:
    return {"id": inv.id, "kind": inv.kind, "status": inv.status, "guardian_id": g.id,
            "guardian_name": f"{g.given_name} {g.family_name}".strip(), "guardian_state": g.state,
            "email": mask_email(g.email), "email_status": g.email_status, "email_reason": g.email_status_reason,
            "phone": mask_phone(g.phone), "sms_status": g.phone_status, "sms_reason": g.phone_status_reason,
            "student_id": inv.student_id, "channel": inv.channel,
            "sent_at": inv.sent_at.isoformat() if inv.sent_at else None,
            "created_at": inv.created_at.isoformat() if inv.created_at else None,
            "run_id": inv.run_id, "resends": inv.resends, "error": inv.error}


def list_invitations(session: Session, conditions: tuple, status: str | None = None, limit: int | None = None) -> list[dict]:
    stmt = select(Invitation, Guardian).join(Guardian, Guardian.id == Invitation.guardian_id).where(*conditions)
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        stmt = stmt.where(Invitation.status == status)
    stmt = stmt.order_by(Invitation.id)
    if limit:
        stmt = stmt.limit(limit)
    return [invitation_row(inv, g) for inv, g in session.execute(stmt)]


def requeue(session: Session, conditions: tuple, single: bool) -> tuple[list[int], list[dict]]:
    """Queue invitations again; returns (ids queued, [{id, reason}] left alone).

    For a school or classroom (``single`` False) only the pending ones are taken: invitations (not
    class notices) of guardians who have not joined, the newest per guardian, so nobody gets two.
    """
    rows = session.execute(select(Invitation, Guardian).join(Guardian, Guardian.id == Invitation.guardian_id)
                           .where(*conditions).order_by(Invitation.id)).all()
    if single and not rows:
        raise NotFound("no such invitation")
    newest: dict[int, Invitation] = {}
    for inv, g in rows:
        if single or inv.kind == "invite":
            newest[g.id if not single else inv.id] = inv
    queued, skipped = [], []
    for inv, g in rows:
        if newest.get(g.id if not single else inv.id) is not inv:
            continue
        reason = None
        if g.status != ACTIVE:
            reason = "the guardian was removed"
        elif inv.kind == "invite" and g.state == "joined":
            reason = "the guardian has joined"
        elif inv.status in ("queued", "claimed"):
            reason = "already queued" if inv.status == "queued" else "being sent right now"
        if reason:
            skipped.append({"id": inv.id, "guardian_id": g.id, "reason": reason})
            continue
        inv.status, inv.error, inv.skip_channels, inv.attempts, inv.not_before = "queued", None, None, 0, None
        inv.claimed_by = inv.claim_expires_at = None
        inv.resends += 1
        queued.append(inv.id)
    return queued, skipped
