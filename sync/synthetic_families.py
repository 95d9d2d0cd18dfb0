"""The contacts of synthetic families: who they are, how to reach them, which children they are linked to.

Shared by ``generate_district`` (hundreds of thousands of families at once) and ``mutate_district`` (new
families), so both follow the same rules. Built column by column (one list comprehension per field, then
one bulk build into records, see ``connectors.record_build``) because that is several times faster in CPython
than a loop with branches per contact, which matters at a million students.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate, islice, repeat

from connectors.records import GuardianLink, GuardianRecord
from sync.synthetic_data import EMAIL_DOMAINS, FAMILY, FEMALE, GIVEN, MALE, SLUGS, phones_for
from connectors.record_build import build

_MOTHER, _FATHER = ("mother", "parent"), ("father", "parent")
_GUARDIAN, _GRANDPARENT = ("guardian", "guardian"), ("grandparent", "guardian")
# Who looks after a family, (probability, contacts). 80% two contacts, 20% one. Most are parents; some
# legal guardians (foster, kinship) and grandparents raising grandchildren.
_CARERS = (
    (0.8 * 0.90, (_MOTHER, _FATHER)), (0.8 * 0.05, (_GUARDIAN, _GUARDIAN)), (0.8 * 0.05, (_GRANDPARENT, _GRANDPARENT)),
    (0.2 * 0.65, (_MOTHER,)), (0.2 * 0.20, (_FATHER,)), (0.2 * 0.08, (_GUARDIAN,)), (0.2 * 0.07, (_GRANDPARENT,)),
)
# 10% of families also have a relative on file, half of those only as an emergency contact.
_EXTRAS = ((0.90, ()), (0.05, (("grandparent", "relative"),)), (0.05, (("grandparent", "emergency"),)))
_PATTERNS = tuple(carers + extra for _, carers in _CARERS for _, extra in _EXTRAS)
_CUMULATIVE = list(accumulate(p * q for p, _ in _CARERS for q, _ in _EXTRAS))
_CUMULATIVE[-1] = 1.0  # random() < 1.0, so bisect never runs off the end

_NAMES = {"mother": (FEMALE, len(FEMALE)), "father": (MALE, len(MALE))}
# Chance a contact's family name differs from the children's: mothers who kept their name, grandparents
# from the other side of the family, the odd step-parent or foster carer.
_OTHER_NAME = {"mother": 0.15, "grandparent": 0.5}


def build_guardians(rnd: Callable[[], float], families: Sequence[tuple[str, Sequence[str]]],
                    serials: Iterator[int]) -> list[GuardianRecord]:
    """Contacts for each (children's family name, student ids) family, in order.

    ``rnd`` is the caller's ``Random.random``. Each contact takes the next of ``serials`` (unused ones, in
    increasing order), which makes its id (``g-000123``), email (``first.last123@example.org``) and phone
    unique. Most have email and phone, 9% email only, 9% phone only, 2% neither (the sync must report
    them); one in ten with a contact point has no id (as in Clever CSV), so the sync must key them by
    email or phone.
    """
    patterns, cumulative = _PATTERNS, _CUMULATIVE
    rows = [(surname, kids, relationship, contact_type)
            for (surname, kids), pattern in zip(families, [patterns[bisect_right(cumulative, rnd())] for _ in families])
            for relationship, contact_type in pattern]
    serials = list(islice(serials, len(rows)))
    n_family = len(FAMILY)
    default = (GIVEN, len(GIVEN))
    givens = [names[int(rnd() * size)] for names, size in
              [_NAMES.get(relationship, default) for _, _, relationship, _ in rows]]
    other, common = _OTHER_NAME.get, 0.03
    families_ = [FAMILY[int(rnd() * n_family)] if rnd() < other(relationship, common) else surname
                 for surname, _, relationship, _ in rows]
    reach = [rnd() for _ in rows]  # < .80 both, < .89 email only, < .98 phone only, else neither
    style = [rnd() for _ in rows]  # email domain and phone type
    slugs = SLUGS
    emails = [f"{slugs[given]}.{slugs[family]}{s}@{EMAIL_DOMAINS[(y >= 0.6) + (y >= 0.85)]}" if x < 0.89 else None
              for given, family, s, x, y in zip(givens, families_, serials, reach, style)]
    phones = [phone if x < 0.8 or 0.89 <= x < 0.98 else None for phone, x in zip(phones_for(serials), reach)]
    phone_types = [None if phone is None else "cell" if y < 0.85 else "home" if y < 0.97 else "work"
                   for phone, y in zip(phones, style)]
    ids = [None if rnd() < 0.1 and (email or phone) else f"g-{s:06d}"
           for s, email, phone in zip(serials, emails, phones)]
    # All links in one flat run (one bulk build), then cut into each contact's tuple.
    flat = build(GuardianLink, [sid for _, kids, _, _ in rows for sid in kids],
                 [relationship for _, kids, relationship, _ in rows for _ in kids],
                 [contact_type for _, kids, _, contact_type in rows for _ in kids])
    ends = list(accumulate(len(kids) for _, kids, _, _ in rows))
    links = [tuple(flat[end - len(kids):end]) for (_, kids, _, _), end in zip(rows, ends)]
    records = build(GuardianRecord, ids, givens, families_, emails, phones, phone_types, links, repeat(False))
    return records
