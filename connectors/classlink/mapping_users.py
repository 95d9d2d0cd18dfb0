"""OneRoster REST users -> students, teachers/staff and guardians (with their links). Pure.

The rules are the CSV reader's (connectors/sftp/oneroster_csv.py), so a roster gives the same records
whether it arrives as a drop or over REST:
- Roles: student -> student; teacher -> teacher; parent, guardian, relative -> guardian; administrator,
  aide, counselor, principal, proctor, siteAdministrator, districtAdministrator -> staff;
  systemAdministrator -> no record. An unknown or missing role is an error and the user is skipped.
- A student's school: the first of its orgs (1.2: primaryOrg, then the orgs of its student roles,
  primary first) that is a school or has one above it; none is an error (the directory files students
  by school). A teacher keeps the schools of its teacher/staff orgs.
- Guardians are linked by ``agents`` from either side (a student's agents are its parents, a parent's
  agents its children), each pair once; relationship and contact type are the guardian's role. A
  guardian's ``sms`` is a mobile number (phone_type "cell"), else ``phone`` with an unknown type.

Facts relied on (REST JSON): 1.1 users carry ``role`` (one) and ``orgs`` (GUIDRefs); 1.2 users carry
``roles`` [{roleType: primary|secondary, role, org: GUIDRef, ...}] and ``primaryOrg``; both carry
``agents`` as GUIDRefs {"sourcedId": ..., "type": "user"}, ``grades`` (a list), ``identifier``,
``email``, ``sms``, ``phone``, ``givenName``, ``familyName``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from connectors.classlink.mapping_rows import Roster, ref, refs, required, rows, school, strings, text, why_no_school
from connectors.agent_links import fits_other_way, mutual_message, mutual_pairs, self_message
from connectors.records import GuardianLink, GuardianRecord, StudentRecord, TeacherRecord

# The CSV reader's table (connectors.sftp.oneroster_csv._ROLE_KIND); a test keeps the two equal.
ROLE_KIND = {
    "student": "student", "teacher": "teacher",
    "parent": "guardian", "guardian": "guardian", "relative": "guardian",
    "administrator": "staff", "aide": "staff", "counselor": "staff", "principal": "staff",
    "proctor": "staff", "siteadministrator": "staff", "districtadministrator": "staff",
    "systemadministrator": None,
}
GUARDIAN_ROLES = frozenset(("parent", "guardian", "relative"))


@dataclass(slots=True)
class Person:
    """A user reduced to what the records need, whatever the version."""

    sid: str
    deleted: bool
    roles: list[tuple[str, str]]  # (role lowered, org id); 1.2: primary roles first
    orgs: list[str]  # where the user belongs, in the source's order (1.2: primaryOrg first)
    primary_org: str
    given: str
    family: str
    identifier: str
    email: str
    sms: str
    phone: str
    agents: list[str]
    grades: list[str]


def people(roster: Roster, items: Iterable[Any]):
    for sid, deleted, obj in rows(roster, "users", items):
        if roster.version == "1.1":
            org_ids = refs(obj.get("orgs"))
            role = text(obj, "role").lower()
            roles = [(role, org) for org in org_ids] or [(role, "")]
            primary_org = ""
        else:
            roles = _roles_12(obj.get("roles"))
            if not roles and deleted:
                # Nothing says what it was. Losing a deletion would leave a departed person able to receive
                # messages, so it is deleted as whichever kind the directory holds (as the CSV reader does).
                roster.problem("no_role", "the user is tobedeleted and has no roles; it is deleted as whichever "
                               "student, teacher or guardian the directory holds", kind="users", record=sid,
                               field="roles", severity="warning")
                roles = [("student", ""), ("teacher", ""), ("parent", "")]
            elif not roles:
                roster.problem("no_role", "the user has no roles; it is skipped", kind="users", record=sid,
                               field="roles")
                roster.reject("users", sid)
                continue
            primary_org = ref(obj.get("primaryOrg"))
            org_ids = ([primary_org] if primary_org else []) + [org for _, org in roles]
        yield Person(sid, deleted, roles, org_ids, primary_org, text(obj, "givenName"), text(obj, "familyName"),
                     text(obj, "identifier"), text(obj, "email"), text(obj, "sms"), text(obj, "phone"),
                     refs(obj.get("agents")), strings(obj.get("grades")))


def _roles_12(value: Any) -> list[tuple[str, str]]:
    """1.2 roles as (role, org), primary ones first, the source's order otherwise."""
    if not isinstance(value, list):
        return []
    taken = [(text(r, "roleType").lower() != "primary", text(r, "role").lower(), ref(r.get("org")))
             for r in value if isinstance(r, Mapping)]
    return [(role, org) for _, role, org in sorted(taken, key=lambda r: r[0])]


def read_users(roster: Roster, items: Iterable[Any]) -> tuple[list[Person], list[tuple[str, str, str]]]:
    """Students and teachers become records at once; guardians wait for their links. Returns the
    guardians and the agent pairs (student, guardian, side that named them)."""
    guardians: list[Person] = []
    pairs: list[tuple[str, str, str]] = []
    for person in people(roster, items):
        kinds = _kinds(roster, person)
        if kinds is None:
            roster.reject("users", person.sid)
            continue
        if not kinds:
            continue  # systemAdministrator only
        if not person.deleted and not required(roster, "users", person.sid, givenName=person.given,
                                               familyName=person.family):
            continue
        taken = []
        if "student" in kinds and _student(roster, person):
            taken.append("student")
            pairs.extend((person.sid, agent, "student") for agent in person.agents)
        if "teacher" in kinds or "staff" in kinds:
            _teacher(roster, person, kinds)
            taken.append("teacher")
        if "guardian" in kinds:
            taken.append("guardian")
            guardians.append(person)
            pairs.extend((agent, person.sid, "guardian") for agent in person.agents)
        if taken:
            roster.kinds[person.sid] = tuple(taken)
        else:
            roster.reject("users", person.sid)
    return guardians, pairs


def _kinds(roster: Roster, person: Person) -> list[str] | None:
    kinds: list[str] = []
    for role, _org in person.roles:
        if not role:
            roster.problem("missing_value", "role is missing; the user is skipped", kind="users",
                           record=person.sid, field="role")
            return None
        if role not in ROLE_KIND:
            roster.problem("invalid_value", f"role '{role}' is not a OneRoster role; the user is skipped",
                           kind="users", record=person.sid, field="role")
            return None
        kind = ROLE_KIND[role]
        if kind and kind not in kinds:
            kinds.append(kind)
    return kinds


def _student(roster: Roster, person: Person) -> bool:
    if roster.version == "1.2":
        candidates = ([person.primary_org] if person.primary_org else []) + [
            org for role, org in person.roles if role == "student"]
    else:
        candidates = person.orgs
    found = None
    for org in candidates:
        found = school(roster, org)
        if found:
            break
    if found is None and not person.deleted:
        roster.problem("no_school", f"the student belongs to no school "
                       f"({why_no_school(roster, list(dict.fromkeys(candidates)))}); the student is skipped",
                       kind="users", record=person.sid, field="orgs" if roster.version == "1.1" else "roles")
        return False
    roster.batch.students.append(StudentRecord(
        external_id=person.sid, school_id=found or "", given_name=person.given, family_name=person.family,
        student_number=person.identifier or None, birth_date=None,
        grade=person.grades[0] if person.grades else None, deleted=person.deleted))
    return True


def _teacher(roster: Roster, person: Person, kinds: list[str]) -> None:
    staff_orgs = [org for role, org in person.roles if ROLE_KIND.get(role) in ("teacher", "staff") and org]
    schools, unknown = [], []
    for org in dict.fromkeys(staff_orgs):
        found = school(roster, org)
        if found is None:
            unknown.append(org)
        elif found not in schools:
            schools.append(found)
    if unknown and not person.deleted:
        who = "teacher" if "teacher" in kinds else "staff member"
        roster.problem("no_school", f"orgs {', '.join(unknown)} are not schools ({why_no_school(roster, unknown)}); "
                       f"the {who} is kept without them", kind="users", record=person.sid, severity="warning",
                       field="orgs" if roster.version == "1.1" else "roles")
    roster.batch.teachers.append(TeacherRecord(
        external_id=person.sid, given_name=person.given, family_name=person.family, email=person.email or None,
        school_ids=tuple(schools), role="teacher" if "teacher" in kinds else "staff", deleted=person.deleted))


def link_guardians(roster: Roster, guardians: list[Person], pairs: list[tuple[str, str, str]]) -> None:
    """Turn agents, from either side, into GuardianRecord.links, each pair once."""
    links: dict[str, dict[str, None]] = {}
    named_by: dict[tuple[str, str], str] = {}  # (guardian, student) -> the user whose agents named it
    for student, guardian, side in pairs:
        named, holder = (guardian, student) if side == "student" else (student, guardian)
        if named == holder:  # see connectors/agent_links.py; a user with both roles says it twice
            if (holder, holder) not in named_by:
                named_by[(holder, holder)] = holder
                roster.problem("agent_self", self_message("agents"), kind="users",
                               record=holder, field="agents", severity="warning")
            continue
        if roster.is_rejected("users", named):
            continue  # its own problem says why
        named_kinds = roster.kinds.get(named)
        wanted = "guardian" if side == "student" else "student"
        if named_kinds is None:
            if roster.full or side == "student":
                # a guardian outside this pull cannot carry the link: links live on GuardianRecord
                why = ("is not among the users" if roster.full else
                       "is not in this delta's users, so the link cannot be recorded now")
                roster.problem("unknown_reference", f"agents names {named}, who {why}; that link is ignored",
                               kind="users", record=holder, field="agents", severity="warning")
                continue
        elif wanted not in named_kinds:
            if fits_other_way(roster.kinds.get(holder, ()), named_kinds, wanted):
                continue  # read the other way round, the same agent links the two
            expected = "parent/guardian/relative" if wanted == "guardian" else "student"
            roster.problem("agent_not_" + wanted, f"agents names {named}, a {'/'.join(named_kinds)}, not a "
                           f"{expected}; that link is ignored", kind="users", record=holder, field="agents",
                           severity="warning")
            continue
        links.setdefault(guardian, {})[student] = None
        named_by.setdefault((guardian, student), holder)
    for a, b in mutual_pairs(links):
        del links[a][b], links[b][a]
        roster.problem("agent_cycle", mutual_message(a, b, "agents"), kind="users", record=named_by[(a, b)],
                       field="agents", severity="warning")
    for person in guardians:
        role = next(r for r, _ in person.roles if r in GUARDIAN_ROLES)
        phone, phone_type = (person.sms, "cell") if person.sms else (person.phone or None, None)
        roster.batch.guardians.append(GuardianRecord(
            external_id=person.sid, given_name=person.given, family_name=person.family,
            email=person.email or None, phone=phone, phone_type=phone_type,
            links=tuple(GuardianLink(student_id=s, relationship=role, contact_type=role)
                        for s in links.get(person.sid, ())),
            deleted=person.deleted))
