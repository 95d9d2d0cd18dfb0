"""Records whose values the directory can hold (pure): a value too long for its column, or with a NUL in it.

Why here and not in the database: PostgreSQL refuses a value longer than its ``VARCHAR(n)`` column, or any
text holding a NUL character, and that one refusal rolled the whole run back as an "unexpected" error
(quoting the value, a person's name, in the report), while SQLite, which enforces neither, stored it. A
roster has no 10,000-character names; one that has them is broken at that record, so the record gets the
treatment of any other bad row (README, "How a sync decides"): it is reported and the rest applies.

- An id or a name that does not fit: an "error" Problem and the record is left out of the batch. Because
  the Problem carries its id, the run protects the record: an existing one is neither changed nor
  archived, as for any row with an error.
- An optional value that does not fit (a school or student number, a grade, a teacher's email, a link's
  relationship or contact type): a "warning", and the record is kept without that value.
- Guardians' emails and phones are not checked here: the diff normalises and validates them, and a value
  too long is already an invalid address or number there.
- Messages name the record, the field and the limit, never the value: names are personal.

``LIMITS`` repeats the column sizes of ``directory/models.py`` so that connectors need not import the
directory; tests/test_hostile_csv.py checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from itertools import chain
from operator import attrgetter

from connectors.records import GuardianLink, Problem, RosterBatch

ID_LIMIT = 255  # every synced table's external_id
NAME_LIMIT = 100  # given_name, family_name of students, teachers, guardians

# kind -> ((record field, column size, required?), ...). A required field that does not fit loses the
# record; an optional one only its value.
LIMITS: dict[str, tuple[tuple[str, int, bool], ...]] = {
    "schools": (("external_id", ID_LIMIT, True), ("name", 200, True), ("school_number", 64, False)),
    "teachers": (("external_id", ID_LIMIT, True), ("given_name", NAME_LIMIT, True),
                 ("family_name", NAME_LIMIT, True), ("email", 320, False)),
    "classrooms": (("external_id", ID_LIMIT, True), ("name", 200, True)),
    "students": (("external_id", ID_LIMIT, True), ("given_name", NAME_LIMIT, True),
                 ("family_name", NAME_LIMIT, True), ("student_number", 64, False), ("grade", 32, False)),
    "guardians": (("external_id", ID_LIMIT, True), ("given_name", NAME_LIMIT, True),
                  ("family_name", NAME_LIMIT, True)),
}
LINK_LIMITS = (("relationship", 64), ("contact_type", 32))
_WHAT = {"schools": "school", "teachers": "teacher", "classrooms": "class", "students": "student",
         "guardians": "guardian"}


def unfit(value: str | None, limit: int) -> str | None:
    """Why ``value`` cannot be stored in a column of ``limit`` characters, or None when it can.

    Names are stored stripped (the diff strips them), so trailing blanks do not count.
    """
    if not value:
        return None
    if "\x00" in value:
        return "contains a NUL character, which the database cannot store"
    size = len(value.strip())
    if size > limit:
        return f"is {size} characters long, more than the {limit} the directory keeps"
    return None


def fit_batch(batch: RosterBatch, files: Mapping[str, str] | None = None) -> RosterBatch:
    """Leave out (or trim of an optional value) every record the directory cannot hold, with a Problem
    each; ``files`` names the file (or collection) each kind came from, for the report. Returns ``batch``."""
    files = files or {}
    for kind, limits in LIMITS.items():
        records = getattr(batch, kind)
        if _all_fit(records, limits, LINK_LIMITS if kind == "guardians" else ()):
            continue
        kept = None  # copied only once something changes: the common case allocates nothing
        for i, record in enumerate(records):
            fixed = _fit(kind, record, limits, batch.problems, files.get(kind))
            if fixed is not record and kept is None:
                kept = records[:i]
            if kept is not None and fixed is not None:
                kept.append(fixed)
        if kept is not None:
            setattr(batch, kind, kept)
    return batch


def _all_fit(records: list, limits, link_limits) -> bool:
    """Whether every record of a kind fits, checked a field at a time over the whole list (in C, not a
    Python step per value: measured 1.5 s per 100,000 students record by record). A raw length within the
    limit is within it stripped too; anything else goes to the record-by-record check, which says why."""
    columns = [(list(map(attrgetter(name), records)), limit) for name, limit, _ in limits]
    if link_limits:
        links = list(chain.from_iterable(map(attrgetter("links"), records)))
        columns += [(list(map(attrgetter(name), links)), limit) for name, limit in link_limits]
    for values, limit in columns:
        present = list(filter(None, values))
        if max(map(len, present), default=0) > limit or "\x00" in "".join(present):
            return False
    return True


def _fit(kind: str, record, limits, problems: list[Problem], file: str | None):
    changes: dict[str, None] = {}
    for name, limit, needed in limits:
        why = unfit(getattr(record, name), limit)
        if why is None:
            continue
        record_id = _printable_id(record.external_id)
        if needed:
            problems.append(Problem(code="value_too_long" if "long" in why else "invalid_value",
                                    message=f"{name} {why}; the {_WHAT[kind]} is skipped (fix it in the SIS)",
                                    file=file, record=record_id, field=name))
            return None
        problems.append(Problem(code="value_too_long" if "long" in why else "invalid_value",
                                message=f"{name} {why}; the {_WHAT[kind]} is kept without it",
                                severity="warning", file=file, record=record_id, field=name))
        changes[name] = None
    if kind == "guardians":
        links = tuple(_fit_link(link, record.external_id, problems, file) for link in record.links)
        if links != record.links:
            return replace(record, links=links, **changes)
    return replace(record, **changes) if changes else record


def _printable_id(external_id: str | None) -> str | None:
    """The id for the Problem: kept when it can be shown (and then protects a record stored before), left out
    when it is itself the broken value (a NUL the report cannot store, or kilobytes of it)."""
    if not external_id or "\x00" in external_id or len(external_id) > 4 * ID_LIMIT:
        return None
    return external_id


def _fit_link(link: GuardianLink, guardian: str | None, problems: list[Problem], file: str | None) -> GuardianLink:
    changes: dict[str, None] = {}
    for name, limit in LINK_LIMITS:
        why = unfit(getattr(link, name), limit)
        if why is not None:
            problems.append(Problem(code="value_too_long" if "long" in why else "invalid_value",
                                    message=f"{name} of the link to student {link.student_id} {why}; the link "
                                            "is kept without it", severity="warning", file=file,
                                    record=guardian, field=name))
            changes[name] = None
    return replace(link, **changes) if changes else link
