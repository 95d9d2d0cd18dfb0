"""The directory of one school as a page shows it: students with their classes and guardians (contacts
masked), and which manual functions the lock refuses there, with the lock's own reason."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from directory.lock import GUARDIAN_FUNCTIONS, OPEN_FUNCTIONS, ROSTER_FUNCTIONS, SOURCE_NAMES, lock_reason
from directory.models import (ACTIVE, Classroom, ClassroomTeacher, District, Enrollment, Guardian, GuardianLink,
                              School, Student, Teacher)
from messaging.masking import mask_email, mask_phone

PER_PAGE = 50
# The order a reader meets the functions in: roster first, then guardians, then what always stays open.
FUNCTION_ORDER = (
    "enroll student", "edit student", "assign student", "unassign student", "archive student", "restore student",
    "add guardian", "edit guardian", "remove guardian", "remove all guardians",
    "invite", "resend invitation", "print invitation", "announce", "search", "export",
)


def lock_table(district: District, school: School) -> list[dict]:
    """Every manual function with whether the lock refuses it on this school, and why (pure)."""
    known = ROSTER_FUNCTIONS | GUARDIAN_FUNCTIONS | OPEN_FUNCTIONS
    order = [f for f in FUNCTION_ORDER if f in known] + sorted(known - set(FUNCTION_ORDER))
    rows = []
    for function in order:
        reason = lock_reason(function, school.name, school.source, district.sync_manages_guardians)
        rows.append({"function": function, "locked": reason is not None, "reason": reason,
                     "why": _shared_part(function, reason),
                     "group": "roster" if function in ROSTER_FUNCTIONS else
                     "guardians" if function in GUARDIAN_FUNCTIONS else "open"})
    # Consecutive rows with the same explanation share one cell (the page would repeat it a dozen times).
    for i, row in enumerate(rows):
        same = i > 0 and rows[i - 1]["why"] == row["why"] and rows[i - 1]["locked"] == row["locked"]
        row["span"] = 0 if same else next((j - i for j in range(i + 1, len(rows))
                                          if (rows[j]["why"], rows[j]["locked"]) != (row["why"], row["locked"])),
                                         len(rows) - i)
    return rows


def _shared_part(function: str, reason: str | None) -> str | None:
    """The lock's reason without its leading "<function> is locked: ", which is the same for a whole group;
    the full reason when it is worded otherwise."""
    if reason is None:
        return None
    prefix = f"{function} is locked: "
    rest = reason[len(prefix):] if reason.startswith(prefix) else reason
    return rest[:1].upper() + rest[1:]


def is_locked(district: District, school: School, function: str) -> bool:
    return lock_reason(function, school.name, school.source, district.sync_manages_guardians) is not None


def source_label(source: str | None) -> str:
    return SOURCE_NAMES.get(source or "", source or "") if source else "made by hand (not synced)"


def school_directory(session: Session, school: School, q: str = "", include_archived: bool = False,
                     page: int = 1, per_page: int = PER_PAGE) -> dict:
    """One page of the school's students, each with classes and guardians; and the school's classes."""
    stmt = select(Student).where(Student.school_id == school.id)
    if not include_archived:
        stmt = stmt.where(Student.status == ACTIVE)
    q = q.strip()
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(or_(func.lower(Student.given_name + " " + Student.family_name).like(like),
                              Student.student_number == q, Student.external_id == q))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    page = max(1, page)
    students = list(session.scalars(stmt.order_by(Student.family_name, Student.given_name, Student.id)
                                    .offset((page - 1) * per_page).limit(per_page)))
    ids = [s.id for s in students]
    classes_of: dict[int, list[str]] = defaultdict(list)
    guardians_of: dict[int, list[dict]] = defaultdict(list)
    if ids:
        for student_id, name in session.execute(
                select(Enrollment.student_id, Classroom.name).join(Classroom, Classroom.id == Enrollment.classroom_id)
                .where(Enrollment.student_id.in_(ids)).order_by(Classroom.name)):
            classes_of[student_id].append(name)
        for link, g in session.execute(
                select(GuardianLink, Guardian).join(Guardian, Guardian.id == GuardianLink.guardian_id)
                .where(GuardianLink.student_id.in_(ids)).order_by(Guardian.family_name, Guardian.id)):
            guardians_of[link.student_id].append({
                "id": g.id, "name": f"{g.given_name} {g.family_name}".strip() or "(no name)",
                "relationship": link.relationship, "state": g.state, "status": g.status,
                "email": mask_email(g.email), "email_status": g.email_status,
                "phone": mask_phone(g.phone), "phone_status": g.phone_status})
    classrooms = []
    for c in session.scalars(select(Classroom).where(Classroom.school_id == school.id, Classroom.status == ACTIVE)
                             .order_by(Classroom.name, Classroom.id)):
        classrooms.append({"id": c.id, "name": c.name, "teachers": []})
    by_id = {c["id"]: c for c in classrooms}
    if by_id:
        for classroom_id, given, family in session.execute(
                select(ClassroomTeacher.classroom_id, Teacher.given_name, Teacher.family_name)
                .join(Teacher, Teacher.id == ClassroomTeacher.teacher_id)
                .where(ClassroomTeacher.classroom_id.in_(list(by_id)))):
            by_id[classroom_id]["teachers"].append(f"{given} {family}")
    sizes = dict(session.execute(select(Enrollment.classroom_id, func.count()).where(
        Enrollment.classroom_id.in_(list(by_id) or [0])).group_by(Enrollment.classroom_id)).all())
    for c in classrooms:
        c["students"] = sizes.get(c["id"], 0)
    active = session.scalar(select(func.count()).where(Student.school_id == school.id, Student.status == ACTIVE))
    return {
        "students": [{"id": s.id, "name": f"{s.given_name} {s.family_name}", "given_name": s.given_name,
                      "family_name": s.family_name, "student_number": s.student_number, "grade": s.grade,
                      "status": s.status, "external_id": s.external_id, "classes": classes_of.get(s.id, []),
                      "guardians": guardians_of.get(s.id, [])} for s in students],
        "classrooms": classrooms, "total": total, "active_students": active, "page": page,
        "pages": max(1, -(-total // per_page)), "per_page": per_page,
    }
