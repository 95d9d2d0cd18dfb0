"""Guardian links named by OneRoster agents (pure), shared by the CSV reader and the REST mapping.

``agentSourcedIds`` (CSV) / ``agents`` (REST) list, on a student, its parents and guardians; on a parent
or guardian, its students. Both readers take a link from either side. Hostile or broken agents:

- A user naming itself. Nobody is their own parent: a user holding both a student and a parent role
  (OneRoster 1.2 roles) would otherwise become its own guardian and be sent messages about itself. The
  link is ignored with a warning.
- Two users linked by agents (either naming the other, or both) when both hold a student and a parent
  role: agents cannot say which way round is meant, and reading them from both sides makes each the
  other's guardian (a cycle A -> B -> A). Neither link is used, with a warning: guessing would send one
  family's messages to the other. (When one of them holds only one of the two roles, only one way round
  fits and it is taken.)
- Longer cycles (A guardian of B, B of C, C of A) need three users with both roles each; every link in
  them fits its two ends, so they are kept: nothing can be told wrong from the data alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def self_message(field: str) -> str:
    return f"{field} names the user itself: nobody is their own parent or guardian; that link is ignored"


def fits_other_way(holder_kinds: Collection[str], named_kinds: Collection[str], wanted: str) -> bool:
    """A user with both a student and a guardian record has its agents read both ways; the way its named
    user does not fit needs no warning when the other way links the two. ``wanted`` is what the named user
    should be for this way round ("guardian" when the holder is read as the student)."""
    other = "student" if wanted == "guardian" else "guardian"
    holder_as = "guardian" if other == "student" else "student"
    return other in named_kinds and holder_as in holder_kinds


def mutual_pairs(links: Mapping[str, Mapping[str, object]]) -> list[tuple[str, str]]:
    """Each (a, b), a < b, where a is linked as b's guardian and b as a's, in a stable order."""
    return sorted((guardian, student) for guardian, students in links.items() for student in students
                  if guardian < student and guardian in links.get(student, ()))


def mutual_message(a: str, b: str, field: str) -> str:
    return (f"{field} links {a} and {b}, and each is both a student and a parent/guardian, so each would be "
            f"the other's guardian; which way round is meant cannot be told, so neither link is used (fix it "
            f"in the SIS)")
