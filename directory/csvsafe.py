"""CSV cells a spreadsheet cannot execute.

A cell that starts with = + - @ (or a tab / carriage return that some spreadsheets skip) is read as a
formula by Excel and LibreOffice; a student named "=HYPERLINK(...)" must stay a name. Prefixing a single
quote is the neutralization OWASP recommends; it shows as text and survives a round trip.
"""

from __future__ import annotations

import csv
from typing import IO, Iterable, Sequence

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_TRIGGERS):
        # Negative numbers are data, not formulas, and must stay numbers.
        try:
            float(text)
            return text
        except ValueError:
            return "'" + text
    return text


def write_rows(stream: IO[str], header: Sequence[str], rows: Iterable[Sequence]) -> None:
    # CRLF, as RFC 4180 says: the writer then also quotes a cell holding a bare CR, which spreadsheets
    # (and Python's reader) would otherwise take as the end of the row.
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralize(v) for v in row])
