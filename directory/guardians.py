"""Manual guardian functions: add by email and/or mobile number, edit, remove, remove all, joined."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select

from directory import run_lock
from directory.audit import snapshot
from directory.contacts import Decision, Holder, decide_pair, normalize_email, normalize_phone
from directory.errors import ContactConflict, Duplicate, InvalidInput
from directory.models import ACTIVE, REMOVED, Guardian, GuardianLink, School, Student, utcnow
from directory.scope import Scope
from messaging.outbox import queue_after_manual_add


class GuardianFunctions(Scope):
    def _holder(self, column, value) -> Holder | None:
        if value is None:
            return None
        g = self.session.scalar(select(Guardian).where(
            Guardian.district_id == self.district.id, column == value, Guardian.status == ACTIVE)
            .order_by(Guardian.id).limit(1))
        return Holder(g.id, g.state == "joined", g.email, g.phone) if g else None

    def decide(self, email: str | None, phone: str | None) -> Decision:
        return decide_pair(email, phone, self._holder(Guardian.email, email), self._holder(Guardian.phone, phone))

    def add_guardian(self, student_id: int, email: str | None = None, phone: str | None = None,
                     given_name: str = "", family_name: str = "", relationship: str | None = None,
                     invite_existing: bool = False) -> tuple[Guardian, str]:
        """Link a guardian to a student; returns (guardian, what happened: created|linked|extended).

        With ``invite_existing``, a refused pair links the account that holds one of the two instead
        (the platform's "invite the existing account to the class").
        """
        student = self.get(Student, student_id)
        self.check_lock("add guardian", [self.get(School, student.school_id)], "student", student.id)
        if student.status != ACTIVE:
            raise InvalidInput(f"student {student.id} is archived; restore them first")
        email = normalize_email(email)
        phone = normalize_phone(phone, self.district.phone_region)
        decision = self.decide(email, phone)
        if decision.action == "refuse":
            if not invite_existing or decision.guardian_id is None:
                hint = (f"; to invite the existing account instead, add guardian {decision.guardian_id} "
                        "(--invite-existing)") if decision.guardian_id else ""
                raise ContactConflict(decision.message + hint, decision.guardian_id)
            decision = Decision("reuse", decision.guardian_id)

        if decision.action == "create":
            guardian = Guardian(district_id=self.district.id, email=email, phone=phone,
                                given_name=(given_name or "").strip(), family_name=(family_name or "").strip())
            self.session.add(guardian)
            self.session.flush()
            self.audit("guardian.create", guardian, after=snapshot(guardian))
            outcome = "created"
        else:
            guardian = self.get(Guardian, decision.guardian_id)
            outcome = "linked"
            if decision.action == "extend":
                before = snapshot(guardian)
                guardian.email = guardian.email or email
                guardian.phone = guardian.phone or phone
                self.session.flush()
                self.audit("guardian.edit", guardian, before=before, after=snapshot(guardian))
                outcome = "extended"
        if self.session.get(GuardianLink, (guardian.id, student.id)) is not None:
            raise Duplicate(f"guardian {guardian.id} is already linked to student {student.id}")
        self.session.add(GuardianLink(guardian_id=guardian.id, student_id=student.id,
                                      relationship=(relationship or "").strip() or None))
        self.audit("guardian.link", guardian, after={"student_id": student.id, "relationship": relationship})
        queue_after_manual_add(self.session, self.district, guardian, student.id, outcome)  # invite / class notice
        return guardian, outcome

    def edit_guardian(self, guardian_id: int, given_name: str | None = None, family_name: str | None = None,
                      email: str | None = None, phone: str | None = None) -> Guardian:
        guardian = self.get(Guardian, guardian_id)
        self.check_lock("edit guardian", self.guardian_schools(guardian), "guardian", guardian.id)
        before = snapshot(guardian)
        if email is not None or phone is not None:
            if guardian.state == "joined":
                raise ContactConflict(
                    f"guardian {guardian.id} has joined: their email and phone belong to their account, and "
                    "the parent changes them in their account settings", guardian.id)
            for column, value, label in ((Guardian.email, normalize_email(email) if email else None, "email"),
                                         (Guardian.phone, normalize_phone(phone, self.district.phone_region)
                                          if phone else None, "phone")):
                if value is None:
                    continue
                holder = self._holder(column, value)
                if holder and holder.guardian_id != guardian.id:
                    raise ContactConflict(f"that {label} already belongs to guardian {holder.guardian_id}",
                                          holder.guardian_id)
                setattr(guardian, label, value)
                # A new address or number has no delivery history: the old status described the old one.
                setattr(guardian, f"{label}_status", "ok")
                setattr(guardian, f"{label}_status_reason", None)
        if given_name is not None:
            guardian.given_name = given_name.strip()
        if family_name is not None:
            guardian.family_name = family_name.strip()
        self.session.flush()
        self.audit("guardian.edit", guardian, before=before, after=snapshot(guardian))
        return guardian

    def _unlink(self, link: GuardianLink) -> None:
        guardian = self.session.get(Guardian, link.guardian_id)
        self.session.delete(link)
        self.session.flush()
        self.audit("guardian.unlink", guardian,
                   before={"student_id": link.student_id, "relationship": link.relationship})
        remaining = self.session.scalar(select(func.count()).select_from(GuardianLink)
                                        .where(GuardianLink.guardian_id == guardian.id))
        if not remaining and guardian.status == ACTIVE:
            # Nobody left to receive messages about; kept (not deleted) so the audit log and a later
            # re-add find the same person.
            guardian.status = REMOVED
            self.audit("guardian.remove", guardian, before={"status": ACTIVE}, after={"status": REMOVED})

    def remove_guardian(self, guardian_id: int, student_id: int | None = None) -> int:
        """Remove the guardian from one student, or from all their students; returns links removed."""
        guardian = self.get(Guardian, guardian_id)
        links = list(self.session.scalars(select(GuardianLink).where(GuardianLink.guardian_id == guardian.id)))
        if student_id is not None:
            student = self.get(Student, student_id)
            links = [l for l in links if l.student_id == student.id]
            if not links:
                raise InvalidInput(f"guardian {guardian.id} is not linked to student {student.id}")
            schools = [self.get(School, student.school_id)]
        else:
            schools = self.guardian_schools(guardian)
        self.check_lock("remove guardian", schools, "guardian", guardian.id)
        for link in links:
            self._unlink(link)
        return len(links)

    def remove_all_guardians(self, student_ids: Iterable[int]) -> int:
        """Remove every guardian of many students (e.g. graduates); all or none."""
        students = self.get_many(Student, student_ids)
        self.check_lock("remove all guardians", [self.get(School, s.school_id) for s in students], "student", None)
        links = list(self.session.scalars(select(GuardianLink).where(
            GuardianLink.student_id.in_([s.id for s in students]))))
        for link in links:
            self._unlink(link)
        return len(links)

    def mark_joined(self, guardian_id: int) -> Guardian:
        """The platform tells us the guardian signed up (accepted the invitation)."""
        # A run deciding right now read this guardian as pending and would write the SIS's contacts over the
        # parent's own: wait for its commit, and keep a run from reading until this one commits.
        run_lock.wait_for_run(self.session, self.district.id)
        guardian = self.get(Guardian, guardian_id)
        if guardian.state == "joined":
            raise InvalidInput(f"guardian {guardian.id} has already joined")
        guardian.state, guardian.joined_at = "joined", utcnow()
        self.audit("guardian.joined", guardian, before={"state": "pending"}, after={"state": "joined"})
        return guardian
