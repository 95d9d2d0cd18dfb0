"""A OneRoster CSV drop (1.1 or 1.2, bulk or delta) in a local folder -> one RosterBatch. No I/O but reading.

Facts relied on (1EdTech OneRoster CSV Tables 1.1.1 and CSV Binding 1.2.1; where those pages were out of
reach, the vendors' published summaries of them: D2L, ManageBac, Great Minds, Naviance):
- ``manifest.csv`` has the columns propertyName,value; ``oneroster.version`` is 1.1 or 1.2; each data
  file has a ``file.<name>`` row whose value is bulk, delta or absent.
- Every data file starts sourcedId,status,dateLastModified. status is active|tobedeleted
  (``inactive`` was 1.0's word and is invalid since 1.1). In a bulk file status and dateLastModified
  may be blank (vendors ask for blank); in a delta file both are required.
- Required columns (a header without one is refused) are listed in ``_SPEC`` below, per file and
  version; every other column is optional and may be absent, and columns not in the spec (``ext_*``,
  ``metadata.*``) are ignored.
- Lists (orgSourcedIds, agentSourcedIds, grades, termSourcedIds) are comma-separated in one quoted cell.
- 1.1 users.csv carries role and orgSourcedIds. 1.2 moves both to roles.csv (sourcedId, status,
  dateLastModified, userSourcedId, roleType primary|secondary, role, beginDate, endDate, orgSourcedId,
  userProfileSourcedId) and adds primaryOrgSourcedId, preferred*Name, pronouns to users.csv.
- User roles: 1.1 administrator, aide, guardian, parent, proctor, relative, student, teacher; 1.2 aide,
  counselor, districtAdministrator, guardian, parent, principal, proctor, relative, siteAdministrator,
  student, systemAdministrator, teacher.
- demographics.csv is keyed by the user's sourcedId; birthDate, startDate, endDate, beginDate are
  dates (YYYY-MM-DD); dateLastModified is a date-time (2023-05-01T18:25:43.511Z).
- agentSourcedIds links a user to its agents: on a student it lists parents/guardians, on a parent or
  guardian it lists the students.

Decisions:
- A row that breaks a rule for a value we store (status, a missing name, no school) is an "error"
  Problem and the row is skipped; a value we do not store (dateLastModified, enrollment dates) that is
  malformed is a "warning" and the row is used. Messages carry ids and field names, never a person's
  name, email, phone or birth date.
- Staff: administrator, aide, counselor, principal, proctor, siteAdministrator, districtAdministrator
  become TeacherRecord(role="staff"): they talk to families and Clever's staff.csv lands in the same
  place. systemAdministrator is an IT account, not a person families deal with: no record, no problem.
- A student's school is the first of its orgs (1.2: primaryOrgSourcedId, then its student roles,
  primary first) that is a school, or has a school above it via parentSourcedId; a class's school and a
  teacher's schools are found the same way. A department is not a school: a student or class whose orgs
  reach no school is an error (the directory files them by school); a teacher is kept without it.
- A reference is checked only against a bulk file (the whole truth). An id that a delta or absent file
  does not hold may be known to the directory from an earlier drop, so it passes through unchecked.
- An unknown required reference (an enrollment's class or user, a class's school) is an error and the
  row is skipped; an unknown optional one (an agent, an org's parent, a teacher's extra org) is a
  warning and only that reference is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from sys import intern
from datetime import date
from pathlib import Path

from connectors.records import (ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord, Problem,
                                RosterBatch, SchoolRecord, StudentRecord, TeacherRecord)
from connectors.agent_links import fits_other_way, mutual_message, mutual_pairs, self_message
from connectors.fit import fit_batch
from connectors.memo import Memo
from connectors.record_build import maker
from connectors.sftp.csv_reader import DropError, Table, find_file, open_table, open_tables, paused_gc
from sync.faults import checkpoint

__all__ = ["DropError", "read_oneroster_drop"]

SOURCE = "oneroster-csv"
VERSIONS = ("1.1", "1.2")
MODES = ("bulk", "delta", "absent")
_HEAD = ("sourcedId", "status", "dateLastModified")

# Per file: (spec-required columns after sourcedId, optional columns this reader uses). Columns the reader
# does not use and the spec makes optional are not listed: they may be there or not.
_SPEC: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "1.1": {
        "orgs": (("name", "type"), ("identifier", "parentSourcedId")),
        "academicSessions": (("title", "type", "startDate", "endDate", "schoolYear"), ()),
        "courses": (("title", "orgSourcedId"), ()),
        "classes": (("title", "courseSourcedId", "classType", "schoolSourcedId", "termSourcedIds"), ()),
        "demographics": ((), ("birthDate",)),
        "users": (("enabledUser", "orgSourcedIds", "role", "username", "givenName", "familyName"),
                  ("identifier", "email", "sms", "phone", "agentSourcedIds", "grades")),
        "enrollments": (("classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
                        ("beginDate", "endDate")),
    },
}
_SPEC["1.2"] = dict(_SPEC["1.1"])
_SPEC["1.2"]["users"] = (("enabledUser", "username", "givenName", "familyName"),
                         ("identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
                          "primaryOrgSourcedId"))
_SPEC["1.2"]["roles"] = (("userSourcedId", "roleType", "role", "orgSourcedId"), ("beginDate", "endDate"))

# Read in this order: each file's references point only to files read before it (agents aside).
_ORDER = ("orgs", "academicSessions", "courses", "classes", "demographics", "roles", "users", "enrollments")

_ROLE_KIND = {
    "student": "student", "teacher": "teacher",
    "parent": "guardian", "guardian": "guardian", "relative": "guardian",
    "administrator": "staff", "aide": "staff", "counselor": "staff", "principal": "staff",
    "proctor": "staff", "siteadministrator": "staff", "districtadministrator": "staff",
    "systemadministrator": None,
}
_GUARDIAN_ROLES = frozenset(("parent", "guardian", "relative"))
_FILES = {"schools": "orgs.csv", "classrooms": "classes.csv", "teachers": "users.csv", "students": "users.csv",
          "guardians": "users.csv"}  # where each kind's records come from, for connectors.fit's problems
_SESSION_TYPES = {"gradingperiod", "semester", "schoolyear", "term"}

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
# date, then optionally T (or a space, as some exports write it) and time, fraction, zone
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})"
                       r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?\Z")


def is_iso_date(value: str) -> bool:
    m = _DATE.match(value)
    return bool(m) and _real_date(value)


def is_iso_datetime(value: str) -> bool:
    m = _DATETIME.match(value)
    return bool(m) and _real_date(m.group(1))


def _real_date(value: str) -> bool:
    try:
        date.fromisoformat(value[:10])
    except ValueError:  # 2023-02-30
        return False
    return True


def split_list(cell: str) -> list[str]:
    if "," not in cell:  # the common case: one id
        cell = cell.strip()
        return [cell] if cell else []
    return [part.strip() for part in cell.split(",") if part.strip()]


# ---------------------------------------------------------------------------------------------- manifest

@dataclass(slots=True)
class Manifest:
    version: str
    modes: dict[str, str]  # data file stem (users, orgs ...) -> bulk | delta | absent, for files we read
    file: str = "manifest.csv"


def read_manifest(folder: Path, problems: list[Problem]) -> Manifest:
    path = find_file(folder, "manifest.csv")
    if path is None:
        raise DropError("the file is missing: a OneRoster drop is not taken without its manifest "
                        "(is the upload complete?)", file="manifest.csv")
    table = open_table(path, ("propertyName", "value"))
    props: dict[str, tuple[str, int]] = {}
    for line, (prop, value) in table.rows:
        prop, value = prop.strip(), value.strip()
        if prop in props and props[prop][0] != value:
            raise DropError(f"property '{prop}' is given twice with different values (lines "
                            f"{props[prop][1]} and {line})", file=table.file, line=line, column="value")
        props.setdefault(prop, (value, line))
    problems.extend(table.problems)

    version, vline = props.get("oneroster.version", ("", None))
    if version not in VERSIONS:
        raise DropError(f"oneroster.version is '{version}': only 1.1 and 1.2 are read",
                        file=table.file, line=vline, column="value")
    modes = {}
    for stem in _SPEC[version]:
        value, line = props.get(f"file.{stem}", ("", None))
        mode = value.lower()
        if line is None:
            mode = "absent"
            if find_file(folder, f"{stem}.csv") is not None:
                problems.append(Problem(code="manifest_missing_entry", severity="warning", file=table.file,
                                        message=f"{stem}.csv is in the drop but the manifest has no "
                                                f"file.{stem} row: the file is ignored"))
        elif mode not in MODES:
            raise DropError(f"file.{stem} is '{value}': it must be bulk, delta or absent",
                            file=table.file, line=line, column="value")
        modes[stem] = mode
    for prop, (value, line) in props.items():  # files we do not read: a bad value only earns a warning
        if prop.startswith("file.") and prop[5:] not in modes and value.lower() not in MODES:
            problems.append(Problem(code="manifest_value", severity="warning", file=table.file, line=line,
                                    field="value", message=f"{prop} is '{value}' (not bulk, delta or "
                                    f"absent); this reader does not use that file"))
    for stem, mode in modes.items():
        if mode == "absent" and find_file(folder, f"{stem}.csv") is not None and f"file.{stem}" in props:
            problems.append(Problem(code="file_ignored", severity="warning", file=f"{stem}.csv",
                                    message=f"the manifest says file.{stem} is absent, so {stem}.csv "
                                            f"is ignored"))
    return Manifest(version=version, modes=modes, file=table.file)


# ------------------------------------------------------------------------------------------ shared rows

@dataclass(slots=True)
class _Drop:
    """What one read has learnt so far; every stage adds to it."""

    manifest: Manifest
    problems: list[Problem] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # stem -> file name as found
    orgs: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (type lowered, parent id)
    school_of: dict[str, str | None] = field(default_factory=dict)  # org id -> its school (memo)
    sessions: set[str] = field(default_factory=set)
    courses: set[str] = field(default_factory=set)
    classes: dict[str, ClassroomRecord] = field(default_factory=dict)
    births: dict[str, tuple[str, int]] = field(default_factory=dict)  # user id -> (birthDate, line)
    # user id -> [(primary?, role, org id, line, deleted?)], primary roles first
    roles: dict[str, list[tuple[bool, str, str, int, bool]]] = field(default_factory=dict)
    kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)  # user id -> kinds taken
    users_seen: set[str] = field(default_factory=set)  # every sourcedId users.csv holds, taken or not
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)  # stem -> id -> line of the bad row
    batch: RosterBatch = field(default_factory=lambda: RosterBatch(source=SOURCE))

    def bulk(self, stem: str) -> bool:
        return self.manifest.modes.get(stem) == "bulk"

    def problem(self, code: str, message: str, *, stem: str, line: int | None = None,
                record: str | None = None, field: str | None = None, severity: str = "error") -> None:
        self.problems.append(Problem(code=code, message=message, severity=severity,
                                     file=self.files.get(stem, f"{stem}.csv"), line=line, record=record,
                                     field=field))

    def reject(self, stem: str, sid: str, line: int) -> None:
        self.rejected.setdefault(stem, {})[sid] = line


def _id_rows(drop: _Drop, stem: str, table: Table, shared: bool = True):
    """Rows that pass the checks every OneRoster file shares: (line, sourcedId, deleted, values).

    The first three values are sourcedId, status, dateLastModified. A blank or duplicate sourcedId or a
    status other than active/tobedeleted is an error and the row is not yielded. ``shared`` (see below) is
    off for files whose ids nothing else names (enrollments): interning millions of ids used once would
    only grow the interpreter's table of interned strings, which never shrinks (measured: 3.7 MB kept
    after a 10,000-student sync, most of it enrollment ids).
    """
    bulk = drop.bulk(stem)
    seen: dict[str, int] = {}
    # An export stamps most rows with one of a few times (often a single one): each is checked once.
    stamp_ok = Memo(lambda stamp: is_iso_datetime(stamp.strip()))
    for line, values in table.rows:
        # Interned: a sourcedId comes back in every file that names it (a student's in six enrollments
        # and their guardians' rows); one shared string instead of one per mention saves a tenth of a
        # large drop's memory, and makes the sync's lookups by id compare by identity.
        sid = intern(values[0].strip()) if shared else values[0].strip()
        if not sid:
            drop.problem("missing_value", "sourcedId is blank; the row is skipped", stem=stem, line=line,
                         field="sourcedId")
            continue
        if sid in seen:
            drop.problem("duplicate_id", f"sourcedId {sid} is also on line {seen[sid]}; this row is "
                         f"skipped", stem=stem, line=line, record=sid, field="sourcedId")
            continue
        seen[sid] = line
        status = values[1]
        if status == "active" or (bulk and not status):
            deleted = False
        elif status == "tobedeleted":
            deleted = True
        else:
            deleted = _slow_status(drop, stem, line, sid, status.strip().lower())
            if deleted is None:
                drop.reject(stem, sid, line)
                continue
        modified = values[2]
        if modified and not stamp_ok[modified]:
            drop.problem("invalid_date", f"dateLastModified '{modified}' is not an ISO 8601 date-time "
                         f"(e.g. 2023-05-01T18:25:43Z); the row is used", stem=stem, line=line, record=sid,
                         field="dateLastModified", severity="warning")
        elif not modified and not bulk:
            drop.problem("missing_value", "dateLastModified is blank in a delta file; the row is used",
                         stem=stem, line=line, record=sid, field="dateLastModified", severity="warning")
        yield line, sid, deleted, values
    drop.problems.extend(table.problems)


def _slow_status(drop: _Drop, stem: str, line: int, sid: str, status: str) -> bool | None:
    if status in ("active", "tobedeleted"):  # only the case differed
        return status == "tobedeleted"
    if not status:
        drop.problem("invalid_status", "status is blank in a delta file (active or tobedeleted is "
                     "required); the row is skipped", stem=stem, line=line, record=sid, field="status")
    else:
        drop.problem("invalid_status", f"status '{status}' is not active or tobedeleted; the row is "
                     f"skipped", stem=stem, line=line, record=sid, field="status")
    return None


def _required(drop: _Drop, stem: str, line: int, sid: str, **values: str) -> bool:
    """True when every named value is non-blank; else one error naming the first blank one."""
    for name, value in values.items():
        if not value.strip():
            drop.problem("missing_value", f"{name} is blank; the row is skipped", stem=stem, line=line,
                         record=sid, field=name)
            drop.reject(stem, sid, line)
            return False
    return True


def _dates(drop: _Drop, stem: str, line: int, sid: str, severity: str, **values: str) -> bool:
    ok = True
    for name, value in values.items():
        if value.strip() and not is_iso_date(value.strip()):
            ok = False
            used = "the row is used" if severity == "warning" else "the row is skipped"
            drop.problem("invalid_date", f"{name} '{value}' is not a YYYY-MM-DD date; {used}", stem=stem,
                         line=line, record=sid, field=name, severity=severity)
    return ok


# --------------------------------------------------------------------------------------------- the files

def _read_orgs(drop: _Drop, table: Table) -> None:
    parents = []
    for line, sid, deleted, (_, _, _, name, org_type, identifier, parent) in _id_rows(drop, "orgs", table):
        org_type = org_type.strip().lower()
        if not deleted and not _required(drop, "orgs", line, sid, name=name, type=org_type):
            continue
        drop.orgs[sid] = (org_type, parent.strip())
        if parent.strip():
            parents.append((line, sid, parent.strip()))
        # a delta's tobedeleted row may leave type blank: it may still be a school the directory holds
        if org_type == "school" or (deleted and not org_type):
            drop.batch.schools.append(SchoolRecord(external_id=sid, name=name.strip(),
                                                   school_number=identifier.strip() or None, deleted=deleted))
    if drop.bulk("orgs"):
        for line, sid, parent in parents:
            if parent not in drop.orgs:
                drop.problem("unknown_reference", f"parentSourcedId {parent} is not in orgs.csv; the org "
                             f"is used without its parent", stem="orgs", line=line, record=sid,
                             field="parentSourcedId", severity="warning")


def _school(drop: _Drop, org_id: str) -> str | None:
    """The school an org is or belongs to, or None. An org this drop does not hold is trusted as a
    school unless orgs.csv is bulk (then it cannot exist)."""
    if org_id in drop.school_of:
        return drop.school_of[org_id]
    found, current, seen = None, org_id, set()
    while current and current not in seen:
        seen.add(current)
        org = drop.orgs.get(current)
        if org is None:
            if not drop.bulk("orgs") and current not in drop.rejected.get("orgs", ()):
                found = current
            break
        if org[0] == "school":
            found = current
            break
        current = org[1]
    drop.school_of[org_id] = found
    return found


def _why_no_school(drop: _Drop, org_ids: list[str]) -> str:
    if not org_ids:
        return "it names no org"
    described = []
    for org_id in org_ids:
        org = drop.orgs.get(org_id)
        if org is None:
            described.append(f"{org_id} is not in orgs.csv")
        else:
            described.append(f"{org_id} is a {org[0]} with no school above it")
    return "; ".join(described)


def _read_sessions(drop: _Drop, table: Table) -> None:
    for line, sid, deleted, (_, _, _, title, kind, start, end, year) in _id_rows(
            drop, "academicSessions", table):
        drop.sessions.add(sid)
        if deleted:
            continue
        if not _required(drop, "academicSessions", line, sid, title=title, type=kind, startDate=start,
                         endDate=end, schoolYear=year):
            continue
        if kind.strip().lower() not in _SESSION_TYPES:
            drop.problem("invalid_value", f"type '{kind}' is not gradingPeriod, semester, schoolYear or "
                         f"term", stem="academicSessions", line=line, record=sid, field="type")
        _dates(drop, "academicSessions", line, sid, "error", startDate=start, endDate=end)
        if not re.fullmatch(r"\d{4}", year.strip()):
            drop.problem("invalid_value", f"schoolYear '{year}' is not a four-digit year",
                         stem="academicSessions", line=line, record=sid, field="schoolYear")


def _read_courses(drop: _Drop, table: Table) -> None:
    for line, sid, deleted, (_, _, _, title, org) in _id_rows(drop, "courses", table):
        if deleted or _required(drop, "courses", line, sid, title=title, orgSourcedId=org):
            drop.courses.add(sid)


def _read_classes(drop: _Drop, table: Table) -> None:
    for line, sid, deleted, (_, _, _, title, course, _type, school, terms) in _id_rows(drop, "classes", table):
        school = school.strip()
        if not deleted and not _required(drop, "classes", line, sid, title=title, schoolSourcedId=school):
            continue
        school_id = _school(drop, school) if school else None
        if school_id is None and not deleted:
            drop.problem("no_school", f"schoolSourcedId {school} is not a school ("
                         f"{_why_no_school(drop, [school])}); the class is skipped", stem="classes",
                         line=line, record=sid, field="schoolSourcedId")
            drop.reject("classes", sid, line)
            continue
        course = course.strip()
        if course and drop.bulk("courses") and course not in drop.courses:
            drop.problem("unknown_reference", f"courseSourcedId {course} is not in courses.csv; the class "
                         f"is used", stem="classes", line=line, record=sid, field="courseSourcedId",
                         severity="warning")
        if drop.bulk("academicSessions"):
            unknown = [t for t in split_list(terms) if t not in drop.sessions]
            if unknown:
                drop.problem("unknown_reference", f"termSourcedIds {', '.join(unknown)} not in "
                             f"academicSessions.csv; the class is used", stem="classes", line=line,
                             record=sid, field="termSourcedIds", severity="warning")
        record = ClassroomRecord(external_id=sid, school_id=school_id or school, name=title.strip(),
                                 deleted=deleted)
        drop.classes[sid] = record
        drop.batch.classrooms.append(record)


def _read_demographics(drop: _Drop, table: Table) -> None:
    for line, sid, deleted, (_, _, _, birth) in _id_rows(drop, "demographics", table):
        birth = birth.strip()
        if deleted or not birth:
            continue
        if not is_iso_date(birth):
            # the value is a birth date: it stays out of the message
            drop.problem("invalid_date", "birthDate is not a YYYY-MM-DD date; this row is not used and "
                         "the student's birth date is left blank", stem="demographics", line=line,
                         record=sid, field="birthDate")
            continue
        drop.births[sid] = (birth, line)


def _read_roles(drop: _Drop, table: Table) -> None:
    """1.2 roles.csv: who is what, where. Read before users.csv so a user row finds its roles."""
    for line, sid, deleted, (_, _, _, user, role_type, role, org, begin, end) in _id_rows(drop, "roles", table):
        # a role being removed still tells what a user being removed was (see _people)
        if not (user.strip() and role.strip() and org.strip()) and not _required(
                drop, "roles", line, sid, userSourcedId=user, role=role, orgSourcedId=org):
            continue
        role_key = role.strip().lower()
        if role_key not in _ROLE_KIND:
            drop.problem("invalid_value", f"role '{role}' is not a OneRoster 1.2 role; the row is skipped",
                         stem="roles", line=line, record=sid, field="role")
            continue
        if role_type.strip().lower() not in ("primary", "secondary"):
            drop.problem("invalid_value", f"roleType '{role_type}' is not primary or secondary; the role "
                         f"is used as secondary", stem="roles", line=line, record=sid, field="roleType",
                         severity="warning")
        if begin or end:
            _dates(drop, "roles", line, sid, "warning", beginDate=begin, endDate=end)
        drop.roles.setdefault(user.strip(), []).append(
            (role_type.strip().lower() == "primary", role_key, org.strip(), line, deleted))
    for user_roles in drop.roles.values():
        user_roles.sort(key=lambda r: not r[0])  # primary first, file order otherwise


@dataclass(slots=True)
class _Person:
    """A users.csv row reduced to what the records need, whatever the version."""

    line: int
    sid: str
    deleted: bool
    roles: list[tuple[str, str]]  # (role lowered, org id); 1.2: primary roles first
    orgs: list[str]  # where the user belongs, in the order the source gives (1.2: primaryOrg first)
    primary_org: str  # 1.2 primaryOrgSourcedId, else ""
    given: str
    family: str
    identifier: str
    email: str
    sms: str
    phone: str
    agents: str
    grades: str


def _people(drop: _Drop, table: Table):
    version = drop.manifest.version
    for line, sid, deleted, values in _id_rows(drop, "users", table):
        drop.users_seen.add(sid)
        if version == "1.1":
            (_, _, _, _enabled, orgs, role, _username, given, family,
             identifier, email, sms, phone, agents, grades) = values
            org_ids = split_list(orgs)
            roles = [(role.strip().lower(), org) for org in org_ids] or [(role.strip().lower(), "")]
            primary_org = ""
        else:
            (_, _, _, _enabled, _username, given, family,
             identifier, email, sms, phone, agents, grades, primary_org) = values
            taken = drop.roles.get(sid, [])
            roles = [(role, org) for _, role, org, _, gone in taken if not gone]
            if deleted and not roles:  # a user leaving may take its roles with it
                roles = [(role, org) for _, role, org, _, _ in taken]
            if not roles and deleted:
                # Nothing says what it was. Losing a deletion would leave a departed person able to
                # receive messages, so it is deleted as whichever kind the directory holds.
                drop.problem("no_role", "the user is tobedeleted but this drop has no role for it; it is "
                             "deleted as whichever student, teacher or guardian the directory holds",
                             stem="users", line=line, record=sid, field="role", severity="warning")
                roles = [("student", ""), ("teacher", ""), ("parent", "")]
            elif not roles:
                why = ("roles.csv has no active role for this user" if drop.bulk("roles")
                       else "this drop's roles.csv has no active role for this user, so its kind is unknown")
                drop.problem("no_role", f"{why}; the user is skipped", stem="users", line=line, record=sid,
                             field="role")
                drop.reject("users", sid, line)
                continue
            primary_org = primary_org.strip()
            org_ids = ([primary_org] if primary_org else []) + [org for _, org in roles]
        # Names repeat from family to family: shared strings, like ids (see _id_rows).
        yield _Person(line, sid, deleted, roles, org_ids, primary_org, intern(given.strip()), intern(family.strip()),
                      identifier.strip(), email.strip(), sms.strip(), phone.strip(), agents, grades)


def _read_users(drop: _Drop, table: Table) -> tuple[list[_Person], list[tuple[str, str, int, str]]]:
    """Students and teachers become records at once; guardians wait for their links. Returns the
    guardians and the agent pairs (student, guardian, line, side that named them)."""
    guardians: list[_Person] = []
    pairs: list[tuple[str, str, int, str]] = []
    for person in _people(drop, table):
        kinds = _kinds(drop, person)
        if kinds is None:
            drop.reject("users", person.sid, person.line)
            continue
        if not kinds:
            continue  # systemAdministrator only
        if (not person.deleted and not (person.given and person.family)
                and not _required(drop, "users", person.line, person.sid, givenName=person.given,
                                  familyName=person.family)):
            continue
        taken = []
        if "student" in kinds and _student(drop, person):
            taken.append("student")
            for agent in split_list(person.agents):
                pairs.append((person.sid, agent, person.line, "student"))
        if ("teacher" in kinds or "staff" in kinds) and _teacher(drop, person, kinds):
            taken.append("teacher")
        if "guardian" in kinds:
            taken.append("guardian")
            guardians.append(person)
            for agent in split_list(person.agents):
                pairs.append((agent, person.sid, person.line, "guardian"))
        if taken:
            drop.kinds[person.sid] = tuple(taken)
        else:
            drop.reject("users", person.sid, person.line)
    return guardians, pairs


def _kinds(drop: _Drop, person: _Person) -> list[str] | None:
    """The kinds of record a user's roles ask for ([] for a systemAdministrator), or None after a problem."""
    roles = person.roles
    if len(roles) == 1:  # the common case, kept cheap: one role (1.1 always gives one)
        kind = _ROLE_KIND.get(roles[0][0], "?")
        if kind != "?":
            return [kind] if kind else []
    kinds: list[str] = []
    for role, _org in roles:
        if not role:
            drop.problem("missing_value", "role is blank; the user is skipped", stem="users",
                         line=person.line, record=person.sid, field="role")
            return None
        if role not in _ROLE_KIND:
            drop.problem("invalid_value", f"role '{role}' is not a OneRoster role; the user is skipped",
                         stem="users", line=person.line, record=person.sid, field="role")
            return None
        kind = _ROLE_KIND[role]
        if kind and kind not in kinds:
            kinds.append(kind)
    return kinds


def _student(drop: _Drop, person: _Person) -> bool:
    if drop.manifest.version == "1.2":
        candidates = ([person.primary_org] if person.primary_org else []) + [
            org for role, org in person.roles if role == "student"]
    else:
        candidates = person.orgs
    school = None
    memo = drop.school_of
    for org in candidates:
        school = memo[org] if org in memo else _school(drop, org)
        if school:
            break
    if school is None and not person.deleted:
        drop.problem("no_school", f"the student belongs to no school "
                     f"({_why_no_school(drop, list(dict.fromkeys(candidates)))}); "
                     f"the student is skipped", stem="users", line=person.line, record=person.sid,
                     field="orgSourcedIds" if drop.manifest.version == "1.1" else "orgSourcedId")
        return False
    birth = drop.births.get(person.sid)
    grades = [intern(grade) for grade in split_list(person.grades)]
    drop.batch.students.append(_new_student(  # external_id, school_id, names, number, birth date, grade, deleted
        person.sid, school or "", person.given, person.family, person.identifier or None,
        birth[0] if birth else None, grades[0] if grades else None, person.deleted))
    return True


def _teacher(drop: _Drop, person: _Person, kinds: list[str]) -> bool:
    staff_orgs = [org for role, org in person.roles if _ROLE_KIND.get(role) in ("teacher", "staff") and org]
    schools, unknown = [], []
    for org in dict.fromkeys(staff_orgs):
        school = _school(drop, org)
        if school is None:
            unknown.append(org)
        elif school not in schools:
            schools.append(school)
    if unknown and not person.deleted:
        who = "teacher" if "teacher" in kinds else "staff member"
        drop.problem("no_school", f"orgs {', '.join(unknown)} are not schools "
                     f"({_why_no_school(drop, unknown)}); the {who} is kept without them",
                     stem="users", line=person.line, record=person.sid, severity="warning",
                     field="orgSourcedIds" if drop.manifest.version == "1.1" else "orgSourcedId")
    drop.batch.teachers.append(TeacherRecord(
        external_id=person.sid, given_name=person.given, family_name=person.family,
        email=person.email or None, school_ids=tuple(schools),
        role="teacher" if "teacher" in kinds else "staff", deleted=person.deleted))
    return True


def _link_guardians(drop: _Drop, guardians: list[_Person], pairs: list[tuple[str, str, int, str]]) -> None:
    """Turn agentSourcedIds, from either side, into GuardianRecord.links, each pair once."""
    users_bulk = drop.bulk("users")
    rejected = drop.rejected.get("users", {})
    kinds = drop.kinds
    links: dict[str, dict[str, None]] = {}
    where: dict[tuple[str, str], tuple[int, str]] = {}  # (guardian, student) -> line and user that named it
    for student, guardian, line, side in pairs:
        named, holder = (guardian, student) if side == "student" else (student, guardian)
        if named == holder:  # see connectors/agent_links.py; a user with both roles says it twice
            if (holder, holder) not in where:
                where[(holder, holder)] = (line, holder)
                drop.problem("agent_self", self_message("agentSourcedIds"), stem="users", line=line, record=holder,
                             field="agentSourcedIds", severity="warning")
            continue
        if named in rejected:
            continue  # its own row's problem says why
        named_kinds = kinds.get(named)
        wanted = "guardian" if side == "student" else "student"
        if named_kinds is None:
            if users_bulk or side == "student":
                # a guardian outside this drop cannot carry the link: links live on GuardianRecord
                why = ("is not in users.csv" if users_bulk else
                       "is not in this delta's users.csv, so the link cannot be recorded now")
                drop.problem("unknown_reference", f"agentSourcedIds names {named}, who {why}; that link is "
                             f"ignored", stem="users", line=line, record=holder, field="agentSourcedIds",
                             severity="warning")
                continue
        elif wanted not in named_kinds:
            if fits_other_way(kinds.get(holder, ()), named_kinds, wanted):
                continue  # read the other way round, the same agent links the two
            expected = "parent/guardian/relative" if wanted == "guardian" else "student"
            drop.problem("agent_not_" + wanted, f"agentSourcedIds names {named}, a {'/'.join(named_kinds)}, "
                         f"not a {expected}; that link is ignored", stem="users", line=line, record=holder,
                         field="agentSourcedIds", severity="warning")
            continue
        links.setdefault(guardian, {})[student] = None
        where.setdefault((guardian, student), (line, holder))
    for a, b in mutual_pairs(links):
        del links[a][b], links[b][a]
        line, holder = where[(a, b)]
        drop.problem("agent_cycle", mutual_message(a, b, "agentSourcedIds"), stem="users", line=line,
                     record=holder, field="agentSourcedIds", severity="warning")
    for person in guardians:
        role = next(r for r, _ in person.roles if r in _GUARDIAN_ROLES)
        phone, phone_type = (person.sms, "cell") if person.sms else (person.phone or None, None)
        drop.batch.guardians.append(_new_guardian(  # external_id, names, email, phone, phone_type, links, deleted
            person.sid, person.given, person.family, person.email or None, phone, phone_type,
            tuple([_new_link(s, role, role) for s in links.get(person.sid, ())]), person.deleted))


def _check_orphans(drop: _Drop) -> None:
    """Rows of roles/demographics that name a user this bulk users.csv does not hold."""
    if not drop.bulk("users"):
        return
    users_seen = drop.users_seen | set(drop.rejected.get("users", ()))
    for sid, (_, line) in drop.births.items():
        if sid not in users_seen:
            drop.problem("unknown_reference", f"user {sid} is not in users.csv; the row is not used",
                         stem="demographics", line=line, record=sid, field="sourcedId", severity="warning")
    for user, user_roles in drop.roles.items():
        if user not in users_seen:
            drop.problem("unknown_reference", f"userSourcedId {user} is not in users.csv; its roles are "
                         f"not used", stem="roles", line=min(r[3] for r in user_roles), record=user,
                         field="userSourcedId", severity="warning")


def _read_enrollments(drop: _Drop, table: Table) -> None:
    classes_bulk, users_bulk = drop.bulk("classes"), drop.bulk("users")
    bad_classes, bad_users = drop.rejected.get("classes", {}), drop.rejected.get("users", {})
    kinds = drop.kinds
    out = drop.batch.enrollments
    roles = Memo(lambda role: intern(role.strip().lower()))  # as written -> as compared, once per spelling
    for line, sid, deleted, (_, _, _, cls, _school, user, role, begin, end) in _id_rows(
            drop, "enrollments", table, shared=False):
        cls, user = intern(cls.strip()), intern(user.strip())
        role = roles[role]
        if not (cls and user and role) and not _required(drop, "enrollments", line, sid,
                                                         classSourcedId=cls, userSourcedId=user, role=role):
            continue
        if role not in ("student", "teacher"):
            if role not in ("administrator", "proctor", "aide", "guardian", "parent", "relative"):
                drop.problem("invalid_value", f"role '{role}' is not an enrollment role; the row is skipped",
                             stem="enrollments", line=line, record=sid, field="role")
            continue  # other roles have no place in the directory's classes
        if cls not in drop.classes:
            if cls in bad_classes:
                drop.problem("rejected_reference", f"class {cls} was not taken (classes.csv line "
                             f"{bad_classes[cls]}); the enrollment is skipped", stem="enrollments", line=line,
                             record=sid, field="classSourcedId")
                continue
            if classes_bulk:
                drop.problem("unknown_reference", f"classSourcedId {cls} is not in classes.csv; the "
                             f"enrollment is skipped", stem="enrollments", line=line, record=sid,
                             field="classSourcedId")
                continue
        user_kinds = kinds.get(user)
        if user_kinds is None:
            if user in bad_users:
                drop.problem("rejected_reference", f"user {user} was not taken (users.csv line "
                             f"{bad_users[user]}); the enrollment is skipped", stem="enrollments", line=line,
                             record=sid, field="userSourcedId")
                continue
            if users_bulk:
                drop.problem("unknown_reference", f"userSourcedId {user} is not in users.csv; the "
                             f"enrollment is skipped", stem="enrollments", line=line, record=sid,
                             field="userSourcedId")
                continue
        elif (role == "student") != ("student" in user_kinds):
            drop.problem("role_mismatch", f"the enrollment says {role} but user {user} is a "
                         f"{'/'.join(user_kinds)}; the enrollment is skipped", stem="enrollments", line=line,
                         record=sid, field="role")
            continue
        if begin or end:
            _dates(drop, "enrollments", line, sid, "warning", beginDate=begin, endDate=end)
        out.append(_new_enrollment(cls, user, role, sid, deleted))


# Records by the hundred thousand: built positionally, through connectors/record_build.py's fast path.
_new_student, _new_guardian = maker(StudentRecord), maker(GuardianRecord)
_new_link, _new_enrollment = maker(GuardianLink), maker(EnrollmentRecord)

_READERS = {"orgs": _read_orgs, "academicSessions": _read_sessions, "courses": _read_courses,
            "classes": _read_classes, "demographics": _read_demographics, "roles": _read_roles,
            "enrollments": _read_enrollments}


# ------------------------------------------------------------------------------------------------- entry

def read_oneroster_drop(folder: Path, digests: dict[str, bytes] | None = None) -> RosterBatch:
    """Read a OneRoster CSV drop as its manifest describes it.

    Raises ``DropError`` (or its ``CsvFormatError``) when the drop cannot be taken whole: no manifest, a
    file the manifest declares is missing, an unreadable file, a header without a required column.
    Everything else becomes a ``Problem`` in the batch, with file, line, record and field.
    ``digests``, when given, receives each data file's content key (file name -> bytes), computed as
    its rows were read (connectors/sftp/content_key.py).
    """
    with paused_gc():
        return fit_batch(_read(Path(folder), digests), _FILES)


def _read(folder: Path, digests: dict[str, bytes] | None = None) -> RosterBatch:
    problems: list[Problem] = []
    manifest = read_manifest(folder, problems)
    drop = _Drop(manifest=manifest, problems=problems)
    version, modes = manifest.version, manifest.modes

    wanted = [stem for stem in _ORDER if modes.get(stem, "absent") != "absent"]
    missing = [stem for stem in wanted if find_file(folder, f"{stem}.csv") is None]
    if missing:
        names = ", ".join(f"{stem}.csv ({modes[stem]})" for stem in missing)
        raise DropError(f"the manifest declares {names} but the file is missing: the drop is not taken",
                        file=f"{missing[0]}.csv")
    if version == "1.2" and modes.get("users") != "absent" and modes.get("roles") == "absent":
        raise DropError("OneRoster 1.2 keeps users' roles in roles.csv, which the manifest says is "
                        "absent: users cannot be told apart", file="roles.csv")

    specs = []
    for stem in wanted:
        required, optional = _SPEC[version][stem]
        status_optional = () if modes[stem] == "delta" else _HEAD[1:]
        specs.append((find_file(folder, f"{stem}.csv"), _HEAD + required + optional,
                      set(status_optional) | set(optional)))
    # every header is checked before any row is read
    tables = dict(zip(wanted, open_tables(specs, hash_rows=digests is not None)))
    for stem, table in tables.items():
        drop.files[stem] = table.file

    guardians, pairs = [], []
    for stem in _ORDER:
        if stem not in tables:
            continue
        if stem == "users":
            guardians, pairs = _read_users(drop, tables[stem])
        else:
            _READERS[stem](drop, tables[stem])
        checkpoint("csv_file_parsed")
    _link_guardians(drop, guardians, pairs)
    _check_orphans(drop)
    if digests is not None:  # every table's rows were consumed above, so each digest is whole
        digests.update((table.file, table.digest.digest()) for table in tables.values() if table.digest)
    return _finish(drop)


def _finish(drop: _Drop) -> RosterBatch:
    batch, modes = drop.batch, drop.manifest.modes
    batch.mode = "delta" if "delta" in modes.values() else "full"
    complete = set()
    if modes.get("orgs") == "bulk":
        complete.add("schools")
    if modes.get("classes") == "bulk":
        complete.add("classrooms")
    if modes.get("users") == "bulk" and (drop.manifest.version == "1.1" or modes.get("roles") == "bulk"):
        complete.update(("students", "teachers", "guardians"))
    if modes.get("enrollments") == "bulk":
        complete.add("enrollments")
    batch.complete = frozenset(complete)
    order = {f"{stem}.csv".lower(): i for i, stem in enumerate(("manifest",) + _ORDER)}
    batch.problems = sorted(drop.problems, key=lambda p: (order.get((p.file or "").lower(), len(order)),
                                                          p.line or 0))
    return batch
