"""`rostersync directory export`: the whole directory of a district, as JSON or CSV.

Later work and its tests read the directory through this, so the JSON keys are a contract (README,
"Export format"). Rows are read with plain selects, one query per table, never per student.
"""

from __future__ import annotations

from collections import defaultdict
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.csvsafe import write_rows
from directory.models import (Classroom, ClassroomTeacher, District, Enrollment, Guardian, GuardianLink, School,
                              Student, Teacher)
from directory.settings import settings_of

SCHOOL = ("id", "name", "school_number", "source", "external_id", "status")
TEACHER = ("id", "given_name", "family_name", "email", "role", "source", "external_id", "status")
CLASSROOM = ("id", "school_id", "name", "source", "external_id", "status")
STUDENT = ("id", "school_id", "given_name", "family_name", "student_number", "birth_date", "grade", "status",
           "source", "external_id")
GUARDIAN = ("id", "given_name", "family_name", "email", "email_status", "email_status_reason", "phone",
            "phone_status", "phone_status_reason", "state", "status", "source", "external_id")
LINK = ("guardian_id", "student_id", "relationship", "contact_type")


def _rows(session: Session, model, columns, district_id: int) -> list[dict]:
    stmt = select(*[getattr(model, c) for c in columns]).where(model.district_id == district_id).order_by(model.id)
    return [dict(zip(columns, r)) for r in session.execute(stmt)]


def _pairs(session: Session, stmt) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for a, b in session.execute(stmt):
        out[a].append(b)
    return out


def export_directory(session: Session, district: District) -> dict:
    d = district.id
    schools = _rows(session, School, SCHOOL, d)
    for s in schools:
        s["synced"] = s["source"] is not None
    classrooms = _rows(session, Classroom, CLASSROOM, d)
    in_district = select(Classroom.id).where(Classroom.district_id == d)
    teachers_of = _pairs(session, select(ClassroomTeacher.classroom_id, ClassroomTeacher.teacher_id)
                         .where(ClassroomTeacher.classroom_id.in_(in_district))
                         .order_by(ClassroomTeacher.teacher_id))
    students_of = _pairs(session, select(Enrollment.classroom_id, Enrollment.student_id)
                         .where(Enrollment.classroom_id.in_(in_district)).order_by(Enrollment.student_id))
    classrooms_of: dict[int, list[int]] = defaultdict(list)
    for c in classrooms:
        c["teacher_ids"] = teachers_of.get(c["id"], [])
        c["student_ids"] = students_of.get(c["id"], [])
        for sid in c["student_ids"]:
            classrooms_of[sid].append(c["id"])
    students = _rows(session, Student, STUDENT, d)
    for s in students:
        s["classroom_ids"] = classrooms_of.get(s["id"], [])
    links = [dict(zip(LINK, r)) for r in session.execute(
        select(*[getattr(GuardianLink, c) for c in LINK])
        .join(Guardian, Guardian.id == GuardianLink.guardian_id)
        .where(Guardian.district_id == d).order_by(GuardianLink.guardian_id, GuardianLink.student_id))]
    return {
        "district": {"slug": district.slug, "name": district.name, "source": district.source,
                     "settings": settings_of(district)},
        "schools": schools,
        "teachers": _rows(session, Teacher, TEACHER, d),
        "classrooms": classrooms,
        "students": students,
        "guardians": _rows(session, Guardian, GUARDIAN, d),
        "links": links,
    }


CSV_HEADER = ("school_id", "school", "student_id", "student_external_id", "student_number", "given_name",
              "family_name", "grade", "birth_date", "student_status", "classrooms", "guardian_id",
              "guardian_external_id", "guardian_name", "relationship", "email", "email_status", "phone",
              "phone_status", "guardian_state")


def write_csv(data: dict, stream: IO[str]) -> None:
    """One row per student and guardian (a student without guardians gets one row), for spreadsheets."""
    schools = {s["id"]: s for s in data["schools"]}
    classrooms = {c["id"]: c["name"] for c in data["classrooms"]}
    guardians = {g["id"]: g for g in data["guardians"]}
    links_of: dict[int, list[dict]] = defaultdict(list)
    for link in data["links"]:
        links_of[link["student_id"]].append(link)

    def rows():
        for s in data["students"]:
            base = [s["school_id"], schools[s["school_id"]]["name"], s["id"], s["external_id"], s["student_number"],
                    s["given_name"], s["family_name"], s["grade"], s["birth_date"], s["status"],
                    "; ".join(classrooms[c] for c in s["classroom_ids"])]
            links = links_of.get(s["id"]) or [None]
            for link in links:
                if link is None:
                    yield base + [None] * 9
                    continue
                g = guardians[link["guardian_id"]]
                yield base + [g["id"], g["external_id"], f"{g['given_name']} {g['family_name']}".strip(),
                              link["relationship"], g["email"], g["email_status"], g["phone"], g["phone_status"],
                              g["state"]]

    write_rows(stream, CSV_HEADER, rows())
