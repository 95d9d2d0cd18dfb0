"""A small PDF writer for printed invitations: pages of plain text in the standard Helvetica fonts.

Enough of PDF 1.4 for text pages (catalog, page tree, two standard fonts, one content stream per page,
a cross-reference table) so printing needs no extra package. Text is Latin-1 (the standard fonts'
WinAnsi encoding covers the accents of Western names); any other character prints as "?".
"""

from __future__ import annotations

import textwrap

PAGE_W, PAGE_H, MARGIN = 612, 792, 72  # US Letter, in points; one-inch margins
WRAP = 80


def _escape(text: str) -> str:
    latin = text.encode("latin-1", errors="replace").decode("latin-1")
    return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_stream(lines: list[tuple[str, str, int]]) -> bytes:
    """lines: (text, font "F1" regular | "F2" bold, size)."""
    out = ["BT"]
    y = PAGE_H - MARGIN
    for text, font, size in lines:
        for piece in textwrap.wrap(text, WRAP) or [""]:
            y -= size + 6
            out.append(f"/{font} {size} Tf 1 0 0 1 {MARGIN} {y} Tm ({_escape(piece)}) Tj")
    out.append("ET")
    return "\n".join(out).encode("latin-1")


def render_pdf(pages: list[list[tuple[str, str, int]]]) -> bytes:
    objects: list[bytes] = []  # object n is objects[n-1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree's number is known
    page_tree = add(b"")
    regular = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    kids = []
    for lines in pages:
        stream = _page_stream(lines)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(f"<< /Type /Page /Parent {page_tree} 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] "
                        f"/Resources << /Font << /F1 {regular} 0 R /F2 {bold} 0 R >> >> "
                        f"/Contents {content} 0 R >>".encode()))
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {page_tree} 0 R >>".encode()
    objects[page_tree - 1] = (f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] "
                              f"/Count {len(kids)} >>").encode()
    data = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(data)
    data += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    data += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    data += f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(data)
