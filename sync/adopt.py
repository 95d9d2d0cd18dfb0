"""Adopting hand-made rows on a first sync (pure).

A school that used the platform by hand before connecting its SIS already has students. Archiving them
and creating copies would cut them off from their guardians, so an incoming record with no synced row
is matched to a hand-made one: schools by school number, then name; students by student number, then
name and birth date together; teachers by email. Each hand-made row is adopted at most once; ambiguous
matches (two hand-made rows fit) are not guessed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Hashable, Iterable

from sync.changes import FIELDS, ManualRow


def _fold(value) -> str | None:
    return value.strip().casefold() if isinstance(value, str) and value.strip() else None


class Matcher:
    """Finds a hand-made row for an incoming record by a list of keys, most reliable first."""

    def __init__(self, rows: Iterable[ManualRow], keys: list[Callable[[tuple], Hashable | None]]):
        self._keys = keys
        self._index: list[dict[Hashable, list[ManualRow]]] = []
        for key in keys:
            index: dict[Hashable, list[ManualRow]] = defaultdict(list)
            for row in rows:
                k = key(row.values)
                if k is not None:
                    index[k].append(row)
            self._index.append(index)
        self._any = any(self._index)
        self.taken: set[int] = set()

    def match(self, values: tuple) -> int | None:
        if not self._any:  # the usual case once a district is synced: nothing made by hand to adopt
            return None
        for key, index in zip(self._keys, self._index):
            k = key(values)
            if k is None:
                continue
            candidates = [r for r in index.get(k, ()) if r.row_id not in self.taken]
            if len(candidates) == 1:
                self.taken.add(candidates[0].row_id)
                return candidates[0].row_id
            if len(candidates) > 1:
                return None  # ambiguous: two hand-made rows fit; a person must decide
        return None


def _field(kind: str, name: str) -> int:
    return FIELDS[kind].index(name)


def school_matcher(rows: list[ManualRow]) -> Matcher:
    number, name = _field("schools", "school_number"), _field("schools", "name")
    return Matcher(rows, [lambda v: _fold(v[number]), lambda v: _fold(v[name])])


def student_matcher(rows: list[ManualRow]) -> Matcher:
    number = _field("students", "student_number")
    given, family, born = (_field("students", f) for f in ("given_name", "family_name", "birth_date"))

    def by_name_and_birth(v: tuple):
        if not v[born] or not _fold(v[given]) or not _fold(v[family]):
            return None
        return (_fold(v[given]), _fold(v[family]), v[born])

    return Matcher(rows, [lambda v: _fold(v[number]), by_name_and_birth])


def teacher_matcher(rows: list[ManualRow]) -> Matcher:
    email = _field("teachers", "email")
    return Matcher(rows, [lambda v: _fold(v[email])])
