"""Reconciliation: compare the incoming roster with the directory and say what must change (pure).

No I/O, no clock, no database: ``diff(snapshot, batch, settings)`` returns a ChangeSet, the same for the
same inputs, so it is tested on plain values.

Rules (README, "How a sync decides"):
- create what is new, update only what changed, restore what comes back with the same external id;
- archive only what left a *complete* kind (a bulk file, a full pull); a delta, a partial pull or an
  empty file never archives; an explicit deletion (status tobedeleted) does;
- a record whose row had an error is protected: it is neither changed nor archived;
- hand-made rows are adopted on a first sync when they match (sync/adopt.py); the rest are reported.
"""

from __future__ import annotations

from connectors.records import RosterBatch
from directory.contacts import ContactNormalizer
from sync import adopt
from sync.changes import FIELDS, ChangeSet, DiffSettings, KindChanges, PairChanges, Row, Snapshot
from sync.diff_guardians import _problem, account_conflict_message, limit_with_existing, merge_guardians


def effective_complete(batch: RosterBatch, problems: list[dict]) -> set[str]:
    """Kinds that may archive: complete in the batch and not empty (an empty file is not 'everyone left')."""
    complete = set(batch.complete)
    for kind in list(complete):
        if kind in ("schools", "teachers", "classrooms", "students", "guardians", "enrollments") \
                and not getattr(batch, kind):
            complete.discard(kind)
            problems.append(_problem("empty_kind", f"no {kind} in a complete drop: nothing of that kind was archived",
                                     None))
    return complete


def _diff_kind(changes: KindChanges, kind: str, existing: dict[str, Row], incoming: list[tuple[str, tuple, bool]],
               complete: bool, protected: set[str], problems: list[dict], adopt_match=None) -> set[str]:
    """Entity changes of one kind; returns the keys that are present (not deleted) after this run."""
    seen: set[str] = set()
    deleted: set[str] = set()
    for key, values, is_deleted in incoming:
        if key in seen or key in deleted:
            problems.append(_problem("duplicate_id", f"{kind[:-1]} {key} appears more than once; the first was used",
                                     key, "id", "error"))
            continue
        row = existing.get(key)
        if is_deleted:
            deleted.add(key)
            if row is not None and row.active:
                changes.archives.append((row.row_id, key))
            continue
        seen.add(key)
        if row is None:
            adopted = adopt_match(values) if adopt_match else None
            if adopted is not None:
                changes.adopts.append((adopted, key, values))
            else:
                changes.creates.append((key, values))
            continue
        if key in protected:
            # Its row had an error (a bad birth date, a value too long): what the directory holds is kept
            # as it is, rather than updated from a row known to be wrong.
            changes.unchanged += row.active
            continue
        if not row.active:
            changes.restores.append((row.row_id, key))
        # Most records are unchanged: one tuple comparison tells, before any field is looked at.
        changed = {} if row.values == values else \
            {f: (old, new) for f, old, new in zip(FIELDS[kind], row.values, values) if old != new}
        if changed:
            changes.updates.append((row.row_id, key, values, changed))
        elif row.active:
            changes.unchanged += 1
    if complete:
        for key, row in existing.items():
            if row.active and key not in seen and key not in deleted and key not in protected:
                changes.archives.append((row.row_id, key))
    present = {k for k, r in existing.items() if r.active} | seen
    present -= {k for _, k in changes.archives}
    return present


def _check_refs(items, kind: str, ref_field: str, known: set[str], problems: list[dict], protected: set[str]):
    """Drop records that point at something unknown (reporting each), keeping the rest."""
    index = FIELDS[kind].index(ref_field)
    for key, values, deleted in items:
        if not deleted and values[index] not in known:
            problems.append(_problem("unknown_reference", f"{kind[:-1]} {key} names {ref_field.replace('_id', '')} "
                                     f"{values[index]}, which is not in the roster: not applied", key, ref_field,
                                     "error"))
            protected.add(key)
            continue
        yield key, values, deleted


def _diff_pairs(changes: PairChanges, existing, incoming: dict, removed_explicitly: set, complete: bool,
                protected: set[str]) -> None:
    # Set operations (in C) over the pairs: a district has millions, and a night changes few. New pairs
    # keep the roster's order, which is nearly sorted already: the audit sorts them, and sorting them in
    # hash order instead took seconds for a first sync.
    existing_pairs = existing.keys() if isinstance(existing, dict) else existing
    new = incoming.keys() - existing_pairs
    if new:
        changes.added.update((pair, extra) for pair, extra in incoming.items() if pair in new)
    changes.removed.update(removed_explicitly & existing_pairs)
    if complete:
        gone = existing_pairs - incoming.keys()
        if protected:
            gone = {pair for pair in gone if not (pair[0] in protected or pair[1] in protected)}
        changes.removed.update(gone)


def diff(snapshot: Snapshot, batch: RosterBatch, settings: DiffSettings,
         protected: frozenset[str] = frozenset()) -> ChangeSet:
    """``protected``: external ids of records whose rows had errors (never archived on their absence)."""
    cs = ChangeSet()
    problems = cs.problems
    protected = set(protected)
    complete = effective_complete(batch, problems)
    rows = snapshot.rows

    schools = [(r.external_id, (r.name.strip(), r.school_number or None), r.deleted) for r in batch.schools]
    school_match = adopt.school_matcher(snapshot.manual_schools)
    known_schools = _diff_kind(cs.kinds["schools"], "schools", rows["schools"], schools, "schools" in complete,
                               protected, problems, school_match.match)

    teachers = [(r.external_id, (r.given_name.strip(), r.family_name.strip(), (r.email or "").strip().lower() or None,
                                 r.role), r.deleted) for r in batch.teachers]
    known_teachers = _diff_kind(cs.kinds["teachers"], "teachers", rows["teachers"], teachers, "teachers" in complete,
                                protected, problems, adopt.teacher_matcher(snapshot.manual_teachers).match)

    classrooms = list(_check_refs([(r.external_id, (r.school_id, r.name.strip()), r.deleted)
                                   for r in batch.classrooms], "classrooms", "school_id", known_schools,
                                  problems, protected))
    known_classrooms = _diff_kind(cs.kinds["classrooms"], "classrooms", rows["classrooms"], classrooms,
                                  "classrooms" in complete, protected, problems)

    students = list(_check_refs([(r.external_id, (r.school_id, r.given_name.strip(), r.family_name.strip(),
                                                  r.student_number or None, r.birth_date or None, r.grade or None),
                                  r.deleted) for r in batch.students], "students", "school_id", known_schools,
                                problems, protected))
    student_match = adopt.student_matcher(snapshot.manual_students)
    known_students = _diff_kind(cs.kinds["students"], "students", rows["students"], students,
                                "students" in complete, protected, problems, student_match.match)
    _report_unadopted(cs, snapshot, school_match, student_match)

    _diff_memberships(cs, snapshot, batch, complete, protected, known_classrooms, known_students, known_teachers)
    if settings.sync_manages_guardians:
        _diff_guardians(cs, snapshot, batch, settings, complete, protected, known_students)
    _label(cs, batch)
    return cs


def _report_unadopted(cs: ChangeSet, snapshot: Snapshot, school_match, student_match) -> None:
    owned_school_rows = set(school_match.taken)
    for row in snapshot.manual_students:
        if row.row_id in student_match.taken:
            continue
        if row.school_key is not None or row.values[0] in owned_school_rows:
            cs.problems.append(_problem(
                "unmatched_manual_student",
                f"student {row.row_id} ({row.values[1]} {row.values[2]}) was added by hand and is not in the SIS "
                "roster: kept, not archived; add them to the SIS or archive them by hand", None))


def _diff_memberships(cs, snapshot, batch, complete, protected, known_classrooms, known_students, known_teachers):
    enrollments: dict = {}
    teachers: dict = {}
    dropped_enrollments: set = set()
    dropped_teachers: set = set()
    for c in batch.classrooms:
        if c.external_id in known_classrooms:
            for t in c.teacher_ids:
                if t in known_teachers:
                    teachers[(c.external_id, t)] = ()
    for e in batch.enrollments:
        pair = (e.classroom_id, e.user_id)
        target, dropped, known_users = ((enrollments, dropped_enrollments, known_students) if e.role == "student"
                                        else (teachers, dropped_teachers, known_teachers))
        if e.deleted:
            dropped.add(pair)
        elif e.classroom_id in known_classrooms and e.user_id in known_users:
            target[pair] = ()
        else:
            missing = e.classroom_id if e.classroom_id not in known_classrooms else e.user_id
            cs.problems.append(_problem("unknown_reference", f"enrollment of {e.user_id} in {e.classroom_id} names "
                                        f"{missing}, which is not in the roster: not applied",
                                        e.external_id or f"{e.classroom_id}/{e.user_id}", "id", "error"))
    _diff_pairs(cs.pairs["enrollments"], snapshot.enrollments, enrollments, dropped_enrollments,
                "enrollments" in complete, protected)
    teachers_complete = "enrollments" in complete or (
        "classrooms" in complete and any(c.teacher_ids for c in batch.classrooms))
    _diff_pairs(cs.pairs["classroom_teachers"], snapshot.classroom_teachers, teachers, dropped_teachers,
                teachers_complete, protected)


def _diff_guardians(cs, snapshot, batch, settings, complete, protected, known_students) -> None:
    existing = snapshot.rows["guardians"]
    # Numbers the directory holds were all made by normalize_phone: one the SIS still sends as it did
    # needs no parsing (directory.contacts.ContactNormalizer).
    known_phones = {row.values[3] for row in existing.values() if row.values[3]} | snapshot.holders_by_phone.keys()
    merged, deleted = merge_guardians(batch.guardians, settings, known_students, cs.problems, protected,
                                      ContactNormalizer(settings.phone_region, known_phones))
    if "guardians" not in complete:
        limit_with_existing(merged, deleted, snapshot.links, settings.max_guardians_per_student, cs.problems)
    changes = cs.kinds["guardians"]
    rekey: dict[str, str] = {}  # identity in snapshot.links -> key used by this run
    incoming_links: dict = {}
    adopted_students = {f"row:{row_id}": key for row_id, key, _ in cs.kinds["students"].adopts}
    hand_made = {(g, adopted_students.get(s, s)) for g, s in snapshot.manual_links}
    # Contacts a synced guardian gives up in this run (the SIS moved them, and the district lets the sync
    # change a joined guardian's): their old holder is no account to link another family's children to.
    given_up = {(key, v) for key, g in merged.items() if (row := existing.get(key)) is not None
                and (not row.joined or settings.sync_updates_joined_contacts)
                for v in row.values[2:] if v and v not in g.values[2:]}
    for key, g in merged.items():
        values = g.values
        row = existing.get(key)
        if row is None:
            email_holder = snapshot.holders_by_email.get(values[2]) if values[2] else None
            phone_holder = snapshot.holders_by_phone.get(values[3]) if values[3] else None
            email_holder, phone_holder = (None if h is None or (h.key, v) in given_up else h
                                          for h, v in ((email_holder, values[2]), (phone_holder, values[3])))
            account = next((h for h in (email_holder, phone_holder) if h is not None and h.joined), None)
            manual = next((h for h in (email_holder, phone_holder) if h is not None and h.key is None), None)
            if account is not None:
                # The parent controls that account: link it, never change its contacts.
                identity = account.key or f"row:{account.row_id}"
                cs.account_keys[identity] = account.row_id
                if (account.email, account.phone) != (values[2] or account.email, values[3] or account.phone):
                    cs.problems.append(_problem("email_phone_conflict", account_conflict_message(), g.key
                                                if not g.key.startswith(("email:", "phone:")) else None))
                for student, extra in g.links.items():
                    if (identity, student) not in snapshot.links and (identity, student) not in incoming_links \
                            and (identity, student) not in hand_made:
                        cs.invitations.append((identity, "added", student))
                    incoming_links.setdefault((identity, student), extra)
                continue
            if manual is not None and manual.row_id not in {r for r, _, _ in changes.adopts}:
                changes.adopts.append((manual.row_id, key, values))
                rekey[f"row:{manual.row_id}"] = key
            else:
                changes.creates.append((key, values))
                if settings.auto_invite:
                    cs.invitations.append((key, "invite", None))
        else:
            if not row.active:
                changes.restores.append((row.row_id, key))
            if row.joined and not settings.sync_updates_joined_contacts and tuple(values[2:]) != tuple(row.values[2:]):
                cs.problems.append(_problem("joined_contact_differs",
                                            f"guardian {key if ':' not in key else '(no id)'} has joined, and the SIS "
                                            "has other contact details: the parent's own were kept", None))
                values = values[:2] + row.values[2:]
            changed = {} if row.values == values else {
                f: (o, n) for f, o, n in zip(("given_name", "family_name", "email", "phone"), row.values, values)
                if o != n}
            if changed:
                changes.updates.append((row.row_id, key, values, changed))
            elif row.active:
                changes.unchanged += 1
        for student, extra in g.links.items():
            incoming_links[(key, student)] = extra
    for key in deleted:
        row = existing.get(key)
        if row is not None and row.active:
            changes.archives.append((row.row_id, key))
    if "guardians" in complete:
        for key, row in existing.items():
            if row.active and key not in merged and key not in deleted and key not in protected \
                    and key not in cs.account_keys:  # an account linked above under another key
                changes.archives.append((row.row_id, key))
    existing_links = {(rekey.get(g, g), s): v for (g, s), v in snapshot.links.items()}
    removed_explicitly = {pair for pair in existing_links if pair[0] in deleted}
    _diff_pairs(cs.pairs["guardian_links"], existing_links, incoming_links, removed_explicitly,
                "guardians" in complete, protected)
    # A link the school made by hand and the SIS names too is already there (apply would skip it):
    # adding it again would report a change, and write an audit entry, on every run.
    by_hand = {(rekey.get(g, g), s) for g, s in hand_made}
    for pair in by_hand.intersection(cs.pairs["guardian_links"].added):
        del cs.pairs["guardian_links"].added[pair]
    for pair in incoming_links.keys() & existing_links.keys():
        if existing_links[pair] != incoming_links[pair]:
            cs.pairs["guardian_links"].updated[pair] = incoming_links[pair]
    _remove_orphans(cs, existing, existing_links, by_hand)


def _remove_orphans(cs: ChangeSet, existing: dict, existing_links: dict, by_hand: set) -> None:
    """A synced guardian left with no student (their only child left) is removed, as by hand; one still
    linked by hand to a student is not left with none."""
    links = cs.pairs["guardian_links"]
    remaining: dict[str, int] = {}
    for g, _ in [*existing_links, *by_hand]:
        remaining[g] = remaining.get(g, 0) + 1
    for g, _ in links.removed:
        remaining[g] -= 1
    for g, _ in links.added:
        remaining[g] = remaining.get(g, 0) + 1
    archived = {key for _, key in cs.kinds["guardians"].archives}
    for key in sorted({g for g, _ in links.removed} - archived):
        row = existing.get(key)
        if row is not None and row.active and remaining.get(key, 0) <= 0:
            cs.kinds["guardians"].archives.append((row.row_id, key))


def _label(cs: ChangeSet, batch: RosterBatch) -> None:
    """Names for the report: who changed, in which school. Contact details never go in a label."""
    for s in batch.schools:
        cs.labels[("schools", s.external_id)] = (s.name, s.external_id)
    for c in batch.classrooms:
        cs.labels[("classrooms", c.external_id)] = (c.name, c.school_id)
    for s in batch.students:
        cs.labels[("students", s.external_id)] = (f"{s.given_name} {s.family_name}", s.school_id)
    for t in batch.teachers:
        cs.labels[("teachers", t.external_id)] = (f"{t.given_name} {t.family_name}", t.school_ids[0] if t.school_ids
                                                  else None)
