"""Who may see and do what (pure: decided on plain values, tested without a database or a server).

- a school leader sees their schools only: the district's runs, each report filtered to their schools,
  and the directory of those schools;
- a district admin sees the whole of their district;
- support staff see every district and may resync, approve held runs and override the lock.

Handlers ask these functions and answer 403 when told no; they never decide by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

LEADER, ADMIN, SUPPORT = "leader", "district-admin", "support"
ROLES = (LEADER, ADMIN, SUPPORT)


@dataclass(frozen=True)
class Principal:
    """The signed-in account, as the decisions need it."""

    user_id: int
    email: str
    role: str
    district_id: int | None = None
    school_ids: frozenset[int] = frozenset()

    @property
    def is_support(self) -> bool:
        return self.role == SUPPORT


def can_see_district(p: Principal, district_id: int) -> bool:
    return p.role == SUPPORT or (p.role in (ADMIN, LEADER) and p.district_id == district_id)


def sees_whole_district(p: Principal, district_id: int) -> bool:
    """False for a leader: their reports are filtered to their schools."""
    return p.role == SUPPORT or (p.role == ADMIN and p.district_id == district_id)


def can_see_school(p: Principal, district_id: int, school_id: int) -> bool:
    if sees_whole_district(p, district_id):
        return True
    return p.role == LEADER and p.district_id == district_id and school_id in p.school_ids


def visible_schools(p: Principal, district_id: int, school_ids: list[int]) -> list[int]:
    return [s for s in school_ids if can_see_school(p, district_id, s)]


def report_filter(p: Principal, district_id: int) -> frozenset[int] | None:
    """None: the whole report; otherwise the directory ids of the schools to filter it to."""
    return None if sees_whole_district(p, district_id) else p.school_ids


def can_resync(p: Principal) -> bool:
    return p.role == SUPPORT


def can_approve(p: Principal) -> bool:
    return p.role == SUPPORT


def can_change_roster(p: Principal, district_id: int, school_id: int, locked: bool) -> bool:
    """Archive or restore a student by hand: support always (a locked school takes an audited override);
    the school's leader and the district admin only where the lock does not apply (a hand-made school)."""
    if p.role == SUPPORT:
        return True
    return not locked and can_see_school(p, district_id, school_id)


def account_problems(role: str, district_id: int | None, school_ids: list[int],
                     schools_in_district: set[int] | None) -> list[str]:
    """What is wrong with an account's shape (`rostersync user add`); empty when it is right.

    ``schools_in_district``: the ids of the district's schools (None when no district was given).
    """
    problems = []
    if role not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}")
    elif role == SUPPORT:
        if district_id is not None or school_ids:
            problems.append("support staff see every district: give no --district or --school")
    else:
        if district_id is None:
            problems.append(f"a {role} needs --district")
        if role == LEADER and not school_ids:
            problems.append("a leader needs at least one --school (the directory id of the school)")
        if role == ADMIN and school_ids:
            problems.append("a district admin sees the whole district: give no --school")
        if district_id is not None and schools_in_district is not None:
            other = sorted(set(school_ids) - schools_in_district)
            if other:
                problems.append(f"school {', '.join(map(str, other))} is not in that district")
    return problems
