"""Writing a ChangeSet to the directory, inside the run's one transaction (I/O).

Set-based: one executemany per kind and action, external ids resolved to row ids once, after the
parents are written. Every change is audited as the sync run: updates, archives, restores and
adoptions one entry per record with before and after; creates and membership changes one entry per kind
with the ids, so a 100,000-student first sync does not write 100,000 audit rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from directory.models import (ACTIVE, ARCHIVED, REMOVED, AuditEntry, Classroom, ClassroomTeacher, Enrollment,
                              Guardian, GuardianLink, Invitation, School, Student, Teacher)
from sync.changes import FIELDS, ChangeSet, Snapshot

MODELS = {"schools": School, "teachers": Teacher, "classrooms": Classroom, "students": Student, "guardians": Guardian}
ENTITY = {"schools": "school", "teachers": "teacher", "classrooms": "classroom", "students": "student",
          "guardians": "guardian"}
# Columns whose incoming value is another record's external id, resolved through that kind's id map.
REFERENCES = {"classrooms": {"school_id": "schools"}, "students": {"school_id": "schools"}}
CHUNK = 5000


def _chunks(items: list, n: int = CHUNK) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


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
            rows = [{**self._columns(kind, values), "district_id": self.district_id, "source": self.source,
                     "external_id": key, "status": ACTIVE, "created_at": self.now, "updated_at": self.now}
                    for key, values in changes.creates]
            for chunk in _chunks(rows):
                ex(insert(table), chunk)
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
    def _insert_ignoring_existing(self, model, rows: list[dict]) -> None:
        """Insert pairs, skipping any that exist (a hand-made link adopted by the sync, a retried run)."""
        if not rows:
            return
        dialect = self.session.get_bind().dialect.name
        table = model.__table__
        stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()
        for chunk in _chunks(rows):
            self.conn.execute(stmt, chunk)

    def pairs(self, cs: ChangeSet) -> None:
        guardian_ids = dict(self.ids["guardians"])
        guardian_ids.update(cs.account_keys)
        for key, row_id in list(guardian_ids.items()):
            guardian_ids.setdefault(f"row:{row_id}", row_id)
        specs = {
            "enrollments": (Enrollment, "classroom_id", "student_id", self.ids["classrooms"], self.ids["students"]),
            "classroom_teachers": (ClassroomTeacher, "classroom_id", "teacher_id", self.ids["classrooms"],
                                   self.ids["teachers"]),
            "guardian_links": (GuardianLink, "guardian_id", "student_id", guardian_ids, self.ids["students"]),
        }
        for kind, (model, a_col, b_col, a_ids, b_ids) in specs.items():
            changes = cs.pairs[kind]
            added = []
            for (a, b), extra in changes.added.items():
                row = {a_col: a_ids[a], b_col: b_ids[b], "source": self.source}
                if kind == "guardian_links":
                    row["relationship"], row["contact_type"] = extra
                added.append(row)
            self._insert_ignoring_existing(model, added)
            removed = [(a_ids[a], b_ids[b]) for a, b in changes.removed if a in a_ids and b in b_ids]
            for chunk in _chunks(removed, 500):
                self.conn.execute(delete(model.__table__).where(or_(*[and_(getattr(model, a_col) == x,
                                                                    getattr(model, b_col) == y) for x, y in chunk])))
            if kind == "guardian_links" and changes.updated:
                links = GuardianLink.__table__
                self.conn.execute(
                    update(links).where(links.c.guardian_id == bindparam("_g"), links.c.student_id == bindparam("_s"))
                    .values(relationship=bindparam("rel"), contact_type=bindparam("ctype")),
                    [{"_g": guardian_ids[g], "_s": self.ids["students"][s], "rel": rel, "ctype": ctype}
                     for (g, s), (rel, ctype) in changes.updated.items()])
            if changes.added or changes.removed or changes.updated:
                self._audit("sync.memberships", kind, None, after={
                    "added": sorted([list(p) for p in changes.added]),
                    "removed": sorted([list(p) for p in changes.removed]),
                    **({"updated": sorted([list(p) for p in changes.updated])} if changes.updated else {})})

    def invitations(self, cs: ChangeSet) -> int:
        guardian_ids = {**self.ids["guardians"], **cs.account_keys}
        rows = [{"district_id": self.district_id, "guardian_id": guardian_ids[key], "kind": kind,
                 "student_id": self.ids["students"].get(student) if student else None, "status": "queued",
                 "run_id": self.run_id, "created_at": self.now}
                for key, kind, student in cs.invitations if key in guardian_ids]
        for chunk in _chunks(rows):
            self.conn.execute(insert(Invitation.__table__), chunk)
        return len(rows)

    def flush_audit(self) -> None:
        for chunk in _chunks(self.audit_rows):
            self.conn.execute(insert(AuditEntry.__table__), chunk)
        self.audit_rows = []


def apply_changes(session: Session, district_id: int, source: str, run_id: int, now: datetime, cs: ChangeSet,
                  snapshot: Snapshot) -> int:
    """Write everything; returns the number of invitations queued."""
    applier = Applier(session, district_id, source, run_id, now, snapshot)
    for kind in ("schools", "teachers", "classrooms", "students", "guardians"):
        applier.entities(kind, cs)
    applier.pairs(cs)
    for kind in ("guardians", "students", "classrooms", "teachers", "schools"):
        applier.archive(kind, cs)
    queued = applier.invitations(cs)
    applier.flush_audit()
    return queued
