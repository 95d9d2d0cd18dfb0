"""docs/reliability.md names a test for every fault and input it lists: each named test must exist, so a
renamed or deleted test cannot leave a claim in the table that nothing backs any more."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMED = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")


def _rows() -> list[str]:
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| fault")
            and not line.startswith("| ---")]


def test_every_row_names_a_test_that_exists():
    rows = _rows()
    assert len(rows) >= 80  # the table covers crash points, hostile input, properties, security, load
    missing = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == 3, row
        named = NAMED.findall(cells[2])
        assert named, f"no test named in: {row}"
        for path, name in named:
            source = ROOT / path
            if not source.is_file() or (name and not re.search(rf"^(?:async )?def {name}\(", source.read_text(),
                                                                re.MULTILINE)):
                missing.append(f"{path}::{name}")
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
