"""CSV cells a spreadsheet cannot execute.

A cell that starts with = + - @ (or a tab / carriage return that some spreadsheets skip) is read as a
formula by Excel and LibreOffice; a student named "=HYPERLINK(...)" must stay a name. Prefixing a single
quote is the neutralization OWASP recommends; it shows as text and survives a round trip.

Two ways around that prefix, both closed here:
- blanks before the trigger (" =HYPERLINK(...)"): some importers trim cells before they look at them, so
  the trigger is looked for after leading blanks too;
- a separator inside the cell ("Ann;=HYPERLINK(...)"): a spreadsheet set to another list separator (";"
  in much of Europe) splits an unquoted cell there and runs what follows. Every data cell is therefore
  quoted, which keeps it one cell whatever the separator (OWASP: "wrap each cell field in double
  quotes"). The header, fixed text of ours, stays unquoted.
"""

from __future__ import annotations

import csv
from typing import IO, Iterable, Sequence

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_BLANKS = " \u00a0"  # space and no-break space: what a trimming importer drops before reading a formula


def neutralize(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_TRIGGERS) or text.lstrip(_BLANKS).startswith(_TRIGGERS):
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
    csv.writer(stream, lineterminator="\r\n").writerow(header)
    writer = csv.writer(stream, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        writer.writerow([neutralize(v) for v in row])
