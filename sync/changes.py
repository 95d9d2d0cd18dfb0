"""Plain values passed between the steps of a run: the directory snapshot and the change set.

Everything here speaks in the source's external ids, never directory row ids, except ``row_id`` on rows
that already exist. That keeps the diff pure: it never needs the database to know what a reference
means, and apply resolves external ids to row ids once, after parents are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The fields compared per kind, in the order Row.values holds them. References are external ids
# (school_id of a classroom is the school's external id).
FIELDS: dict[str, tuple[str, ...]] = {
    "schools": ("name", "school_number"),
    "teachers": ("given_name", "family_name", "email", "role"),
    "classrooms": ("school_id", "name"),
    "students": ("school_id", "given_name", "family_name", "student_number", "birth_date", "grade"),
    "guardians": ("given_name", "family_name", "email", "phone"),
}
ENTITY_KINDS = tuple(FIELDS)
PAIR_KINDS = ("enrollments", "classroom_teachers", "guardian_links")


@dataclass(frozen=True, slots=True)
class Row:
    """A directory row as the diff sees it."""

    row_id: int
    key: str  # external id (guardians without a source id: "email:..." or "phone:...")
    values: tuple
    active: bool = True
    joined: bool = False  # guardians only


@dataclass(frozen=True, slots=True)
class ManualRow:
    """A row made by hand (no source) that a first sync may adopt."""

    row_id: int
    values: tuple  # FIELDS order, references as directory row ids (not external ids)
    school_key: str | None = None  # students: the school's external id if that school is synced


@dataclass(frozen=True, slots=True)
class Holder:
    """An active guardian of the district holding an email or phone (any source, or by hand)."""

    row_id: int
    key: str | None  # None when made by hand
    joined: bool
    email: str | None
    phone: str | None


@dataclass
class Snapshot:
    """What the directory holds for one district and source, read once per run."""

    rows: dict[str, dict[str, Row]] = field(default_factory=lambda: {k: {} for k in ENTITY_KINDS})
    manual_schools: list[ManualRow] = field(default_factory=list)
    manual_students: list[ManualRow] = field(default_factory=list)
    manual_teachers: list[ManualRow] = field(default_factory=list)
    holders_by_email: dict[str, Holder] = field(default_factory=dict)
    holders_by_phone: dict[str, Holder] = field(default_factory=dict)
    enrollments: set[tuple[str, str]] = field(default_factory=set)  # (classroom key, student key)
    classroom_teachers: set[tuple[str, str]] = field(default_factory=set)  # (classroom key, teacher key)
    links: dict[tuple[str, str], tuple] = field(default_factory=dict)  # (guardian key, student key) -> (rel, type)
    # Links made by hand (no source), same keys (a student not synced yet as "row:ID"): the sync never
    # removes them (stickiness), but they are there, so a roster naming them again adds nothing and
    # sends no "added to a class" notice.
    manual_links: set[tuple[str, str]] = field(default_factory=set)
    active_students_by_school: dict[str, int] = field(default_factory=dict)  # school key -> count


@dataclass(frozen=True)
class DiffSettings:
    excluded_contact_types: frozenset[str] = frozenset({"emergency"})
    max_guardians_per_student: int = 6
    sync_manages_guardians: bool = True
    sync_updates_joined_contacts: bool = False
    phone_region: str = "US"
    auto_invite: bool = True
    archive_threshold_pct: int = 10


@dataclass
class KindChanges:
    creates: list[tuple[str, tuple]] = field(default_factory=list)  # (key, values)
    updates: list[tuple[int, str, tuple, dict]] = field(default_factory=list)  # (row_id, key, values, changed)
    archives: list[tuple[int, str]] = field(default_factory=list)  # (row_id, key)
    restores: list[tuple[int, str]] = field(default_factory=list)
    adopts: list[tuple[int, str, tuple]] = field(default_factory=list)  # (manual row_id, key, values)
    unchanged: int = 0


@dataclass
class PairChanges:
    added: dict[tuple[str, str], tuple] = field(default_factory=dict)  # pair -> extra values (links: rel, type)
    removed: set[tuple[str, str]] = field(default_factory=set)
    updated: dict[tuple[str, str], tuple] = field(default_factory=dict)  # links whose relationship changed


@dataclass
class ChangeSet:
    kinds: dict[str, KindChanges] = field(default_factory=lambda: {k: KindChanges() for k in ENTITY_KINDS})
    pairs: dict[str, PairChanges] = field(default_factory=lambda: {k: PairChanges() for k in PAIR_KINDS})
    invitations: list[tuple[str, str, str | None]] = field(default_factory=list)  # (guardian key, "invite"|"added", student key)
    # Existing accounts linked instead of created (the email-and-phone rule): guardian key -> row id.
    account_keys: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)  # report entries (code, message, ...)
    # What the report names per change: key -> (label, school key) for people and classrooms.
    labels: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind, c in self.kinds.items():
            out[kind] = {"created": len(c.creates), "updated": len(c.updates) + len(c.adopts),
                         "archived": len(c.archives), "restored": len(c.restores), "unchanged": c.unchanged,
                         "adopted": len(c.adopts)}
        for kind, p in self.pairs.items():
            out[kind] = {"added": len(p.added), "removed": len(p.removed)}
            if kind == "guardian_links":
                out[kind]["updated"] = len(p.updated)
        return out

    def removals(self) -> int:
        return sum(len(c.archives) for c in self.kinds.values()) + sum(len(p.removed) for p in self.pairs.values())

    def is_empty(self) -> bool:
        return not any(c.creates or c.updates or c.archives or c.restores or c.adopts for c in self.kinds.values()) \
            and not any(p.added or p.removed or p.updated for p in self.pairs.values())
