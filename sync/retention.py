"""Retention: delete what a district no longer needs to keep (`rostersync retention`).

Students are archived, never deleted, by the sync and by hand (README, "Archived, never deleted"), so a
child who left keeps their name, birth date and guardians' contacts in the directory for ever unless the
district chooses a retention period (`district set SLUG retention_days N`). This module deletes, per
district, in one transaction:

    students      archived more than N days ago (students.archived_at; a row archived before the column
                  existed has none and is kept: its age is unknown)
    their rows    enrollments, guardian links, invitations about them (and their delivery attempts)
    guardians     left with no student once those are gone: guardians linked only to purged students, and
                  guardians the sync or a person removed (status removed, no links) whose row has not
                  changed for N days. A guardian who still has another student, archived recently or
                  active, is never purged, whether or not they joined
    guardians'    invitations, announcement recipients and delivery attempts of the purged guardians
    rows

and writes one audit entry (action ``retention.purge``, actor_type ``support``, the reason naming the
period) with the counts and ids it purged: directory ids and source ids, never names or contacts.

The choice of what goes (`choose_guardians`) is a pure function; the rest reads and deletes. The
district's lease (sync/lease.py) is taken for the transaction, so a purge never interleaves with a
sync run of the same district (which could otherwise restore a student being deleted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Iterator, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from directory import audit
from directory.audit import Actor
from directory.errors import RostersyncError
from directory.models import (ARCHIVED, REMOVED, AnnouncementRecipient, Delivery, District, Enrollment, Guardian,
                              GuardianLink, Invitation, Student, utcnow)
from sync import lease

# Parameters per IN (...) list: far below SQLite's 32,766 and PostgreSQL's 65,535 bind parameters, so a
# district purging a whole graduating class of a large district still works on both.
CHUNK = 5000


class RetentionBusy(RostersyncError):
    """A sync run of the district holds its lease: purging now could fight it (try again later)."""

    exit_code = 1


# -- pure ----------------------------------------------------------------------------------------------


def cutoff_for(now: datetime, days: int) -> datetime:
    """Records archived (or removed) at or before this moment are older than the retention period."""
    return now - timedelta(days=days)


def choose_guardians(links: Iterable[tuple[int, int]], purged_students: set[int],
                     removed_idle: Iterable[int]) -> set[int]:
    """The guardians to delete along with ``purged_students``.

    ``links``: every (guardian id, student id) link of the district. ``removed_idle``: guardians marked
    removed whose row has not changed within the retention period. A guardian goes when no link to a
    student who stays is left, and either a link went with a purged student or they are in
    ``removed_idle``. Any link to a student who stays (active, or archived too recently) keeps them:
    a parent with another child in the district keeps their account.
    """
    staying: set[int] = set()
    losing: set[int] = set()
    for guardian, student in links:
        (losing if student in purged_students else staying).add(guardian)
    return (losing | set(removed_idle)) - staying


# -- reading and deleting ---------------------------------------------------------------------------------


@dataclass
class RetentionResult:
    district: str
    retention_days: int | None
    dry_run: bool
    cutoff: datetime | None = None
    students: list[tuple[int, str | None]] = field(default_factory=list)  # (directory id, source id)
    guardians: list[tuple[int, str | None]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    audit_id: int | None = None

    @property
    def status(self) -> str:
        if self.retention_days is None:
            return "off"
        if not self.students and not self.guardians:
            return "nothing_to_purge"
        return "would_purge" if self.dry_run else "purged"

    def as_dict(self) -> dict:
        return {"district": self.district, "retention_days": self.retention_days, "dry_run": self.dry_run,
                "status": self.status, "cutoff": self.cutoff.isoformat() if self.cutoff else None,
                "counts": dict(self.counts), "audit_id": self.audit_id, **_ids(self.students, "student"),
                **_ids(self.guardians, "guardian")}


def _ids(rows: Sequence[tuple[int, str | None]], kind: str) -> dict:
    # Directory ids and the source's ids: enough to find a record in the SIS or an older report, and
    # neither is personal data. Names and contacts are never listed.
    return {f"{kind}_ids": sorted(i for i, _ in rows),
            f"{kind}_external_ids": sorted(e for _, e in rows if e)}


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def _select_in(session: Session, columns, column, ids: Sequence[int], *where) -> list:
    rows: list = []
    for part in _chunks(ids):
        rows.extend(session.execute(select(*columns).where(column.in_(part), *where)).all())
    return rows


def _delete_in(session: Session, model, column, ids: Sequence[int], *where) -> int:
    removed = 0
    for part in _chunks(ids):
        result = session.execute(delete(model).where(column.in_(part), *where)
                                 .execution_options(synchronize_session=False))
        removed += result.rowcount or 0
    return removed


@dataclass
class _Plan:
    """Row ids that a purge deletes (students and guardians with their source ids, for the audit entry)."""

    students: list[tuple[int, str | None]]
    guardians: list[tuple[int, str | None]]
    invitations: list[int]
    recipients: list[int]
    deliveries: list[int]

    @property
    def student_ids(self) -> list[int]:
        return [i for i, _ in self.students]

    @property
    def guardian_ids(self) -> list[int]:
        return [i for i, _ in self.guardians]


def _plan(session: Session, district: District, cutoff: datetime) -> _Plan:
    d = district.id
    students = sorted(tuple(r) for r in session.execute(
        select(Student.id, Student.external_id).where(Student.district_id == d, Student.status == ARCHIVED,
                                                      Student.archived_at.is_not(None),
                                                      Student.archived_at <= cutoff)))
    purged = [i for i, _ in students]
    links = session.execute(select(GuardianLink.guardian_id, GuardianLink.student_id)
                            .join(Guardian, Guardian.id == GuardianLink.guardian_id)
                            .where(Guardian.district_id == d)).all()
    idle = session.scalars(select(Guardian.id).where(Guardian.district_id == d, Guardian.status == REMOVED,
                                                     Guardian.updated_at <= cutoff))
    chosen = sorted(choose_guardians(links, set(purged), idle))
    guardians = sorted(tuple(r) for r in _select_in(session, (Guardian.id, Guardian.external_id), Guardian.id, chosen))
    invitations = {i for (i,) in _select_in(session, (Invitation.id,), Invitation.student_id, purged)}
    invitations |= {i for (i,) in _select_in(session, (Invitation.id,), Invitation.guardian_id, chosen)}
    recipients = [i for (i,) in _select_in(session, (AnnouncementRecipient.id,), AnnouncementRecipient.guardian_id,
                                           chosen)]
    # A delivery attempt names its guardian and its item (an invitation, or an announcement recipient).
    deliveries = {i for (i,) in _select_in(session, (Delivery.id,), Delivery.guardian_id, chosen)}
    for item_type, ids in (("invitation", invitations), ("announcement", recipients)):
        deliveries |= {i for (i,) in _select_in(session, (Delivery.id,), Delivery.item_id, list(ids),
                                                Delivery.item_type == item_type)}
    return _Plan(students, guardians, sorted(invitations), sorted(recipients), sorted(deliveries))


def _count(session: Session, plan: _Plan) -> dict[str, int]:
    """What ``_delete`` would delete, for a dry run."""
    link = (GuardianLink.guardian_id, GuardianLink.student_id)
    links = set(_select_in(session, link, GuardianLink.student_id, plan.student_ids))
    links |= set(_select_in(session, link, GuardianLink.guardian_id, plan.guardian_ids))
    return {"message_deliveries": len(plan.deliveries), "announcement_recipients": len(plan.recipients),
            "invitations": len(plan.invitations), "guardian_links": len(links),
            "enrollments": len(_select_in(session, (Enrollment.student_id,), Enrollment.student_id, plan.student_ids)),
            "students": len(plan.students), "guardians": len(plan.guardians)}


def _delete(session: Session, plan: _Plan) -> dict[str, int]:
    # Rows that point at others first: both databases enforce the foreign keys (SQLite by PRAGMA).
    counts = {
        "message_deliveries": _delete_in(session, Delivery, Delivery.id, plan.deliveries),
        "announcement_recipients": _delete_in(session, AnnouncementRecipient, AnnouncementRecipient.id,
                                              plan.recipients),
        "invitations": _delete_in(session, Invitation, Invitation.id, plan.invitations),
        "guardian_links": (_delete_in(session, GuardianLink, GuardianLink.student_id, plan.student_ids)
                           + _delete_in(session, GuardianLink, GuardianLink.guardian_id, plan.guardian_ids)),
        "enrollments": _delete_in(session, Enrollment, Enrollment.student_id, plan.student_ids),
        "guardians": _delete_in(session, Guardian, Guardian.id, plan.guardian_ids),
        "students": _delete_in(session, Student, Student.id, plan.student_ids),
    }
    return counts


def purge_district(session: Session, district: District, actor_name: str, *, dry_run: bool = False,
                   now: datetime | None = None) -> RetentionResult:
    """Purge one district inside the caller's transaction (or only count, with ``dry_run``).

    ``actor_name`` is who runs it (the audit entry's actor); ``now`` is the moment the retention period is
    counted back from (default: the current time)."""
    days = district.retention_days
    result = RetentionResult(district.slug, days, dry_run)
    if days is None:
        return result
    result.cutoff = cutoff_for(now or utcnow(), days)
    if dry_run:
        plan = _plan(session, district, result.cutoff)
        result.students, result.guardians, result.counts = plan.students, plan.guardians, _count(session, plan)
        return result
    holder = lease.make_holder()
    busy = lease.acquire(session, district.id, holder, None)
    if busy is not None:
        who = f"a sync of {district.slug} (run {busy.run_id})" if busy.run_id else "another retention run"
        raise RetentionBusy(f"{who} is in progress; {district.slug} was not purged, try again when it has finished")
    plan = _plan(session, district, result.cutoff)
    result.students, result.guardians, result.counts = plan.students, plan.guardians, _delete(session, plan)
    if plan.students or plan.guardians:
        after = {"retention_days": days, "cutoff": result.cutoff.isoformat(), "counts": result.counts,
                 **_ids(plan.students, "student"), **_ids(plan.guardians, "guardian")}
        entry = audit.record(session, retention_actor(actor_name, days), "retention.purge", "district",
                             district.id, district.id, after=after)
        session.flush()
        result.audit_id = entry.id
    lease.release(session, district.id, holder)
    return result


def retention_actor(name: str, days: int | None) -> Actor:
    """Who the audit log names: the person (or scheduler) running the command, as support, with the policy
    as the reason, since a purge is an operation on the district's data rather than an edit of a record."""
    return Actor("support", name, reason=f"retention policy: students archived more than {days} days ago")


def districts_with_retention(session: Session) -> list[District]:
    return list(session.scalars(select(District).where(District.retention_days.is_not(None))
                                .order_by(District.slug)))

