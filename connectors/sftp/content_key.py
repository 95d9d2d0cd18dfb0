"""A drop's content key: what its data says, leaving out what an export stamps anew every night (I/O).

The drop's fingerprint (drops.py) hashes bytes: it tells the same files copied twice. But many SIS exports
regenerate every file each night and stamp each row's ``dateLastModified`` with the export time, so a
night with no change gives new bytes. The content key hashes every CSV of the drop without the cells of
the columns named in ``VOLATILE``: two drops with the same key hold the same records in the same order,
and syncing the second after the first can change nothing. Rows in another order give another key, which
only costs a full read and comparison, never a wrong answer.

A file without a volatile column is hashed as its bytes. A file with one is hashed row by row as the csv
module parses it (``RowDigest``: the header, then every row with its volatile cells blanked). The CSV
reader feeds the same ``RowDigest`` as it parses each file for the sync (connectors/sftp/csv_reader.py),
so a drop that is read costs no second pass for its key (measured: 1.4 s per 100,000 students); only a
drop that may be skipped unread is parsed here, for the key alone.
"""

from __future__ import annotations

import csv
import hashlib
import operator
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Iterable

# Columns whose value says when a row was written, not what the record is (OneRoster 1.1 and 1.2).
VOLATILE = frozenset({"dateLastModified"})
_CHUNK = 1 << 20
_BATCH = 10_000


def volatile_columns(header: Sequence[str]) -> list[int]:
    return [i for i, column in enumerate(header) if column.strip() in VOLATILE]


class RowDigest:
    """The hash of one CSV file's parsed rows without their volatile cells; fed one raw row at a time.

    Rows are joined with separators no unquoted CSV cell holds, and hashed in batches (one hash update per
    row would cost more than the join). The header is part of it: a renamed column is another file. A row
    of another width than the header keeps all its cells but the volatile ones (with a mark), so that extra
    cells, which decide whether the reader may use the row, always count.
    """

    __slots__ = ("_volatile", "_hash", "_pending", "add")

    def __init__(self, header: Sequence[str]):
        self._volatile = volatile_columns(header)
        self._hash = hashlib.sha256(b"cells:" + ",".join(map(str, self._volatile)).encode("ascii") + b"\n")
        self._pending: list[str] = []
        width = len(header)
        kept = [i for i in range(width) if i not in self._volatile]
        pick = operator.itemgetter(*kept) if len(kept) > 1 else (lambda row: tuple(row[i] for i in kept))
        pending, join, flush, volatile = self._pending, "\x1f".join, self._flush, self._volatile

        def other_width(row: list[str]) -> str:
            cells = [("" if i in volatile else cell) for i, cell in enumerate(row)]
            return "\x1d" + join(cells)

        # ``add(row)`` runs once per row of a million-row file: a closure of C calls, nothing looked up.
        def add(row: list[str]) -> None:
            pending.append(join(pick(row)) if len(row) == width else other_width(row))
            if len(pending) >= _BATCH:
                flush()

        self.add = add
        add(list(header))

    def _flush(self) -> None:
        self._hash.update("\x1e".join(self._pending).encode("utf-8", "surrogateescape") + b"\x1e")
        self._pending.clear()

    def digest(self) -> bytes:
        if self._pending:
            self._flush()
        return self._hash.digest()


def content_key(folder: Path, names: Iterable[str], read: Mapping[str, bytes] | None = None) -> str:
    """sha256 hex over the named CSV files of ``folder`` (sorted by name), volatile columns left out."""
    return combine(file_keys(folder, names, read))


def file_keys(folder: Path, names: Iterable[str], read: Mapping[str, bytes] | None = None,
              sha256_hex: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """Each named file's key. ``read``: keys already known (``RowDigest.digest()`` of a file the reader
    parsed whole); ``sha256_hex``: the files' bytes' hashes where the copy made them (see ``file_key``)."""
    read, sha256_hex = read or {}, sha256_hex or {}
    return {name: read.get(name) or file_key(Path(folder) / name, sha256_hex.get(name)) for name in names}


def combine(keys: Mapping[str, bytes]) -> str:
    """The drop's key from its files' keys (``file_key``)."""
    total = hashlib.sha256()
    for name in sorted(keys):
        total.update(name.encode("utf-8") + b"\x00" + keys[name] + b"\x00")
    return total.hexdigest()


def file_key(path: Path, sha256_hex: str | None = None) -> bytes:
    """One file's key. ``sha256_hex``: its bytes' hash when already known (the copy hashed them), which is
    the key of a file without a volatile column: such a file is then not read again."""
    with path.open("rb") as raw:
        first = raw.readline()
    header = next(csv.reader([first.decode("utf-8-sig", errors="replace")]), [])
    if not volatile_columns(header):
        return bytes.fromhex(sha256_hex) if sha256_hex else _bytes_key(path)
    try:
        return _cells_key(path)
    except csv.Error:  # the reader will say what is wrong; a key that matches nothing makes it read the file
        return b"unreadable:" + _bytes_key(path)


def _bytes_key(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _cells_key(path: Path) -> bytes:
    # As the reader opens a file (csv_reader.open_table), so that both see the same rows.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        rows = csv.reader(fh, strict=True)
        digest = RowDigest(next(rows, []))
        add = digest.add
        for row in rows:
            add(row)
    return digest.digest()
