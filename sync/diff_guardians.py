"""Guardians in the diff (pure): one guardian per person, the district's contact rules, the
email-and-phone rule.

A source names a guardian once per student (Clever CSV: one students.csv row per contact), so records
are merged by identity first: the source id, else the normalized email, else the E.164 phone. Contacts
that cannot be used are reported, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.memo import Memo
from connectors.records import GuardianRecord
from directory.contacts import PAIR_REFUSED, ContactNormalizer
from directory.errors import InvalidInput
from sync.changes import DiffSettings

# Phone types that can receive a text message. Clever says Cell/Home/Work/Other; OneRoster has `sms`.
MOBILE_TYPES = {"cell", "mobile", "sms", "cellular", "cell phone", "mobile phone"}


@dataclass
class IncomingGuardian:
    key: str
    values: tuple  # (given_name, family_name, email, phone)
    links: dict[str, tuple] = field(default_factory=dict)  # student key -> (relationship, contact_type)
    deleted: bool = False


def _problem(code: str, message: str, record: str | None, field_name: str | None = None,
             severity: str = "warning") -> dict:
    out = {"code": code, "message": message, "severity": severity, "file": None, "line": None, "record": record}
    if field_name:
        out["field"] = field_name
    return {k: v for k, v in out.items() if v is not None}


def merge_guardians(records: list[GuardianRecord], settings: DiffSettings, known_students: set[str],
                    problems: list[dict], protected: set[str] | None = None,
                    contacts: ContactNormalizer | None = None) -> tuple[dict[str, IncomingGuardian], set[str]]:
    """Incoming guardians by key, and the keys explicitly deleted (a delta's tobedeleted).

    ``contacts`` normalizes emails and phones (the same answers as directory.contacts' functions); the
    diff passes one that knows the directory's numbers, so an unchanged number costs no parsing.
    """
    if contacts is None:
        contacts = ContactNormalizer(settings.phone_region)
    merged: dict[str, IncomingGuardian] = {}
    deleted: set[str] = set()
    excluded = settings.excluded_contact_types
    # contact type as the source spells it -> whether the district takes it
    taken = Memo(lambda contact_type: (contact_type or "").strip().lower() not in excluded)
    for rec in records:
        who = rec.external_id or "(no id)"
        links = [l for l in rec.links if taken[l.contact_type]]
        if rec.links and not links and not rec.deleted:
            kinds = sorted({(l.contact_type or "").lower() for l in rec.links})
            problems.append(_problem("excluded_contact_type",
                                     f"contact not added: its type ({', '.join(kinds)}) is excluded by the district",
                                     rec.external_id, "contact_type"))
            continue
        if len(links) < len(rec.links) and not rec.deleted:
            dropped = [l for l in rec.links if l not in links]
            problems.append(_problem("excluded_contact_type",
                                     f"guardian {who} not linked to student "
                                     f"{', '.join(l.student_id for l in dropped)}: its type "
                                     f"({', '.join(sorted({(l.contact_type or '').lower() for l in dropped}))}) "
                                     "is excluded by the district", rec.external_id, "contact_type"))
        email = phone = None
        try:
            email = contacts.email(rec.email)
        except InvalidInput as exc:
            problems.append(_problem("invalid_email", f"guardian {who}: {exc}", rec.external_id, "email"))
        if rec.phone and rec.phone_type and rec.phone_type.strip().lower() not in MOBILE_TYPES:
            problems.append(_problem("phone_not_mobile",
                                     f"guardian {who}: the phone is a {rec.phone_type.strip().lower()} number, which "
                                     "cannot receive text messages; not used", rec.external_id, "phone"))
        else:
            try:
                phone = contacts.phone(rec.phone)
            except InvalidInput as exc:
                problems.append(_problem("invalid_phone", f"guardian {who}: {exc}", rec.external_id, "phone"))
        key = rec.external_id or (f"email:{email}" if email else f"phone:{phone}" if phone else None)
        if rec.deleted:
            if key:
                deleted.add(key)
            continue
        if key is None or (email is None and phone is None):
            problems.append(_problem("guardian_no_contact",
                                     f"guardian {who} has no usable email or mobile number: not added; "
                                     "add one in the SIS", rec.external_id))
            if rec.external_id and protected is not None:
                # A contact typo in the SIS must not remove a guardian (who may have joined) and their links.
                protected.add(rec.external_id)
            continue
        incoming = merged.get(key)
        if incoming is None:
            incoming = merged[key] = IncomingGuardian(key, (rec.given_name.strip(), rec.family_name.strip(),
                                                            email, phone))
        elif incoming.values[2:] != (email, phone) and rec.external_id:
            problems.append(_problem("conflicting_guardian_rows",
                                     f"guardian {who} appears with different contact details; the first was used",
                                     rec.external_id))
        for link in links:
            if link.student_id not in known_students:
                problems.append(_problem("unknown_student",
                                         f"guardian {who} names student {link.student_id}, who is not in the roster",
                                         rec.external_id, "student"))
                continue
            incoming.links.setdefault(link.student_id, ((link.relationship or None), (link.contact_type or None)))
    for key, g in list(merged.items()):
        if not g.links:
            problems.append(_problem("guardian_without_student",
                                     f"guardian {key if not key.startswith(('email:', 'phone:')) else '(no id)'} "
                                     "is linked to no student in the roster: not added", None))
            del merged[key]
    _limit_per_student(merged, settings.max_guardians_per_student, problems)
    return merged, deleted


def _limit_per_student(merged: dict[str, IncomingGuardian], limit: int, problems: list[dict]) -> None:
    per_student: dict[str, list[str]] = {}
    for key, g in merged.items():
        for student in g.links:
            per_student.setdefault(student, []).append(key)
    for student, keys in per_student.items():
        if len(keys) <= limit:
            continue
        problems.append(_problem("too_many_guardians",
                                 f"student {student} has {len(keys)} guardians, more than the district's limit of "
                                 f"{limit}; the first {limit} were kept", student, "guardians"))
        for key in keys[limit:]:
            merged[key].links.pop(student, None)
    for key in [k for k, g in merged.items() if not g.links]:
        del merged[key]


def limit_with_existing(merged: dict[str, IncomingGuardian], deleted: set[str], links, limit: int,
                        problems: list[dict]) -> None:
    """The per-student limit for a delta, counting the guardians a student already has.

    A delta names only what changed, so ``_limit_per_student`` alone would let each night add guardians
    beyond the limit. Links the directory holds stay (a delta never removes them); new ones are kept
    while there is room, in the order the SIS gave them, and the rest reported.
    """
    existing: dict[str, set[str]] = {}
    for guardian_key, student in links:
        existing.setdefault(student, set()).add(guardian_key)
    new_links: dict[str, list[str]] = {}
    for key, g in merged.items():
        for student in g.links:
            if key not in existing.get(student, ()):
                new_links.setdefault(student, []).append(key)
    for student, keys in new_links.items():
        room = max(limit - len(existing.get(student, set()) - deleted), 0)
        if len(keys) <= room:
            continue
        problems.append(_problem("too_many_guardians",
                                 f"student {student} would have {len(existing.get(student, set()) - deleted) + len(keys)} "
                                 f"guardians, more than the district's limit of {limit}; "
                                 f"{'only the first ' + str(room) + ' new ones were' if room else 'no new one was'} added",
                                 student, "guardians"))
        for key in keys[room:]:
            merged[key].links.pop(student, None)
    linked = {guardian_key for keys in existing.values() for guardian_key in keys}
    for key in [k for k, g in merged.items() if not g.links and k not in linked]:
        del merged[key]  # a new guardian left with no student is not added


def account_conflict_message() -> str:
    return (f"{PAIR_REFUSED}: one of them already belongs to an account, so that account was linked instead; "
            "the parent adds the other contact in their account settings")
