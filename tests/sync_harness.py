"""A real directory (SQLite or PostgreSQL) that takes RosterBatches, for the property tests.

``Directory.sync`` does what sync/run.py does inside its one transaction, with the product's own
functions: read the snapshot (sync/snapshot.py), diff (sync/diff.py), write (sync/apply.py), queue the
invitations. It leaves out what is not about the roster: the pull (the batch is already here), the
lease and the guard (every district here has the threshold off: a property about what a roster *means*
must not depend on a removal being held). End-to-end runs through `run_sync` and a real drop folder
are in the tests themselves.

Hypothesis runs many examples against one database, so each example takes a fresh district (a new slug)
instead of a fresh database.
"""

from __future__ import annotations

import itertools

from sqlalchemy import select
from sqlalchemy.orm import aliased

from connectors.records import RosterBatch
from directory import migrate
from directory.audit import Actor
from directory.db import make_engine, session_factory, transaction
from directory.districts import create_district, get_district, set_setting
from directory.export import export_directory
from directory.models import Guardian, Invitation, Student, SyncRun, utcnow
from directory.service import DirectoryService
from sync.apply import apply_changes
from sync.changes import ChangeSet
from sync.diff import diff
from sync.run import diff_settings
from sync.snapshot import load_snapshot

ACTOR = Actor("user", "property-test")


class Directory:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)
        self.factory = session_factory(self.engine)
        self._numbers = itertools.count(1)

    def close(self) -> None:
        self.engine.dispose()

    def district(self, source: str | None = "oneroster-csv", source_config: dict | None = None,
                 **settings: str) -> str:
        """A new district; ``settings`` as `rostersync district set` takes them (the threshold is off)."""
        slug = f"prop-{next(self._numbers)}"
        with transaction(self.factory) as s:
            district = create_district(s, ACTOR, slug, "Property", source, source_config)
            for key, value in {"archive_threshold_pct": "100", **settings}.items():
                set_setting(s, ACTOR, district, key, value)
        return slug

    def sync(self, slug: str, batch: RosterBatch) -> tuple[ChangeSet, int]:
        """Diff ``batch`` against the district and apply it, in one transaction; (change set, invitations)."""
        with transaction(self.factory) as s:
            district = get_district(s, slug)
            run = SyncRun(district_id=district.id, source=batch.source, mode=batch.mode, status="succeeded",
                          started_at=utcnow(), finished_at=utcnow(), host="property-test")
            s.add(run)
            s.flush()
            snapshot = load_snapshot(s, district.id, batch.source)
            cs = diff(snapshot, batch, diff_settings(district), protected(batch))
            queued = apply_changes(s, district.id, batch.source, run.id, utcnow(), cs, snapshot)
        return cs, queued

    def diff(self, slug: str, batch: RosterBatch) -> ChangeSet:
        """What a sync of ``batch`` would change now (nothing is written)."""
        with transaction(self.factory) as s:
            district = get_district(s, slug)
            return diff(load_snapshot(s, district.id, batch.source), batch, diff_settings(district),
                        protected(batch))

    def export(self, slug: str) -> dict:
        with transaction(self.factory) as s:
            return export_directory(s, get_district(s, slug))

    def service(self, slug: str):
        """The manual functions (a context manager: one transaction), as a school's staff use them."""
        return _Service(self.factory, slug)

    def invitations(self, slug: str) -> list[tuple]:
        """Every queued invitation, named by the sync's keys: (guardian key, kind, student key)."""
        student = aliased(Student)
        with transaction(self.factory) as s:
            district = get_district(s, slug)
            rows = s.execute(select(Guardian.external_id, Guardian.id, Invitation.kind, student.external_id)
                             .join(Guardian, Guardian.id == Invitation.guardian_id)
                             .outerjoin(student, student.id == Invitation.student_id)
                             .where(Invitation.district_id == district.id)).all()
        return sorted((key or f"row:{gid}", kind, s_key) for key, gid, kind, s_key in rows)


class _Service:
    def __init__(self, factory, slug: str):
        self.factory, self.slug = factory, slug

    def __enter__(self) -> DirectoryService:
        self._tx = transaction(self.factory)
        session = self._tx.__enter__()
        return DirectoryService(session, ACTOR, get_district(session, self.slug))

    def __exit__(self, *exc):
        return self._tx.__exit__(*exc)


def protected(batch: RosterBatch) -> frozenset[str]:
    """As sync/run.py: records whose rows had errors are never archived for their absence."""
    return frozenset(p.record for p in batch.problems if p.severity == "error" and p.record)


def shape(export: dict, *, active_only: bool = False) -> dict:
    """The directory by the source's ids, without row ids (and timestamps, which the export has none of).

    ``active_only`` leaves out archived and removed rows: what a district synced from that roster alone
    would hold. Memberships are always all there: one left pointing at an archived student is a difference.
    """
    def live(row) -> bool:
        return not active_only or row["status"] == "active"

    def key(row) -> str:
        return row["external_id"] or f"hand-made:{row['id']}"

    schools = {s["id"]: key(s) for s in export["schools"]}
    teachers = {t["id"]: key(t) for t in export["teachers"]}
    students = {s["id"]: key(s) for s in export["students"]}
    guardians = {g["id"]: key(g) for g in export["guardians"]}
    classrooms = {c["id"]: key(c) for c in export["classrooms"]}
    return {
        "schools": sorted((key(s), s["name"], s["school_number"], s["status"]) for s in export["schools"] if live(s)),
        "teachers": sorted((key(t), t["given_name"], t["family_name"], t["email"], t["role"], t["status"])
                           for t in export["teachers"] if live(t)),
        "classrooms": sorted((key(c), schools[c["school_id"]], c["name"], c["status"],
                              sorted(teachers[i] for i in c["teacher_ids"]),
                              sorted(students[i] for i in c["student_ids"]))
                             for c in export["classrooms"] if live(c)),
        "students": sorted((key(s), schools[s["school_id"]], s["given_name"], s["family_name"], s["student_number"],
                            s["birth_date"], s["grade"], s["status"],
                            sorted(classrooms[i] for i in s["classroom_ids"]))
                           for s in export["students"] if live(s)),
        "guardians": sorted((key(g), g["given_name"], g["family_name"], g["email"], g["phone"], g["state"],
                             g["status"]) for g in export["guardians"] if live(g)),
        "links": sorted((guardians[l["guardian_id"]], students[l["student_id"]], l["relationship"], l["contact_type"])
                        for l in export["links"]),
    }
