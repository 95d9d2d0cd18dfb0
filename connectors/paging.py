"""A page that only repeats records already received (pure), for the API clients' loop checks.

Following next links (Clever) or offsets (OneRoster) ends when the server says so. A server that ignores
``offset`` or ``starting_after`` answers every page with the first one: with a fresh next link each time
it would be followed forever (memory growing with every page), and with an ``X-Total-Count`` it would
stop once the count is reached, with the first page's records many times over and the rest of the
collection never read, a partial pull that looks whole. Both show as a page whose every record came
before, which a working server never sends (records that shift between pages overlap a page by a few,
not all), so such a page ends the pull with an error.
"""

from __future__ import annotations

from collections.abc import Iterable


def only_repeats(objects: Iterable[object], seen: set[str], id_key: str) -> bool:
    """True when the page holds records and every one of them has an id already in ``seen``; otherwise
    the page's ids are added to ``seen``. Records without a string id are left to the mapping to report."""
    ids = {obj.get(id_key) for obj in objects if isinstance(obj, dict)}
    ids = {i for i in ids if isinstance(i, str) and i}
    if ids and ids <= seen:
        return True
    seen |= ids
    return False
