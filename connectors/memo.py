"""A dict that computes a missing value once: for values a large file spells a few ways over and over
(timestamps, roles, contact types), so each spelling is normalised or checked once, not once a row.

A hit is a plain dict lookup in C; only a new spelling calls the function.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict, Generic[K, V]):
    def __init__(self, compute: Callable[[K], V]):
        super().__init__()
        self._compute = compute

    def __missing__(self, key: K) -> V:
        value = self[key] = self._compute(key)
        return value
