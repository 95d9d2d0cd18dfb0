"""Planning the rollback of one sync run (pure): no database, no clock.

A run audits everything it changes (sync/apply.py), and that record is all a rollback needs:

    the run's entry      what the rollback does                       audited as
    sync.create          archive the records it created (guardians:   rollback.create (one per kind)
                         removed); nothing is ever deleted
    sync.update          give the changed fields their earlier values rollback.update
    sync.archive         restore                                      rollback.archive
    sync.restore         archive again                                rollback.restore
    sync.adopt           release: a hand-made record again (source    rollback.adopt
                         and external id cleared)
    sync.memberships     remove the pairs it added, put back the ones rollback.memberships (one per kind)
                         it removed, give changed links their earlier
                         relationship and contact type

A reversal is refused (a *conflict*) when something changed the same thing after the run's entry did:
a later run, a person, or support. Undoing the run would then silently undo their change too, so the
conflict names the record and who touched it, and only ``--force`` goes ahead. What counts as touching:

- a field revert: any later change to the record itself;
- an archive, restore or release (the record's existence): that, or a later change to any of its
  memberships (a later run enrolled students in a classroom the run created);
- a membership: a later change to the same pair, or a later archive, restore or removal of either end.

Later entries of runs that were themselves rolled back, and those rollbacks' own entries, cancel out and
are ignored, so runs can be rolled back newest first without forcing.

Pairs are named in the run's audit by external ids (a guardian linked as an account by ``row:ID``); the
caller's ``keys`` resolve them to row ids, so a record no longer in the directory resolves to nothing. The relationship and contact type a removed or changed link had
before the run are not in the run's own entry: they are the values the latest earlier entry gave that
link (``values`` of sync.memberships and rollback.memberships).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

RECORD_ENTITIES = ("school", "teacher", "classroom", "student", "guardian")
# The two ends of each kind of pair, in the order the audit names them.
PAIR_ENDS = {"enrollments": ("classroom", "student"), "classroom_teachers": ("classroom", "teacher"),
             "guardian_links": ("guardian", "student")}
# Fields whose audited value is another record's external id (sync/apply.py REFERENCES).
REFERENCE_FIELDS = {("classroom", "school_id"): "school", ("student", "school_id"): "school"}
ACTIVE, ARCHIVED, REMOVED = "active", "archived", "removed"
# Actions of a later entry that change whether a record is there (not just what it says).
EXISTENCE_VERBS = {"archive", "restore", "remove", "adopt"}
# Manual functions that change one membership: action -> (pair kind, where the other end is, its key).
MANUAL_PAIR_ACTIONS = {"student.assign": ("enrollments", "after", "classroom_id"),
                       "student.unassign": ("enrollments", "before", "classroom_id"),
                       "guardian.link": ("guardian_links", "after", "student_id"),
                       "guardian.unlink": ("guardian_links", "before", "student_id")}


def gone_status(entity: str) -> str:
    return REMOVED if entity == "guardian" else ARCHIVED


@dataclass(frozen=True)
class Entry:
    """One audit log row, as plain values."""

    id: int
    action: str
    entity: str
    entity_id: int | None
    before: dict | None = None
    after: dict | None = None
    actor_type: str = "sync"
    actor: str = ""
    run_id: int | None = None

    @property
    def who(self) -> str:
        if self.actor_type == "sync":
            return f"run {self.run_id}"
        return f"{self.actor_type} {self.actor}"


@dataclass(frozen=True)
class RecordReversal:
    entry_id: int        # the run's audit entry this undoes
    entity: str          # school | teacher | classroom | student | guardian
    row_id: int
    undo: str            # what the run did: create | update | archive | restore | adopt
    status: str | None = None  # create, archive, restore: the status to set
    fields: tuple[tuple[str, object], ...] = ()  # update: (field, earlier value), references as row ids

    @property
    def changes_existence(self) -> bool:
        return self.undo != "update"

    def describe(self) -> str:
        if self.undo == "update":
            return "put back " + ", ".join(name for name, _ in self.fields)
        return {"create": f"{'remove' if self.status == REMOVED else 'archive'} (the run created it)",
                "archive": "restore (the run archived it)",
                "restore": f"{'remove' if self.status == REMOVED else 'archive'} again (the run restored it)",
                "adopt": "release to hand-made (the run adopted it)"}[self.undo]


@dataclass(frozen=True)
class PairReversal:
    entry_id: int
    kind: str                   # enrollments | classroom_teachers | guardian_links
    keys: tuple[str, str]       # as the run's audit names the pair
    ids: tuple[int, int]        # directory row ids of the two ends
    undo: str                   # what the run did: added | removed | updated
    values: tuple | None = None  # links put back or reverted: (relationship, contact_type)

    def describe(self) -> str:
        return {"added": "remove (the run added it)", "removed": "put back (the run removed it)",
                "updated": "put back its relationship and contact type (the run changed them)"}[self.undo]


@dataclass
class Conflict:
    entity: str                  # a record entity, or a pair kind
    ids: tuple[int, ...]         # the record's row id, or the pair's two
    changes: list[str]           # what the rollback would do to it
    touched_by: list[str]        # "run 7", "user alice", "support bob": who changed it since, in order


@dataclass
class Plan:
    records: list[RecordReversal] = field(default_factory=list)
    pairs: list[PairReversal] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not self.records and not self.pairs

    def counts(self) -> dict[str, dict[str, int]]:
        """What the rollback does, per kind: created/reverted/restored/archived/released, pairs by undo."""
        words = {"create": "created_archived", "update": "reverted", "archive": "restored",
                 "restore": "archived_again", "adopt": "released"}
        out: dict[str, dict[str, int]] = {}
        for r in self.records:
            bucket = out.setdefault(r.entity + "s", {})
            bucket[words[r.undo]] = bucket.get(words[r.undo], 0) + 1
        pair_words = {"added": "removed", "removed": "put_back", "updated": "reverted"}
        for p in self.pairs:
            bucket = out.setdefault(p.kind, {})
            bucket[pair_words[p.undo]] = bucket.get(pair_words[p.undo], 0) + 1
        order = {k: i for i, k in enumerate(("schools", "teachers", "classrooms", "students", "guardians",
                                              "enrollments", "classroom_teachers", "guardian_links"))}
        return dict(sorted(out.items(), key=lambda item: order[item[0]]))


# -- resolving keys ---------------------------------------------------------------------------------------

def resolve(keys: Mapping[str, Mapping[str, int]], entity: str, key: str | None) -> int | None:
    """A record's row id from its external id (a guardian linked as an account: ``row:ID``, which the
    caller's ``keys`` also hold, for guardians still in the directory)."""
    return None if key is None else keys.get(entity, {}).get(key)


def _pair_ids(keys, kind: str, pair) -> tuple[int, int] | None:
    a_entity, b_entity = PAIR_ENDS[kind]
    a, b = resolve(keys, a_entity, pair[0]), resolve(keys, b_entity, pair[1])
    return None if a is None or b is None else (a, b)


def _pair_label(kind: str, pair) -> str:
    """A pair for a warning, without contact details (a guardian keyed by their email is "(no id)")."""
    a_entity, b_entity = PAIR_ENDS[kind]
    a = pair[0] if not str(pair[0]).startswith(("email:", "phone:")) else "(no id)"
    return f"{a_entity} {a} / {b_entity} {pair[1]}"


# -- the run's reversals -----------------------------------------------------------------------------------

def _record_reversals(entry: Entry, keys, warnings: list[str]) -> list[RecordReversal]:
    verb = entry.action.split(".", 1)[1]
    entity = entry.entity
    if entity not in RECORD_ENTITIES:
        return []
    if verb == "create":
        return [RecordReversal(entry.id, entity, row_id, "create", gone_status(entity))
                for row_id in (entry.after or {}).get("ids", [])]
    if entry.entity_id is None:
        return []
    if verb == "archive":
        return [RecordReversal(entry.id, entity, entry.entity_id, "archive", ACTIVE)]
    if verb == "restore":
        return [RecordReversal(entry.id, entity, entry.entity_id, "restore", gone_status(entity))]
    if verb == "adopt":
        return [RecordReversal(entry.id, entity, entry.entity_id, "adopt")]
    if verb == "update":
        fields = []
        for name, value in sorted((entry.before or {}).items()):
            ref = REFERENCE_FIELDS.get((entity, name))
            if ref is not None:
                row_id = resolve(keys, ref, value)
                if row_id is None:
                    # The record was in a school the sync does not own, so the run's audit could not name it.
                    warnings.append(f"{entity} {entry.entity_id}: its {name.replace('_id', '')} before the run "
                                    f"({value or 'a school not synced from this source'}) cannot be found; "
                                    "left as it is")
                    continue
                value = row_id
            fields.append((name, value))
        return [RecordReversal(entry.id, entity, entry.entity_id, "update", fields=tuple(fields))] if fields else []
    return []


def _link_history(entries: Iterable[Entry], wanted: set[tuple[str, str]]) -> dict[tuple, list[tuple[int, tuple]]]:
    """For each wanted link: [(entry id, (relationship, contact type))] as entries set them, oldest first."""
    history: dict[tuple, list[tuple[int, tuple]]] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        if entry.entity != "guardian_links":
            continue
        for row in (entry.after or {}).get("values", []):
            pair = (row[0], row[1])
            if pair in wanted:
                history.setdefault(pair, []).append((entry.id, (row[2], row[3])))
    return history


def _value_before(history, pair, entry_id: int) -> tuple | None:
    found = None
    for at, values in history.get(pair, []):
        if at >= entry_id:
            break
        found = values
    return found


def _pair_reversals(entry: Entry, keys, history, warnings: list[str]) -> list[PairReversal]:
    kind = entry.entity
    if kind not in PAIR_ENDS:
        return []
    after = entry.after or {}
    out: list[PairReversal] = []
    for undo in ("added", "removed", "updated"):
        for pair in after.get(undo, []):
            pair = (pair[0], pair[1])
            ids = _pair_ids(keys, kind, pair)
            if ids is None:
                warnings.append(f"{kind.replace('_', ' ')}: {_pair_label(kind, pair)} names a record that is no "
                                "longer in the directory; left as it is")
                continue
            values = None
            if kind == "guardian_links" and undo in ("removed", "updated"):
                values = _value_before(history, pair, entry.id)
                if values is None and undo == "updated":
                    warnings.append(f"guardian link {_pair_label(kind, pair)}: its relationship before the run "
                                    "was not recorded (a run made before rollbacks existed); left as it is")
                    continue
                if values is None:
                    warnings.append(f"guardian link {_pair_label(kind, pair)}: put back without a relationship "
                                    "or contact type (not recorded by a run made before rollbacks existed)")
                    values = (None, None)
            out.append(PairReversal(entry.id, kind, pair, ids, undo, values))
    return out


# -- what changed later ------------------------------------------------------------------------------------

@dataclass
class _Touches:
    records: dict[tuple[str, int], list[tuple[int, str, bool]]] = field(default_factory=dict)  # -> (at, who, existence)
    pairs: dict[tuple[str, int, int], list[tuple[int, str]]] = field(default_factory=dict)
    pairs_of: dict[tuple[str, int], list[tuple[int, str]]] = field(default_factory=dict)  # record -> pair touches

    def record(self, entity: str, row_id: int, at: int, who: str, existence: bool) -> None:
        self.records.setdefault((entity, row_id), []).append((at, who, existence))

    def pair(self, kind: str, a: int, b: int, at: int, who: str) -> None:
        self.pairs.setdefault((kind, a, b), []).append((at, who))
        a_entity, b_entity = PAIR_ENDS[kind]
        self.pairs_of.setdefault((a_entity, a), []).append((at, who))
        self.pairs_of.setdefault((b_entity, b), []).append((at, who))


def _later_touches(later: Iterable[Entry], keys, ignore_runs: set[int]) -> _Touches:
    touches = _Touches()
    for e in later:
        if e.run_id is not None and e.run_id in ignore_runs:
            continue  # a rolled-back run, or its rollback: the two cancel out
        verb = e.action.rsplit(".", 1)[-1]
        if e.entity in PAIR_ENDS:  # sync.memberships (a later run)
            after = e.after or {}
            for undo in ("added", "removed", "updated"):
                for pair in after.get(undo, []):
                    ids = _pair_ids(keys, e.entity, pair)
                    if ids is not None:
                        touches.pair(e.entity, *ids, e.id, e.who)
            continue
        if e.action in MANUAL_PAIR_ACTIONS:
            kind, side, other = MANUAL_PAIR_ACTIONS[e.action]
            other_id = (getattr(e, side) or {}).get(other)
            if e.entity_id is not None and other_id is not None:
                a, b = (other_id, e.entity_id) if kind == "enrollments" else (e.entity_id, other_id)
                touches.pair(kind, a, b, e.id, e.who)
            continue
        if e.entity not in RECORD_ENTITIES or verb == "create" or e.action == "lock.override":
            continue  # creates make new rows; an override is always next to the change it allowed
        if e.entity_id is not None:
            touches.record(e.entity, e.entity_id, e.id, e.who, verb in EXISTENCE_VERBS)
    return touches


def _whos(items: Iterable[tuple], after: int) -> list[str]:
    return list(dict.fromkeys(t[1] for t in items if t[0] > after))


def _record_conflict(r: RecordReversal, touches: _Touches) -> list[str]:
    key = (r.entity, r.row_id)
    who = _whos(touches.records.get(key, []), r.entry_id)
    if r.changes_existence:
        who += [w for w in _whos(touches.pairs_of.get(key, []), r.entry_id) if w not in who]
    return who


def _pair_conflict(p: PairReversal, touches: _Touches) -> list[str]:
    who = _whos(touches.pairs.get((p.kind, *p.ids), []), p.entry_id)
    for entity, row_id in zip(PAIR_ENDS[p.kind], p.ids):
        existence = [t for t in touches.records.get((entity, row_id), []) if t[2]]
        who += [w for w in _whos(existence, p.entry_id) if w not in who]
    return who


# -- the plan -------------------------------------------------------------------------------------------

def plan_rollback(run_entries: Iterable[Entry], later: Iterable[Entry], keys: Mapping[str, Mapping[str, int]],
                  earlier_links: Iterable[Entry] = (), ignore_runs: Iterable[int] = ()) -> Plan:
    """The reversals of a run and the conflicts that stop them.

    ``run_entries``: the run's own sync.* audit entries. ``later``: the district's entries after the run's
    first one (others' and later runs'; the run's own are skipped). ``keys``: entity -> external id -> row
    id for the run's source. ``earlier_links``: guardian_links membership entries older than the run's
    last one (for the relationship a link had). ``ignore_runs``: runs already rolled back.
    """
    run_entries = sorted(run_entries, key=lambda e: e.id)
    plan = Plan()
    run_ids = {e.run_id for e in run_entries if e.run_id is not None}
    wanted = {(p[0], p[1]) for e in run_entries if e.entity == "guardian_links"
              for undo in ("removed", "updated") for p in (e.after or {}).get(undo, [])}
    history = _link_history([*earlier_links, *(e for e in run_entries if e.entity == "guardian_links")], wanted) \
        if wanted else {}
    for entry in run_entries:
        if not entry.action.startswith("sync."):
            continue
        if entry.action == "sync.memberships":
            plan.pairs += _pair_reversals(entry, keys, history, plan.warnings)
        else:
            plan.records += _record_reversals(entry, keys, plan.warnings)
    adopted: dict[str, int] = {}
    for r in plan.records:
        if r.undo == "adopt":
            adopted[r.entity] = adopted.get(r.entity, 0) + 1
    for entity, n in adopted.items():
        # sync.adopt records only the source and external id it set, not the fields it overwrote.
        plan.warnings.append(f"{n} {entity}(s) the run adopted are released to hand-made, but keep the names and "
                             "numbers the sync wrote into them (their earlier values were not recorded)")
    # Undo newest first: within a run the order never matters (nothing is deleted), but it reads right.
    plan.records.reverse()
    plan.pairs.reverse()

    touches = _later_touches(later, keys, set(ignore_runs) | run_ids)
    conflicts: dict[tuple, Conflict] = {}
    for r in plan.records:
        who = _record_conflict(r, touches)
        if who:
            c = conflicts.setdefault((r.entity, r.row_id), Conflict(r.entity, (r.row_id,), [], []))
            c.changes.append(r.describe())
            c.touched_by += [w for w in who if w not in c.touched_by]
    for p in plan.pairs:
        who = _pair_conflict(p, touches)
        if who:
            c = conflicts.setdefault((p.kind, *p.ids), Conflict(p.kind, p.ids, [], []))
            c.changes.append(p.describe())
            c.touched_by += [w for w in who if w not in c.touched_by]
    plan.conflicts = list(conflicts.values())
    return plan
