"""Writing a ChangeSet to the directory, inside the run's one transaction (I/O).

Set-based: one executemany per kind and action, external ids resolved to row ids once, after the
parents are written. Every change is audited as the sync run: updates, archives, restores and
adoptions one entry per record with before and after; creates and membership changes one entry per kind
with the ids, so a 100,000-student first sync does not write 100,000 audit rows.

The big writes (new records, memberships, invitations: a million rows on a first sync of a large
district) go as plain tuples straight to the driver's executemany (``exec_driver_sql``) on the session's
own connection, so they stay in the run's transaction. SQLAlchemy's insert() with a dict per row costs
about three times as much per row, all of it in Python. Small writes (updates, audit entries with JSON)
keep SQLAlchemy's statements.
"""

from __future__ import annotations

import base64
import secrets
from contextlib import contextmanager
from datetime import datetime
from typing import Callable, Iterable, Iterator

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from directory.models import (ACTIVE, ARCHIVED, REMOVED, AuditEntry, Classroom, ClassroomTeacher, Enrollment,
                              Guardian, GuardianLink, Invitation, School, Student, Teacher)
from messaging import joincodes
from sync.changes import FIELDS, ChangeSet, Snapshot
from sync.faults import checkpoint

MODELS = {"schools": School, "teachers": Teacher, "classrooms": Classroom, "students": Student, "guardians": Guardian}
ENTITY = {"schools": "school", "teachers": "teacher", "classrooms": "classroom", "students": "student",
          "guardians": "guardian"}
# Columns whose incoming value is another record's external id, resolved through that kind's id map.
REFERENCES = {"classrooms": {"school_id": "schools"}, "students": {"school_id": "schools"}}
CHUNK = 5000
# Rows COPYed straight into a table (PostgreSQL) pass by SQLAlchemy's cursor events: whoever counts the
# rows a run writes (the benchmark, sync/bench_probe.py) hears of them here, as (table, rows).
COPY_LISTENERS: list[Callable[[str, int], None]] = []
# Memberships at least this many are worth one query that asks whether the district has any yet (a first
# sync): if not, PostgreSQL COPYs them straight into their table instead of through the conflict check.
DIRECT_COPY_MIN = 10_000


def _chunks(items: list, n: int = CHUNK) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


# Join codes in bulk: messaging.joincodes draws each of a code's symbols with its own call into the OS's
# randomness (0.1 ms a code, 15 s for a first sync with 150,000 invitations). Its alphabet has 32 symbols,
# so a symbol is exactly 5 random bits, and base32 turns one draw of bytes into such symbols in C.
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_JOIN_ALPHABET = str.maketrans(_B32, joincodes.ALPHABET) if len(joincodes.ALPHABET) == 32 else None


def join_codes(n: int) -> list[str]:
    """``n`` codes shaped as ``joincodes.new_join_code`` makes them, equally random."""
    if _TO_JOIN_ALPHABET is None:  # the alphabet changed: only its own function knows how to draw it
        return [joincodes.new_join_code() for _ in range(n)]
    size = joincodes.LENGTH
    symbols = base64.b32encode(secrets.token_bytes(-(-n * size * 5 // 40) * 5)).decode("ascii")
    symbols = symbols.translate(_TO_JOIN_ALPHABET)
    return ["-".join(symbols[at + i:at + i + 4] for i in range(0, size, 4)) for at in range(0, n * size, size)]


class Applier:
    def __init__(self, session: Session, district_id: int, source: str, run_id: int, now: datetime,
                 snapshot: Snapshot):
        self.session = session
        self.district_id = district_id
        self.source = source
        self.run_id = run_id
        self.now = now
        self.ids: dict[str, dict[str, int]] = {k: {key: r.row_id for key, r in snapshot.rows[k].items()}
                                               for k in MODELS}
        self.audit_rows: list[dict] = []
        # Core on the session's connection: ORM bulk statements track objects and fetch keys we don't need.
        self.conn = session.connection()
        self.dialect = self.conn.dialect
        # ``now`` as the driver stores it, for rows written as raw tuples (SQLite keeps times as text in
        # SQLAlchemy's format; psycopg takes the datetime itself).
        to_db = School.__table__.c.created_at.type.dialect_impl(self.dialect).bind_processor(self.dialect)
        self.stamp = to_db(now) if to_db else now

    def _insert(self, table: Table, columns: tuple[str, ...], rows: list[tuple], *, ignore_existing=False,
                none_existing=False) -> None:
        """INSERT ``rows`` (values of ``columns``, in the driver's own types): executemany, or COPY on PostgreSQL.

        Columns left out get their model default, as SQLAlchemy's insert() would give them.
        ``ignore_existing`` skips rows whose key is already there (ON CONFLICT DO NOTHING: SQLite and
        PostgreSQL alike); ``none_existing`` says the caller knows no row can be (PostgreSQL then need not
        stage them for the ON CONFLICT).
        """
        if not rows:
            return
        defaults = [(c.name, c.default) for c in table.columns
                    if c.name not in columns and c.default is not None and not c.primary_key]
        scalars = tuple(d.arg for _, d in defaults if d.is_scalar)
        calls = [d.arg for _, d in defaults if not d.is_scalar]  # none on the hot paths: see join_codes
        names = (*columns, *(n for n, d in defaults if d.is_scalar), *(n for n, d in defaults if not d.is_scalar))
        if self.dialect.name == "postgresql":
            self._copy(table, names, rows, scalars, calls, ignore_existing and not none_existing)
            return
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(['?'] * len(names))})"
               + (" ON CONFLICT DO NOTHING" if ignore_existing else ""))
        for chunk in _chunks(rows, 50_000):
            if scalars or calls:
                chunk = [row + scalars + tuple(call(None) for call in calls) for row in chunk]
            self.conn.exec_driver_sql(sql, chunk)

    def _copy(self, table: Table, names: tuple[str, ...], rows: list[tuple], scalars: tuple, calls: list,
              ignore_existing: bool) -> None:
        """PostgreSQL: COPY the rows, straight into the table or, for ON CONFLICT, through a staging table.

        psycopg's executemany still runs one INSERT per row on the server (about 40 microseconds a row
        here); COPY streams them, in order, so new ids follow the list. COPY cannot skip a row that is
        already there: where one may be (``ignore_existing``), the rows go to a temporary staging table
        (plain columns, no constraints, gone at commit) and then into the table by one INSERT ... SELECT ...
        ON CONFLICT DO NOTHING. Measured, 620,000 enrollments: 11.9 s staged, 7.7 s straight (of which the
        foreign keys' checks, row by row, are 6 s).
        """
        columns = ", ".join(names)
        cursor = self.conn.connection.driver_connection.cursor()
        target = f"rostersync_stage_{table.name}" if ignore_existing else table.name
        try:
            if ignore_existing:
                cursor.execute(f"CREATE TEMPORARY TABLE {target} ON COMMIT DROP AS SELECT {columns} "
                               f"FROM {table.name} WITH NO DATA")
            with cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + scalars + tuple(call(None) for call in calls) if scalars or calls else row)
            if ignore_existing:
                self.conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {target} "
                                          "ON CONFLICT DO NOTHING")
                cursor.execute(f"DROP TABLE {target}")
            else:
                for listener in COPY_LISTENERS:
                    listener(table.name, cursor.rowcount)
        finally:
            cursor.close()

    # -- audit ---------------------------------------------------------------------------------------
    def _audit(self, action: str, entity: str, entity_id: int | None, before=None, after=None) -> None:
        self.audit_rows.append({"district_id": self.district_id, "at": self.now, "actor_type": "sync",
                                "actor": f"sync run {self.run_id}", "run_id": self.run_id, "action": action,
                                "entity": entity, "entity_id": entity_id, "before": before, "after": after,
                                "reason": None})

    # -- entities ------------------------------------------------------------------------------------
    def _columns(self, kind: str, values: tuple) -> dict:
        cols = dict(zip(FIELDS[kind], values))
        for column, ref_kind in REFERENCES.get(kind, {}).items():
            cols[column] = self.ids[ref_kind][cols[column]]
        return cols

    def entities(self, kind: str, cs: ChangeSet) -> None:
        model, changes, entity = MODELS[kind], cs.kinds[kind], ENTITY[kind]
        ex = self.conn.execute
        table = model.__table__
        if changes.creates:
            fields = FIELDS[kind]
            head = (self.district_id, self.source, ACTIVE, self.stamp, self.stamp)
            refs = [(fields.index(column), self.ids[ref_kind])  # columns naming another kind's external id
                    for column, ref_kind in REFERENCES.get(kind, {}).items()]
            rows = []
            for key, values in changes.creates:
                if refs:
                    values = list(values)
                    for at, ids in refs:
                        values[at] = ids[values[at]]
                rows.append((*head, key, *values))
            self._insert(table, ("district_id", "source", "status", "created_at", "updated_at", "external_id",
                                 *fields), rows)
            # Read the new ids back in one query: RETURNING with many rows is far slower on SQLite.
            new_keys = {key for key, _ in changes.creates}
            created: list[int] = []
            for row_id, key in ex(select(model.id, model.external_id).where(
                    model.district_id == self.district_id, model.source == self.source,
                    model.external_id.in_(new_keys) if len(new_keys) < 500 else model.id.is_not(None))):
                if key in new_keys:
                    self.ids[kind][key] = row_id
                    created.append(row_id)
            self._audit("sync.create", entity, None, after={"count": len(created), "ids": created})
        if changes.adopts:
            # A hand-made row becomes the synced one: it keeps its id, links and history.
            params = [{"_id": row_id, "source": self.source, "external_id": key, **self._columns(kind, values),
                       "updated_at": self.now} for row_id, key, values in changes.adopts]
            ex(update(table).where(table.c.id == bindparam("_id")).values(
                {c: bindparam(c) for c in params[0] if c != "_id"}), params)
            for row_id, key, values in changes.adopts:
                self.ids[kind][key] = row_id
                self._audit("sync.adopt", entity, row_id, before={"source": None},
                            after={"source": self.source, "external_id": key})
        if changes.updates:
            params = [{"_id": row_id, **self._columns(kind, values), "updated_at": self.now}
                      for row_id, _, values, _ in changes.updates]
            ex(update(table).where(table.c.id == bindparam("_id")).values(
                {c: bindparam(c) for c in params[0] if c != "_id"}), params)
            for row_id, key, _, changed in changes.updates:
                self._audit("sync.update", entity, row_id, before={f: o for f, (o, _) in changed.items()},
                            after={f: n for f, (_, n) in changed.items()})
        gone = REMOVED if kind == "guardians" else ARCHIVED
        self._set_status(model, entity, [r for r, _ in changes.restores], ACTIVE, gone, "sync.restore")

    def archive(self, kind: str, cs: ChangeSet) -> None:
        """Archives run last, after memberships, so nothing points at a row mid-change."""
        model, entity = MODELS[kind], ENTITY[kind]
        gone = REMOVED if kind == "guardians" else ARCHIVED
        self._set_status(model, entity, [r for r, _ in cs.kinds[kind].archives], gone, ACTIVE, "sync.archive")

    def _set_status(self, model, entity: str, row_ids: list[int], new: str, old: str, action: str) -> None:
        if not row_ids:
            return
        values = {"status": new, "updated_at": self.now}
        if model is Student:
            values["archived_at"] = self.now if new == ARCHIVED else None
        for chunk in _chunks(row_ids):
            self.conn.execute(update(model.__table__).where(model.__table__.c.id.in_(chunk)).values(values))
        for row_id in row_ids:
            self._audit(action, entity, row_id, before={"status": old}, after={"status": new})

    # -- memberships ---------------------------------------------------------------------------------
    def pairs(self, cs: ChangeSet) -> None:
        guardian_ids = dict(self.ids["guardians"])
        guardian_ids.update(cs.account_keys)
        for key, row_id in list(guardian_ids.items()):
            guardian_ids.setdefault(f"row:{row_id}", row_id)
        # A link made on an earlier night to an account (not synced itself) that tonight's roster no
        # longer names is known by the account's row only: without this its removal was skipped, every night.
        for g, _ in cs.pairs["guardian_links"].removed:
            if g.startswith("row:"):
                guardian_ids.setdefault(g, int(g[4:]))
        specs = {
            "enrollments": (Enrollment, "classroom_id", "student_id", self.ids["classrooms"], self.ids["students"]),
            "classroom_teachers": (ClassroomTeacher, "classroom_id", "teacher_id", self.ids["classrooms"],
                                   self.ids["teachers"]),
            "guardian_links": (GuardianLink, "guardian_id", "student_id", guardian_ids, self.ids["students"]),
        }
        for kind, (model, a_col, b_col, a_ids, b_ids) in specs.items():
            changes = cs.pairs[kind]
            table = model.__table__
            source = self.source
            if kind == "guardian_links":
                added = [(a_ids[a], b_ids[b], source, *extra) for (a, b), extra in changes.added.items()]
                columns: tuple[str, ...] = (a_col, b_col, "source", "relationship", "contact_type")
            else:
                added = [(a_ids[a], b_ids[b], source) for a, b in changes.added]
                columns = (a_col, b_col, "source")
            added.sort()  # in primary-key order, the key's B-tree is filled front to back: a third faster
            # An existing pair (a hand-made link adopted by the sync, a retried run) is left as it is; when the
            # district has none of this kind yet (a first sync), no pair can be there already.
            self._insert(table, columns, added, ignore_existing=True,
                         none_existing=len(added) >= DIRECT_COPY_MIN and not self._district_has(table, a_col, kind))
            removed = [(a_ids[a], b_ids[b]) for a, b in changes.removed if a in a_ids and b in b_ids]
            if removed:
                mark = "%s" if self.dialect.paramstyle in ("format", "pyformat") else "?"
                self.conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE {a_col} = {mark} AND {b_col} = {mark}",
                                          removed)
            if kind == "guardian_links" and changes.updated:
                links = GuardianLink.__table__
                self.conn.execute(
                    update(links).where(links.c.guardian_id == bindparam("_g"), links.c.student_id == bindparam("_s"))
                    .values(relationship=bindparam("rel"), contact_type=bindparam("ctype")),
                    [{"_g": guardian_ids[g], "_s": self.ids["students"][s], "rel": rel, "ctype": ctype}
                     for (g, s), (rel, ctype) in changes.updated.items()])
            if changes.added or changes.removed or changes.updated:
                # The pairs themselves (tuples: JSON writes them as the same arrays as lists), not a copy of
                # each: a first sync of a million students names six million, and a list per pair was 0.5 GB.
                self._audit("sync.memberships", kind, None, after={
                    "added": sorted(changes.added),
                    "removed": sorted(changes.removed),
                    **({"updated": sorted(changes.updated)} if changes.updated else {}),
                    # [guardian, student, relationship, contact type] as this run set them: what a rollback
                    # of a later run that removes or changes the link puts back (sync/rollback_plan.py).
                    **({"values": sorted(((*p, *v) for p, v in {**changes.added, **changes.updated}.items()),
                                         key=lambda r: r[:2])} if kind == "guardian_links" else {})})

    def _district_has(self, table: Table, a_col: str, kind: str) -> bool:
        """Whether ``table`` holds any row of this district (by its first column's owner)."""
        owner = {"enrollments": Classroom, "classroom_teachers": Classroom, "guardian_links": Guardian}[kind]
        return self.conn.execute(select(table.c[a_col]).join(owner.__table__, owner.__table__.c.id == table.c[a_col])
                                 .where(owner.__table__.c.district_id == self.district_id).limit(1)).first() is not None

    def invitations(self, cs: ChangeSet) -> int:
        guardian_ids = {**self.ids["guardians"], **cs.account_keys}
        students = self.ids["students"]
        wanted = [(guardian_ids[key], kind, students.get(student) if student else None)
                  for key, kind, student in cs.invitations if key in guardian_ids]
        head = (self.district_id, "queued", self.run_id, self.stamp)
        rows = [(*head, guardian, kind, student, code)
                for (guardian, kind, student), code in zip(wanted, join_codes(len(wanted)))]
        self._insert(Invitation.__table__, ("district_id", "status", "run_id", "created_at", "guardian_id", "kind",
                                            "student_id", "join_code"), rows)
        return len(rows)

    def flush_audit(self) -> None:
        for chunk in _chunks(self.audit_rows):
            self.conn.execute(insert(AuditEntry.__table__), chunk)
        self.audit_rows = []


@contextmanager
def _bulk_write(session: Session, rows: int, tables: Iterable[str]) -> Iterator[None]:
    """What a database needs around a write of ``rows`` rows into ``tables``.

    PostgreSQL: the tables are analyzed afterwards (in the same transaction), when the write is large.
    A first sync fills empty tables, and until autovacuum gets round to them the planner knows nothing of
    their size: measured, the next night's snapshot then took 13 s instead of 0.3 s for 10,000 students.

    SQLite: a page cache big enough for the write, for the length of it. With the default 2 MB, inserting
    a million rows into indexed tables (an index on student_id takes them in random order) writes and
    re-reads the same pages over and over: measured, 600,000 enrollments take 8 s with the default and
    3.8 s with 64 MB. About 100 bytes of cache per row written (the rows touch two or three B-trees) is
    enough; it is a cap, taken only as pages are used, and put back afterwards so a small run keeps a
    small process.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        yield
        if rows >= 10_000:
            connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
        return
    wanted_kib = min(rows // 10, 1 << 20)  # at most 1 GiB
    if connection.dialect.name != "sqlite" or wanted_kib < 16_384:
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{wanted_kib}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def apply_changes(session: Session, district_id: int, source: str, run_id: int, now: datetime, cs: ChangeSet,
                  snapshot: Snapshot) -> int:
    """Write everything; returns the number of invitations queued."""
    rows = sum(len(c.creates) for c in cs.kinds.values()) + sum(len(p.added) for p in cs.pairs.values())
    tables = [MODELS[k].__table__.name for k in MODELS] + [m.__table__.name for m in (
        Enrollment, ClassroomTeacher, GuardianLink, Invitation)]
    with _bulk_write(session, rows, tables):
        return _apply(session, district_id, source, run_id, now, cs, snapshot)


def _apply(session: Session, district_id: int, source: str, run_id: int, now: datetime, cs: ChangeSet,
           snapshot: Snapshot) -> int:
    applier = Applier(session, district_id, source, run_id, now, snapshot)
    for kind in ("schools", "teachers", "classrooms", "students", "guardians"):
        applier.entities(kind, cs)
    checkpoint("entities_written")
    applier.pairs(cs)
    checkpoint("memberships_written")
    for kind in ("guardians", "students", "classrooms", "teachers", "schools"):
        applier.archive(kind, cs)
    checkpoint("archives_written")
    queued = applier.invitations(cs)
    checkpoint("invitations_written")
    applier.flush_audit()
    return queued
