"""What every manual function works within: one district, one actor, one transaction.

Lookups here refuse rows of another district (ids are global, districts are not), and the lock check
turns the pure decision of directory.lock into an error, or, for support staff with a reason, into an
audited override.
"""

from __future__ import annotations

from typing import Iterable, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.audit import Actor
from directory.errors import InvalidInput, Locked, NotFound
from directory.lock import lock_reason
from directory.models import Classroom, District, Guardian, GuardianLink, School, Student, Teacher

T = TypeVar("T")

_LABEL = {School: "school", Classroom: "classroom", Student: "student", Guardian: "guardian", Teacher: "teacher"}


class Scope:
    def __init__(self, session: Session, actor: Actor, district: District):
        if actor.type == "support" and not (actor.reason or "").strip():
            raise InvalidInput("support actions need a written reason (--reason)")
        self.session = session
        self.actor = actor
        self.district = district

    # -- lookups -----------------------------------------------------------------------------------
    def get(self, model: type[T], row_id: int) -> T:
        row = self.session.get(model, row_id)
        if row is None or row.district_id != self.district.id:
            raise NotFound(f"unknown {_LABEL[model]} {row_id} in district {self.district.slug!r}")
        return row

    def get_many(self, model: type[T], ids: Iterable[int]) -> list[T]:
        """All of them or NotFound naming every missing id: a bulk action never half-applies."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            raise InvalidInput(f"no {_LABEL[model]} ids given")
        rows = {r.id: r for r in self.session.scalars(
            select(model).where(model.id.in_(ids), model.district_id == self.district.id))}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise NotFound(f"unknown {_LABEL[model]} {', '.join(map(str, missing))} "
                           f"in district {self.district.slug!r}")
        return [rows[i] for i in ids]

    def guardian_schools(self, guardian: Guardian) -> list[School]:
        return list(self.session.scalars(
            select(School).join(Student, Student.school_id == School.id)
            .join(GuardianLink, GuardianLink.student_id == Student.id)
            .where(GuardianLink.guardian_id == guardian.id).distinct()))

    # -- the lock ----------------------------------------------------------------------------------
    def check_lock(self, function: str, schools: Iterable[School], entity: str, entity_id: int | None) -> None:
        for school in {s.id: s for s in schools}.values():
            reason = lock_reason(function, school.name, school.source, self.district.sync_manages_guardians)
            if reason is None:
                continue
            if self.actor.type != "support":
                raise Locked(reason)
            # Support may override, and the audit log keeps who did and why.
            audit.record(self.session, self.actor, "lock.override", entity, entity_id, self.district.id,
                         after={"function": function, "school_id": school.id, "source": school.source})

    def audit(self, action: str, row, before: dict | None = None, after: dict | None = None) -> None:
        audit.record(self.session, self.actor, action, _LABEL[type(row)], row.id, self.district.id,
                     before=before, after=after)
