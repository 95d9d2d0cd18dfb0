"""Read one roster CSV file into rows of the wanted columns, each with the physical line it starts on.

Reader choice, measured (the issue asked for pandas "or something faster if you show it is faster").
Whole path = decode, parse, and hand the caller one ``(line, values)`` tuple per row, where ``line`` is
the physical line the row starts on. On a generated 100,000-row OneRoster users.csv (18 columns,
15.8 MB, quoted commas), best of 5, Python 3.11, pandas 3.1.1, on this project's shared 2-core machine:

                                                  a quoted newline        no quoted newline
                                                  every 997 rows          anywhere
    stdlib csv, this module (4 / all 18 columns)  0.34 s / 0.50 s         0.29 s / 0.40 s
    pandas read_csv(dtype=str,                    0.32 s                  0.26 s
      keep_default_na=False) alone
    pandas + line numbers + tuples (4 / all)      1.16 s / 0.95 s         0.30 s / 0.45 s

    command: .venv/bin/python tests/csv/bench_csv_reader.py --rows 100000 [--no-quoted-newlines]

pandas' C parser alone takes about as long as this module's whole path, and it knows nothing of
physical lines: with a single quoted newline in a file, getting them back means counting the newlines
in every cell of every column, and its whole path is 2-3x slower; with none, it only ties (turning its
columns back into rows costs what its parser saved). The stdlib reader is never slower, streams the file instead of holding it
whole (a 1M-row users.csv is ~150 MB), needs no dependency, and lets one bad row become a Problem with
its line instead of pandas' all-or-skip ``on_bad_lines``. So this module uses the csv module.

What counts as a broken file (``CsvFormatError``, the drop is refused): bytes that are not UTF-8, a NUL
byte (a binary or UTF-16 file), an unterminated quote (a truncated upload), malformed quoting, no header,
a missing required column, a wanted column named twice. A single row with the wrong number of fields is
not a broken file: it becomes a ``Problem`` for that row (its values cannot be trusted to be in the right
columns) and the rest of the file is read.

No cell value ever goes into an error message: rows hold names, emails and phone numbers.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import operator
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from connectors.records import Problem
from connectors.sftp.content_key import RowDigest, volatile_columns


class DropError(Exception):
    """A drop that cannot be taken at all: a drop is taken whole or not at all.

    ``file``/``line``/``column`` locate the (first) cause; ``errors`` holds every file-level error found
    when more than one file is broken, so a district fixes them in one round.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: str | None = None, errors: tuple[DropError, ...] = ()):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.errors = errors

    def __str__(self) -> str:
        if self.file is None or self.errors:  # a list of errors names its files itself
            return self.message
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        return f"{where}: {self.message}"


class CsvFormatError(DropError):
    """A file that cannot be read as a roster CSV at all. Names the file and, where known, line and column."""

    def __init__(self, message: str, *, file: str, line: int | None = None, column: str | None = None):
        super().__init__(message, file=file, line=line, column=column)


@dataclass(slots=True)
class Table:
    """One opened CSV file.

    ``rows`` yields ``(line, values)`` once, lazily; ``values`` follow ``columns`` and a wanted column
    that the header lacks reads as "". Rows with the wrong number of fields are not yielded: they are
    appended to ``problems`` as they are met. Iterating may raise ``CsvFormatError`` (e.g. at a truncated
    end), so a caller must consume ``rows`` before it trusts what it built.
    """

    file: str
    header: tuple[str, ...]
    columns: tuple[str, ...]
    present: frozenset[str]
    rows: Iterator[tuple[int, tuple[str, ...]]]
    problems: list[Problem] = field(default_factory=list)
    # The file's content key (connectors/sftp/content_key.py), fed as the rows are read: asked for with
    # ``hash_rows``, and only for a file with a volatile column. Whole once ``rows`` is consumed.
    digest: RowDigest | None = None

    def has(self, column: str) -> bool:
        return column in self.present


def check_encoding(path: Path, file: str) -> bool:
    """Refuse a file that is not UTF-8 text, naming the line of the first bad byte. Returns whether some
    line is longer than ``MAX_LINE`` bytes (it may be too long: ``_lines`` then reads it with a bound).

    Done as a separate pass over the bytes, in chunks, so that the parse itself can stream the file
    (a 1M-row users.csv is ~150 MB) and so that the error can name a line: a decode error raised from
    inside the text stream knows only an offset in its buffer.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    run = 0  # bytes since the last line break
    long_line = False
    try:
        with path.open("rb") as fh:
            if fh.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):  # Excel's "Unicode text"
                raise CsvFormatError("is UTF-16 text, not UTF-8 (save it as CSV UTF-8)", file=file, line=1)
            fh.seek(0)
            while chunk := fh.read(1 << 20):
                nul = chunk.find(b"\x00")
                if nul >= 0:
                    raise CsvFormatError("contains a NUL byte: not a text CSV (is it UTF-16 or a spreadsheet "
                                         "file? save it as CSV UTF-8)", file=file,
                                         line=line + chunk.count(b"\n", 0, nul))
                held = len(decoder.getstate()[0])  # bytes of a character split by the previous chunk
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    # exc.start counts from the held bytes, which come before this chunk
                    bad = max(exc.start - held, 0)
                    raise CsvFormatError("is not valid UTF-8 (save it as CSV UTF-8)", file=file,
                                         line=line + chunk.count(b"\n", 0, bad)) from None
                line += chunk.count(b"\n")
                # A line within one chunk is shorter than the chunk (MAX_LINE bytes): only one that runs
                # across a chunk's edge can be longer, and find/rfind see those without a pass per line.
                first = chunk.find(b"\n")
                if first < 0:
                    run += len(chunk)
                else:
                    long_line |= run + first >= MAX_LINE
                    run = len(chunk) - chunk.rfind(b"\n") - 1
                long_line |= run >= MAX_LINE
            decoder.decode(b"", final=True)
    except FileNotFoundError:
        raise CsvFormatError("file not found", file=file) from None
    except UnicodeDecodeError:  # the file ends inside a multi-byte character
        raise CsvFormatError("is not valid UTF-8: it ends inside a character (truncated upload?)",
                             file=file, line=line) from None
    return long_line


def open_table(path: Path, columns: Sequence[str], *, optional: Collection[str] = (),
               name: str | None = None, hash_rows: bool = False) -> Table:
    """Open ``path`` and check its header.

    ``columns`` are the wanted columns, in the order each row's values will follow; all are required
    except those in ``optional``, which read as "" when the header lacks them. UTF-8 with or without a
    BOM; any line ending (CRLF, LF), inside quotes too.
    """
    file = name or path.name
    bounded = check_encoding(path, file)
    return _table(lambda: path.open(encoding="utf-8-sig", newline=""), file, columns, optional, bounded,
                  hash_rows)


def parse_text(text: str, file: str, columns: Sequence[str], *, optional: Collection[str] = ()) -> Table:
    """Same as ``open_table`` on text already decoded (tests, small control files)."""
    return _table(lambda: io.StringIO(text.removeprefix("\ufeff"), newline=""), file, columns, optional)


def _table(source: Callable[[], TextIO], file: str, columns: Sequence[str],
           optional: Collection[str], bounded: bool = True, hash_rows: bool = False) -> Table:
    """``bounded``: read the rows through ``_lines`` (a bound on every line); False when the file is known
    to have no line longer than that bound, and the text stream's own line iteration (in C) is enough."""
    columns = tuple(columns)
    # The header is read eagerly (so a bad header fails at once) from its own short-lived handle; the
    # rows generator opens the file again only when iterated, so an unused Table holds no open file.
    with source() as fh:
        raw_header, header_lines = _read_header(fh, file)
    header = tuple(h.strip() for h in raw_header)

    positions: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        if h:
            positions.setdefault(h, []).append(i)
    for col in columns:
        if len(positions.get(col, ())) > 1:
            raise CsvFormatError(f"column '{col}' appears more than once in the header", file=file,
                                 line=1, column=col)
    missing = [c for c in columns if c not in positions and c not in optional]
    if missing:
        listed = ", ".join(f"'{c}'" for c in missing)
        raise CsvFormatError(f"missing required column{'s' if len(missing) > 1 else ''} {listed}",
                             file=file, line=1, column=missing[0])

    table = Table(file=file, header=header, columns=columns,
                  present=frozenset(c for c in columns if c in positions), rows=iter(()),
                  digest=RowDigest(raw_header) if hash_rows and volatile_columns(raw_header) else None)
    table.rows = _rows(source, table, positions, header_lines, bounded)
    return table


# Longest physical line read: far above any roster row (a users.csv row is well under 1 KB), and what keeps
# memory bounded. The csv module takes the file line by line, so a 10 MB cell without a line break would
# otherwise be read whole (twice: bytes and text) before its field limit could refuse it.
MAX_LINE = 1 << 20


def _lines(fh: TextIO, file: str) -> Iterator[str]:
    """The physical lines of ``fh``, as iterating it gives them, refusing one longer than ``MAX_LINE``."""
    number = 0
    while line := fh.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise CsvFormatError(f"the line is longer than {MAX_LINE} characters, far longer than any "
                                 f"roster row: a huge cell, or not a CSV file?", file=file, line=number)
        yield line


def _read_header(fh: TextIO, file: str) -> tuple[list[str], int]:
    reader = csv.reader(_lines(fh, file), strict=True)
    try:
        raw = next(reader, None)
    except csv.Error as exc:
        raise _quoting_error(exc, file, 1, reader.line_num) from None
    if raw is None or not any(h.strip() for h in raw):
        raise CsvFormatError("is empty: the first line must be the header", file=file, line=1)
    return raw, reader.line_num


def _rows(source: Callable[[], TextIO], table: Table, positions: dict[str, list[int]], header_lines: int,
          bounded: bool = True):
    with source() as fh:
        reader = csv.reader(_lines(fh, table.file) if bounded else fh, strict=True)
        next(reader)  # the header, already checked
        yield from _data_rows(reader, table, positions, header_lines + 1)


def _data_rows(reader, table: Table, positions: dict[str, list[int]], first_line: int):
    header = table.header
    width = len(header)
    pad_index = width  # a missing optional column reads this index, which a padded row holds as ""
    indices = [positions[c][0] if c in positions else pad_index for c in table.columns]
    pad = pad_index in indices
    if len(indices) == 1:
        only = indices[0]
        pick = lambda row: (row[only],)  # noqa: E731 - itemgetter of one index returns a bare value
    elif indices:
        pick = operator.itemgetter(*indices)
    else:
        pick = lambda row: ()  # noqa: E731
    # Trailing header cells that are blank ("a,b,c,,") name nothing; rows may omit them.
    named_width = max((i + 1 for i, h in enumerate(header) if h), default=0)

    start = first_line
    add = table.digest.add if table.digest is not None else None
    try:
        for row in reader:
            if add is not None:
                add(row)  # every row, as parsed: the content key counts blank and broken rows too
            n = len(row)
            if n != width:
                if n == 0 or (n == 1 and not row[0].strip()):
                    start = reader.line_num + 1  # a blank line
                    continue
                fixed = _fit(row, width, named_width)
                if fixed is None:
                    table.problems.append(Problem(
                        code="wrong_field_count", file=table.file, line=start,
                        message=f"row has {n} fields but the header has {named_width}; the row is "
                                f"skipped because its values may sit under the wrong columns "
                                f"(an unquoted comma or a lost field?)"))
                    start = reader.line_num + 1
                    continue
                row = fixed
            end = reader.line_num
            if end != start:  # a quoted newline: in a CRLF file it reads as "\r\n"; keep one form
                row = [v.replace("\r\n", "\n") for v in row]
            if pad:
                row.append("")
            yield start, pick(row)
            start = end + 1
    except csv.Error as exc:
        raise _quoting_error(exc, table.file, start, reader.line_num) from None


def _fit(row: list[str], width: int, named_width: int) -> list[str] | None:
    """A row of the wrong length made header-wide, when only blank cells were added or lost; else None."""
    n = len(row)
    if n > width:
        if any(v.strip() for v in row[width:]):
            return None
        return row[:width]
    if n >= named_width:  # only the blank-named trailing columns are missing
        return row + [""] * (width - n)
    return None


def _quoting_error(exc: csv.Error, file: str, start: int, current: int) -> CsvFormatError:
    text = str(exc)
    if "unexpected end of data" in text:
        return CsvFormatError(f"a quoted field that starts on line {start} is never closed: the file "
                              f"ends inside it (truncated upload?)", file=file, line=start)
    if "field larger than field limit" in text:
        # A stray quote swallows the rest of the file into one field until the csv module's limit
        # (128 KiB, far above any real roster cell) stops it; the module limit is left as it is. So does a
        # cell that really is that long (10 MB pasted into a name): the reader cannot tell where such a
        # cell ends without reading it whole, nor the two cases apart, so the file is refused either way
        # rather than guessing which rows follow it (a bulk file missing rows would archive them).
        return CsvFormatError(f"a field that starts on line {start} runs on for more than "
                              f"{csv.field_size_limit()} characters, far longer than any roster value: a "
                              f"stray or unclosed quote, or a huge cell?", file=file, line=start)
    # e.g. "',' expected after '\"'": text right after a closing quote
    return CsvFormatError(f"malformed quoting ({text})", file=file, line=current)



def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, or the one file whose name differs from it only in case (``Users.csv``)."""
    exact = folder / name
    if exact.is_file():
        return exact
    lowered = name.lower()
    matches = [p for p in folder.iterdir() if p.is_file() and p.name.lower() == lowered]
    return matches[0] if len(matches) == 1 else None


def open_tables(specs: Sequence[tuple[Path, Sequence[str], Collection[str]]], *,
                hash_rows: bool = False) -> list[Table]:
    """Open several files (path, columns, optional) and check every header before any row is read.

    One bad file raises its own ``CsvFormatError``; several raise one ``DropError`` listing them all.
    """
    tables, errors = [], []
    for path, columns, optional in specs:
        try:
            tables.append(open_table(path, columns, optional=optional, hash_rows=hash_rows))
        except CsvFormatError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        first = errors[0]
        raise DropError(f"{len(errors)} files cannot be read: " + "; ".join(str(e) for e in errors),
                        file=first.file, line=first.line,
                        column=first.column, errors=tuple(errors))
    return tables


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while a drop is turned into records, then put it back as it was.

    A drop read makes millions of small objects that never form cycles; the collector would walk all of
    them again and again as they pile up (measured: a quarter of a 100k-student read). Reference counting
    still frees everything at once; only cycle hunting waits until the read is over. Another thread that
    runs meanwhile merely finds its cycles collected a little later.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
