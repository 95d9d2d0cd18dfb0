"""A drop's content key: what its data says, leaving out what an export stamps anew every night (I/O).

The drop's fingerprint (drops.py) hashes bytes: it tells the same files copied twice. But many SIS exports
regenerate every file each night and stamp each row's ``dateLastModified`` with the export time, so a
night with no change gives new bytes. The content key hashes every CSV of the drop, cell by cell, without
the columns named in ``VOLATILE``: two drops with the same key hold the same records in the same order,
and syncing the second after the first can change nothing. Rows in another order give another key, which
only costs a full read and comparison, never a wrong answer.

A file without a volatile column is hashed as its bytes (no parsing). A file with one is hashed as its
bytes with that column's cells cut out by one regular expression over the whole file (in C, about as fast
as hashing), which is exact when every record is one line; a file where a quoted cell spans lines is
parsed with the csv module instead (ten times slower, and rare).
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path
from typing import Iterable

# Columns whose value says when a row was written, not what the record is (OneRoster 1.1 and 1.2).
VOLATILE = frozenset({"dateLastModified"})
_CHUNK = 1 << 20


def content_key(folder: Path, names: Iterable[str]) -> str:
    """sha256 hex over the named CSV files of ``folder`` (sorted by name), volatile columns left out."""
    total = hashlib.sha256()
    for name in sorted(names):
        total.update(name.encode("utf-8") + b"\x00" + _file_key(Path(folder) / name) + b"\x00")
    return total.hexdigest()


def _file_key(path: Path) -> bytes:
    with path.open("rb") as raw:
        first = raw.readline()
    header = next(csv.reader([first.decode("utf-8-sig", errors="replace")]), [])
    dropped = {i for i, column in enumerate(header) if column.strip() in VOLATILE}
    if not dropped:
        return _bytes_key(path)
    if len(dropped) == 1:
        data = path.read_bytes()
        if not _spans_lines(data):
            return _cut_key(data, dropped.pop())
    try:
        return _cells_key(path, [i for i in range(len(header)) if i not in dropped])
    except csv.Error:  # the reader will say what is wrong; a key that matches nothing makes it read the file
        return b"unreadable:" + _bytes_key(path)


# A cell: quoted (with "" for a quote inside) or plain.
_CELL = rb'(?:"(?:[^"\n]|"")*"|[^,"\n]*)'


def _spans_lines(data: bytes) -> bool:
    """Whether a quoted cell goes on past a line's end: some line has an odd number of quote characters."""
    if b'"' not in data:
        return False
    return any(line.count(b'"') % 2 for line in data.split(b"\n") if b'"' in line)


def _cut_key(data: bytes, column: int) -> bytes:
    """The hash of ``data`` without the cells of ``column``, when every record is one line.

    Each line's first ``column`` cells are kept and the next one cut; a line the expression cannot read
    (a stray quote) keeps its cell, so it can only make two drops differ, never make different ones equal.
    """
    cut = re.compile(rb"(?m)^((?:" + _CELL + rb",){" + str(column).encode() + rb"})" + _CELL)
    return hashlib.sha256(b"cut:" + str(column).encode() + b"\n" + cut.sub(rb"\1", data)).digest()


def _bytes_key(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _cells_key(path: Path, kept: list[int]) -> bytes:
    digest = hashlib.sha256()
    digest.update(b"columns:" + ",".join(map(str, kept)).encode("ascii") + b"\n")
    # Cells joined with separators no CSV cell holds unquoted; a row's kept cells only (a short row, which
    # the reader reports as an error anyway, keeps what it has).
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        rows = csv.reader(fh)
        next(rows, None)
        batch: list[str] = []
        for row in rows:
            batch.append("\x1f".join([row[i] for i in kept if i < len(row)]))
            if len(batch) >= 10_000:
                digest.update("\x1e".join(batch).encode("utf-8", "surrogateescape") + b"\x1e")
                batch = []
        if batch:
            digest.update("\x1e".join(batch).encode("utf-8", "surrogateescape") + b"\x1e")
    return digest.digest()
