"""The directory service: every manual function in one API, for the CLI and the web app alike.

    with transaction(factory) as session:
        svc = DirectoryService(session, Actor("user", "ms.rivera"), get_district(session, "lincoln"))
        svc.enroll_student(school_id, "Ada", "Lovelace")

A function that would fight the sync on a synced school raises directory.errors.Locked; support staff
(Actor type "support", with a reason) override it, and the audit log keeps that.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from directory.contacts import normalize_email, normalize_phone
from directory.errors import InvalidInput
from directory.guardians import GuardianFunctions
from directory.models import ACTIVE, Classroom, Guardian, Student, Teacher
from directory.roster import RosterFunctions

SEARCH_KINDS = ("student", "guardian", "teacher", "classroom")


class DirectoryService(RosterFunctions, GuardianFunctions):
    def search(self, query: str, kinds: tuple[str, ...] = SEARCH_KINDS, include_archived: bool = False,
               limit: int = 50) -> list[dict]:
        """Find people and classrooms by name, student number, external id, email or phone."""
        query = query.strip()
        if not query:
            raise InvalidInput("search needs some text")
        like = f"%{query.lower()}%"
        results: list[dict] = []
        d = self.district.id
        if "student" in kinds:
            stmt = select(Student).where(Student.district_id == d, or_(
                (Student.given_name + " " + Student.family_name).ilike(like),
                Student.student_number == query, Student.external_id == query))
            if not include_archived:
                stmt = stmt.where(Student.status == ACTIVE)
            results += [{"kind": "student", "id": s.id, "name": f"{s.given_name} {s.family_name}",
                         "school_id": s.school_id, "student_number": s.student_number, "status": s.status}
                        for s in self.session.scalars(stmt.order_by(Student.family_name, Student.id).limit(limit))]
        if "guardian" in kinds:
            conditions = [(Guardian.given_name + " " + Guardian.family_name).ilike(like),
                          Guardian.external_id == query]
            for normalize, column in ((normalize_email, Guardian.email),
                                      (lambda v: normalize_phone(v, self.district.phone_region), Guardian.phone)):
                try:
                    value = normalize(query)
                except InvalidInput:
                    continue  # the text is not an address / number: search names only
                conditions.append(column == value)
            stmt = select(Guardian).where(Guardian.district_id == d, or_(*conditions))
            if not include_archived:
                stmt = stmt.where(Guardian.status == ACTIVE)
            results += [{"kind": "guardian", "id": g.id, "name": f"{g.given_name} {g.family_name}".strip(),
                         "email": g.email, "phone": g.phone, "state": g.state, "status": g.status}
                        for g in self.session.scalars(stmt.order_by(Guardian.id).limit(limit))]
        if "teacher" in kinds:
            stmt = select(Teacher).where(Teacher.district_id == d, or_(
                (Teacher.given_name + " " + Teacher.family_name).ilike(like), Teacher.external_id == query))
            results += [{"kind": "teacher", "id": t.id, "name": f"{t.given_name} {t.family_name}",
                         "status": t.status}
                        for t in self.session.scalars(stmt.order_by(Teacher.id).limit(limit))]
        if "classroom" in kinds:
            stmt = select(Classroom).where(Classroom.district_id == d, or_(
                Classroom.name.ilike(like), Classroom.external_id == query))
            results += [{"kind": "classroom", "id": c.id, "name": c.name, "school_id": c.school_id,
                         "status": c.status}
                        for c in self.session.scalars(stmt.order_by(Classroom.id).limit(limit))]
        return results
