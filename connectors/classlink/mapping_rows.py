"""What every OneRoster REST record shares, for the mapping: the pull's state, the status and id checks,
and reading values out of JSON objects. Pure: no I/O, no clock.

Facts relied on (OneRoster 1.1 / 1.2 REST JSON, as published clients and servers model it, seen through
the search tool: e.g. groton-school/sky-api.oneroster's ORUserModel, 1.2 users with ``roles`` arrays):
- Every record has sourcedId, status (active | tobedeleted) and dateLastModified (ISO 8601 date-time).
- References are GUIDRef objects ``{"href": ..., "sourcedId": ..., "type": ...}`` (a user's ``orgs`` and
  ``agents``, a class's ``school`` and ``course``, an enrollment's ``user`` and ``class``). A plain
  string id is accepted as well: some vendors write one, and it is unambiguous.
- 1.1 writes booleans and lists of grades in JSON types or, from some vendors, as strings ("true",
  "09,10"); both are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from connectors.records import ClassroomRecord, Problem, RosterBatch
from connectors.sftp.oneroster_csv import is_iso_datetime, split_list

SOURCE = "classlink"
ORDER = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


def text(obj: Mapping[str, Any], name: str) -> str:
    """A scalar value as stripped text ("" when absent, null, or not a scalar)."""
    value = obj.get(name)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return ""


def ref(value: Any) -> str:
    """The sourcedId a GUIDRef (or a bare id) points to, or ""."""
    if isinstance(value, Mapping):
        value = value.get("sourcedId")
    return value.strip() if isinstance(value, str) else ""


def refs(value: Any) -> list[str]:
    """The ids of a list of GUIDRefs (or of a comma-separated string, as a CSV would give them)."""
    if isinstance(value, str):
        return split_list(value)
    if isinstance(value, list):
        return [i for i in (ref(v) for v in value) if i]
    single = ref(value)
    return [single] if single else []


def strings(value: Any) -> list[str]:
    """A list of strings (grades), from a JSON list or a comma-separated string."""
    if isinstance(value, str):
        return split_list(value)
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


@dataclass(slots=True)
class Roster:
    """What one mapping has learnt so far; every stage adds to it (the REST twin of the CSV reader's _Drop)."""

    version: str
    full: bool  # a full pull holds every record of every collection (like a bulk file); a delta does not
    problems: list[Problem] = field(default_factory=list)
    orgs: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (type lowered, parent id)
    school_of: dict[str, str | None] = field(default_factory=dict)  # org id -> its school (memo)
    sessions: set[str] = field(default_factory=set)
    courses: set[str] = field(default_factory=set)
    classes: dict[str, ClassroomRecord] = field(default_factory=dict)
    kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)  # user id -> kinds taken
    rejected: dict[str, set[str]] = field(default_factory=dict)  # collection -> ids of records not taken
    batch: RosterBatch = field(default_factory=lambda: RosterBatch(source=SOURCE))

    def problem(self, code: str, message: str, *, kind: str, record: str | None = None,
                field: str | None = None, severity: str = "error") -> None:
        # "file" names the collection (the endpoint) the record came from; REST has no lines.
        self.problems.append(Problem(code=code, message=message, severity=severity, file=kind,
                                     record=record, field=field))

    def reject(self, kind: str, sid: str) -> None:
        self.rejected.setdefault(kind, set()).add(sid)

    def is_rejected(self, kind: str, sid: str) -> bool:
        return sid in self.rejected.get(kind, ())


def rows(roster: Roster, kind: str, items: Iterable[Any]) -> Iterator[tuple[str, bool, Mapping[str, Any]]]:
    """Records that pass the checks every OneRoster object shares: (sourcedId, deleted, object).

    Same rules as the CSV reader: a missing sourcedId or a status other than active/tobedeleted is an
    error and the record is skipped; a missing status is "active" only in a full pull (as a blank one
    is in a bulk file); a malformed dateLastModified is a warning and the record is used.
    """
    seen: set[str] = set()
    for n, obj in enumerate(items):
        if not isinstance(obj, Mapping):
            roster.problem("invalid_value", f"record {n + 1} of the {kind} collection is not an object; skipped",
                           kind=kind)
            continue
        sid = text(obj, "sourcedId")
        if not sid:
            roster.problem("missing_value", f"record {n + 1} of the {kind} collection has no sourcedId; skipped",
                           kind=kind, field="sourcedId")
            continue
        if sid in seen:
            # Offset paging over data that changes while it is read can hand out a record twice.
            roster.problem("duplicate_id", f"sourcedId {sid} came twice in the {kind} collection; the first "
                           "is used", kind=kind, record=sid, field="sourcedId", severity="warning")
            continue
        seen.add(sid)
        status = text(obj, "status").lower()
        if status == "active" or (roster.full and not status):
            deleted = False
        elif status == "tobedeleted":
            deleted = True
        else:
            why = (f"status '{text(obj, 'status')}' is not active or tobedeleted" if status else
                   "status is missing in a delta (active or tobedeleted is required)")
            roster.problem("invalid_status", f"{why}; the record is skipped", kind=kind, record=sid,
                           field="status")
            roster.reject(kind, sid)
            continue
        modified = text(obj, "dateLastModified")
        if modified and not is_iso_datetime(modified):
            roster.problem("invalid_date", f"dateLastModified '{modified}' is not an ISO 8601 date-time; the "
                           "record is used", kind=kind, record=sid, field="dateLastModified", severity="warning")
        elif not modified and not roster.full:
            roster.problem("missing_value", "dateLastModified is missing in a delta; the record is used",
                           kind=kind, record=sid, field="dateLastModified", severity="warning")
        yield sid, deleted, obj


def required(roster: Roster, kind: str, sid: str, **values: str) -> bool:
    """True when every named value is non-blank; else one error naming the first blank one."""
    for name, value in values.items():
        if not value:
            roster.problem("missing_value", f"{name} is missing; the record is skipped", kind=kind, record=sid,
                           field=name)
            roster.reject(kind, sid)
            return False
    return True


def school(roster: Roster, org_id: str) -> str | None:
    """The school an org is or belongs to, or None. An org this pull does not hold is trusted as a school
    in a delta (the directory may know it), never in a full pull (then it cannot exist)."""
    if org_id in roster.school_of:
        return roster.school_of[org_id]
    found, current, seen = None, org_id, set()
    while current and current not in seen:
        seen.add(current)
        org = roster.orgs.get(current)
        if org is None:
            if not roster.full and not roster.is_rejected("orgs", current):
                found = current
            break
        if org[0] == "school":
            found = current
            break
        current = org[1]
    roster.school_of[org_id] = found
    return found


def why_no_school(roster: Roster, org_ids: list[str]) -> str:
    if not org_ids:
        return "it names no org"
    described = []
    for org_id in org_ids:
        org = roster.orgs.get(org_id)
        described.append(f"{org_id} is not in orgs" if org is None else
                         f"{org_id} is a {org[0] or 'org'} with no school above it")
    return "; ".join(described)
