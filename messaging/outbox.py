"""Putting messages in the outbox: rows written in the caller's transaction, sent later by the relay.

An outbox item (an Invitation, or an AnnouncementRecipient) moves through these states:

    queued -> claimed (a relay holds it) -> sent
                                         -> unreachable  no usable channel (reasons kept in ``error``)
                                         -> failed       refused for a reason of ours, on every channel
                                         -> in_doubt     handed over, outcome unknown: reported, not resent
                                         -> cancelled    the guardian joined or was removed meanwhile
                                         -> queued       a transient failure: retried after ``not_before``

The sync writes its invitations in bulk (sync/apply.py); the manual functions call here.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.models import District, Guardian, Invitation


def queue_after_manual_add(session: Session, district: District, guardian: Guardian, student_id: int,
                           outcome: str) -> Invitation | None:
    """What a guardian added by hand is owed: an invitation when they were created and have not joined
    (if the district invites automatically), or a "you were added to a class" notice, once per student,
    when an account that already joined was linked (the email-and-phone rule)."""
    if guardian.state == "joined":
        already = session.scalar(select(Invitation.id).where(
            Invitation.guardian_id == guardian.id, Invitation.kind == "added", Invitation.student_id == student_id))
        if already is not None:
            return None
        invitation = Invitation(district_id=district.id, guardian_id=guardian.id, kind="added",
                                student_id=student_id, status="queued")
    elif outcome == "created" and district.auto_invite:
        invitation = Invitation(district_id=district.id, guardian_id=guardian.id, kind="invite", status="queued")
    else:
        return None
    session.add(invitation)
    session.flush()
    return invitation
