"""Reading the directory's current state for one district and source, once per run (I/O).

Memberships (enrollments, teacher assignments, guardian links) are read only where the sync made them
(their ``source`` is this source): one made by hand stays, even on a synced school, so a guardian a
school added before connecting its SIS is not cut off by the first complete roster.

One query per kind, plain tuples, no ORM objects: a 100,000-student district is read in a few queries,
never one query per record. The queries run on the session's Core connection (same transaction): the
ORM's result layer would cost more than the database does for these million-row reads, and pairs are
kept as plain tuples, which hash and compare far faster than result rows in the diff's sets.
"""

from __future__ import annotations

from sys import intern

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from connectors.record_build import maker
from directory.models import ACTIVE, Classroom, Guardian, School, Student, Teacher
from sync.changes import Holder, ManualRow, Row, Snapshot

# A row per student and guardian of the district: built positionally (row_id, key, values, active, joined),
# through connectors/record_build.py's fast path.
_row, _holder = maker(Row), maker(Holder)


def load_snapshot(session: Session, district_id: int, source: str) -> Snapshot:
    snap = Snapshot()
    ex = session.connection().execute
    rows = snap.rows

    for id_, key, name, number, status in ex(select(School.id, School.external_id, School.name, School.school_number,
                                                    School.status).where(School.district_id == district_id,
                                                                         School.source == source)):
        rows["schools"][key] = Row(id_, key, (name, number), status == ACTIVE)
    snap.manual_schools = [ManualRow(id_, (name, number)) for id_, name, number in ex(
        select(School.id, School.name, School.school_number).where(
            School.district_id == district_id, School.source.is_(None), School.status == ACTIVE))]

    for id_, key, given, family, email, role, status in ex(select(
            Teacher.id, Teacher.external_id, Teacher.given_name, Teacher.family_name, Teacher.email, Teacher.role,
            Teacher.status).where(Teacher.district_id == district_id, Teacher.source == source)):
        rows["teachers"][key] = Row(id_, key, (given, family, email, role), status == ACTIVE)
    snap.manual_teachers = [ManualRow(id_, (g, f, e, r)) for id_, g, f, e, r in ex(
        select(Teacher.id, Teacher.given_name, Teacher.family_name, Teacher.email, Teacher.role).where(
            Teacher.district_id == district_id, Teacher.source.is_(None), Teacher.status == ACTIVE))]

    for id_, key, school_key, name, status in ex(
            select(Classroom.id, Classroom.external_id, School.external_id, Classroom.name, Classroom.status)
            .join(School, School.id == Classroom.school_id)
            .where(Classroom.district_id == district_id, Classroom.source == source)):
        rows["classrooms"][key] = _row(id_, key, (school_key, name), status == ACTIVE, False)

    synced_school = and_(School.source == source)
    student_keys: dict[int, str | None] = {}  # every student of the district: row id -> external id
    for r in _plain_select(session, select(
            Student.id, Student.external_id, Student.source, School.external_id, School.source, Student.school_id,
            Student.given_name, Student.family_name, Student.student_number, Student.birth_date, Student.grade,
            Student.status).join(School, School.id == Student.school_id).where(Student.district_id == district_id)):
        id_, key, st_source, school_key, school_source, school_row, *values, status = r
        key = student_keys[id_] = _shared(key)
        if st_source == source:
            rows["students"][key] = _row(id_, key, (school_key if school_source == source else None, *values),
                                         status == ACTIVE, False)
        elif st_source is None and status == ACTIVE:
            snap.manual_students.append(ManualRow(id_, (school_row, *values),
                                                  school_key if school_source == source else None))
    snap.active_students_by_school = dict(tuple(r) for r in ex(
        select(School.external_id, func.count(Student.id)).join(Student, Student.school_id == School.id)
        .where(School.district_id == district_id, synced_school, Student.status == ACTIVE)
        .group_by(School.external_id)))

    for id_, key, g_source, given, family, email, phone, status, state in _plain_select(session, select(
            Guardian.id, Guardian.external_id, Guardian.source, Guardian.given_name, Guardian.family_name,
            Guardian.email, Guardian.phone, Guardian.status, Guardian.state).where(Guardian.district_id == district_id)
            .order_by(Guardian.id)):
        joined = state == "joined"
        key = _shared(key)
        if g_source == source:
            rows["guardians"][key] = _row(id_, key, (given, family, email, phone), status == ACTIVE, joined)
        if status != ACTIVE:
            continue
        holder = _holder(id_, key if g_source == source else None, joined, email, phone)
        # Several guardians may share a family email; an account that joined wins, else the oldest row.
        for value, index in ((email, snap.holders_by_email), (phone, snap.holders_by_phone)):
            if value and (value not in index or (joined and not index[value].joined)):
                index[value] = holder

    # Memberships are the bulk of a district (six enrollments a student): read straight from the driver,
    # and enrollments as row ids named through the students read above, which costs less than the
    # database joining every row to its student.
    classroom_keys = {id_: _shared(key) for id_, key in _plain(
        session, "SELECT id, external_id FROM classrooms WHERE district_id = {p}", district_id)}
    enrolled = _plain(session, """
        SELECT e.classroom_id, e.student_id FROM enrollments e JOIN classrooms c ON c.id = e.classroom_id
        WHERE c.district_id = {p} AND e.source = {p}""", district_id, source)
    outside = sorted({s for _, s in enrolled if s not in student_keys})  # another district's (never, but)
    for at in range(0, len(outside), 500):
        chunk = outside[at:at + 500]
        student_keys.update((id_, _shared(key)) for id_, key in _plain(
            session, f"SELECT id, external_id FROM students WHERE id IN ({', '.join(['{p}'] * len(chunk))})",
            *chunk))
    snap.enrollments = {(classroom_keys[c], student_keys[s]) for c, s in enrolled}
    snap.classroom_teachers = _shared_pairs(_plain(session, """
        SELECT c.external_id, t.external_id FROM classroom_teachers ct
        JOIN classrooms c ON c.id = ct.classroom_id JOIN teachers t ON t.id = ct.teacher_id
        WHERE c.district_id = {p} AND ct.source = {p}""", district_id, source))
    for g_id, g_key, g_source, s_id, s_key, s_source, relationship, contact_type, l_source in _plain(session, """
            SELECT g.id, g.external_id, g.source, st.id, st.external_id, st.source, gl.relationship,
                   gl.contact_type, gl.source
            FROM guardian_links gl JOIN guardians g ON g.id = gl.guardian_id JOIN students st ON st.id = gl.student_id
            WHERE st.district_id = {p} AND (gl.source = {p} OR gl.source IS NULL)""", district_id, source):
        identity = _shared(g_key) if g_source == source else f"row:{g_id}"
        if l_source is None:  # made by hand; a student the sync may adopt in this run is named by its row
            snap.manual_links.add((identity, _shared(s_key) if s_source == source else f"row:{s_id}"))
            continue
        snap.links[(identity, _shared(s_key))] = (relationship, contact_type)
    return snap


def _shared(key: str | None) -> str | None:
    """An external id as one shared string (``sys.intern``), the one the drop's reader made for it too.

    A classroom's id comes back in every enrollment of it, a student's in six: one string per id instead
    of one per row saves a third of the snapshot's memory, and the diff's lookups of (classroom, student)
    pairs then find equal ids by identity.
    """
    return intern(key) if key is not None else None


def _shared_pairs(rows: list[tuple]) -> set[tuple]:
    return {(_shared(a), _shared(b)) for a, b in rows}


def _plain_select(session: Session, statement) -> list[tuple]:
    """``_plain`` for a Core select (students and guardians: a hundred thousand rows each)."""
    compiled = statement.compile(dialect=session.connection().dialect)
    params = compiled.params
    if compiled.positional:
        params = tuple(params[name] for name in compiled.positiontup)
    return _run(session, str(compiled), params)


def _plain(session: Session, sql: str, *params) -> list[tuple]:
    """The rows of ``sql`` as the driver's own tuples, in the session's transaction.

    For the few reads of a million rows: SQLAlchemy's result rows cost more than the database does, and
    the diff keeps these as set members, where plain tuples hash and compare several times faster.
    ``{p}`` in ``sql`` is a parameter placeholder in the driver's style.
    """
    mark = "%s" if session.connection().dialect.paramstyle in ("format", "pyformat") else "?"
    return _run(session, sql.format(p=mark), params)


def _run(session: Session, sql: str, params) -> list[tuple]:
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()
