"""Manual roster functions: schools, teachers, classrooms, students (enroll, assign, edit, archive)."""

from __future__ import annotations

import re
from datetime import date
from typing import Iterable

from sqlalchemy import select

from directory.audit import snapshot
from directory.errors import Duplicate, InvalidInput
from directory.models import (ACTIVE, ARCHIVED, Classroom, ClassroomTeacher, Enrollment, School, Student,
                              Teacher, utcnow)
from directory.scope import Scope

STUDENT_FIELDS = ("given_name", "family_name", "student_number", "birth_date", "grade")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_birth_date(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        if not _ISO_DATE.match(value):
            raise ValueError
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"birth date {value!r} is not a date in the form YYYY-MM-DD") from None
    if parsed > date.today():
        raise InvalidInput(f"birth date {value} is in the future")
    return value


def _name(value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise InvalidInput(f"{what} is required")
    return value.strip()


class RosterFunctions(Scope):
    # -- schools, teachers, classrooms ---------------------------------------------------------------
    def add_school(self, name: str, school_number: str | None = None, source: str | None = None,
                   external_id: str | None = None) -> School:
        if (source is None) != (external_id is None):
            raise InvalidInput("a synced school needs both a source and an external id")
        if source is not None and self.session.scalar(select(School.id).where(
                School.district_id == self.district.id, School.source == source,
                School.external_id == external_id)):
            raise Duplicate(f"school {source}:{external_id} already exists")
        school = School(district_id=self.district.id, name=_name(name, "school name"),
                        school_number=school_number, source=source, external_id=external_id)
        self.session.add(school)
        self.session.flush()
        self.audit("school.create", school, after=snapshot(school))
        return school

    def add_teacher(self, given_name: str, family_name: str, email: str | None = None) -> Teacher:
        from directory.contacts import normalize_email

        teacher = Teacher(district_id=self.district.id, given_name=_name(given_name, "given name"),
                          family_name=_name(family_name, "family name"), email=normalize_email(email))
        self.session.add(teacher)
        self.session.flush()
        self.audit("teacher.create", teacher, after=snapshot(teacher))
        return teacher

    def add_classroom(self, school_id: int, name: str, teacher_ids: Iterable[int] = ()) -> Classroom:
        school = self.get(School, school_id)
        teachers = self.get_many(Teacher, teacher_ids) if teacher_ids else []
        classroom = Classroom(district_id=self.district.id, school_id=school.id, name=_name(name, "classroom name"))
        self.session.add(classroom)
        self.session.flush()
        for teacher in teachers:
            self.session.add(ClassroomTeacher(classroom_id=classroom.id, teacher_id=teacher.id))
        self.audit("classroom.create", classroom,
                   after={**snapshot(classroom), "teacher_ids": [t.id for t in teachers]})
        return classroom

    # -- students ----------------------------------------------------------------------------------
    def _check_student_number(self, number: str | None, except_id: int | None = None) -> None:
        if not number:
            return
        clash = self.session.scalar(select(Student.id).where(
            Student.district_id == self.district.id, Student.student_number == number,
            Student.status == ACTIVE, Student.id != (except_id or -1)))
        if clash:
            raise Duplicate(f"student number {number} is already used by student {clash}")

    def enroll_student(self, school_id: int, given_name: str, family_name: str,
                       student_number: str | None = None, birth_date: str | None = None,
                       grade: str | None = None, classroom_ids: Iterable[int] = ()) -> Student:
        school = self.get(School, school_id)
        classrooms = self.get_many(Classroom, classroom_ids) if classroom_ids else []
        self.check_lock("enroll student", [school, *self._schools_of(classrooms)], "student", None)
        student_number = (student_number or "").strip() or None
        self._check_student_number(student_number)
        student = Student(district_id=self.district.id, school_id=school.id,
                          given_name=_name(given_name, "given name"), family_name=_name(family_name, "family name"),
                          student_number=student_number, birth_date=parse_birth_date(birth_date),
                          grade=(grade or "").strip() or None)
        self.session.add(student)
        self.session.flush()
        for classroom in classrooms:
            self.session.add(Enrollment(classroom_id=classroom.id, student_id=student.id))
        self.audit("student.enroll", student,
                   after={**snapshot(student), "classroom_ids": [c.id for c in classrooms]})
        return student

    def _schools_of(self, classrooms: Iterable[Classroom]) -> list[School]:
        return [self.session.get(School, c.school_id) for c in classrooms]

    def assign_student(self, student_id: int, classroom_id: int) -> Enrollment:
        student = self.get(Student, student_id)
        classroom = self.get(Classroom, classroom_id)
        if student.status != ACTIVE:
            raise InvalidInput(f"student {student.id} is archived; restore them first")
        self.check_lock("assign student", self._schools_of([classroom]) + [self.get(School, student.school_id)],
                        "student", student.id)
        if self.session.get(Enrollment, (classroom.id, student.id)) is not None:
            raise Duplicate(f"student {student.id} is already in classroom {classroom.id}")
        enrollment = Enrollment(classroom_id=classroom.id, student_id=student.id)
        self.session.add(enrollment)
        self.audit("student.assign", student, after={"classroom_id": classroom.id})
        return enrollment

    def unassign_student(self, student_id: int, classroom_id: int) -> None:
        student = self.get(Student, student_id)
        classroom = self.get(Classroom, classroom_id)
        self.check_lock("unassign student", self._schools_of([classroom]), "student", student.id)
        enrollment = self.session.get(Enrollment, (classroom.id, student.id))
        if enrollment is None:
            raise InvalidInput(f"student {student.id} is not in classroom {classroom.id}")
        self.session.delete(enrollment)
        self.audit("student.unassign", student, before={"classroom_id": classroom.id})

    def edit_student(self, student_id: int, **changes) -> Student:
        unknown = set(changes) - set(STUDENT_FIELDS) - {"school_id"}
        if unknown:
            raise InvalidInput(f"cannot edit {', '.join(sorted(unknown))} of a student")
        student = self.get(Student, student_id)
        schools = [self.get(School, student.school_id)]
        if changes.get("school_id") is not None:
            schools.append(self.get(School, changes["school_id"]))
        self.check_lock("edit student", schools, "student", student.id)
        before = snapshot(student)
        for key, value in changes.items():
            if value is None:
                continue
            if key in ("given_name", "family_name"):
                value = _name(value, key.replace("_", " "))
            elif key == "birth_date":
                value = parse_birth_date(value)
            elif key == "student_number":
                value = value.strip() or None
                self._check_student_number(value, except_id=student.id)
            setattr(student, key, value)
        self.session.flush()
        self.audit("student.edit", student, before=before, after=snapshot(student))
        return student

    def archive_students(self, student_ids: Iterable[int]) -> list[Student]:
        """Archive (never delete) students who graduated or left; all or none."""
        students = self.get_many(Student, student_ids)
        schools = {s.school_id: self.get(School, s.school_id) for s in students}
        self.check_lock("archive student", schools.values(), "student", None)
        already = [s.id for s in students if s.status == ARCHIVED]
        if already:
            raise InvalidInput(f"student {', '.join(map(str, already))} already archived")
        now = utcnow()
        for student in students:
            student.status, student.archived_at = ARCHIVED, now
            self.audit("student.archive", student, before={"status": ACTIVE}, after={"status": ARCHIVED})
        return students

    def restore_student(self, student_id: int) -> Student:
        student = self.get(Student, student_id)
        self.check_lock("restore student", [self.get(School, student.school_id)], "student", student.id)
        if student.status != ARCHIVED:
            raise InvalidInput(f"student {student.id} is not archived")
        self._check_student_number(student.student_number, except_id=student.id)
        student.status, student.archived_at = ACTIVE, None
        self.audit("student.restore", student, before={"status": ARCHIVED}, after={"status": ACTIVE})
        return student
