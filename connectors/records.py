"""The normalized roster records every connector yields.

A connector's whole job is to turn its source (Clever JSON, OneRoster CSV or REST, Clever CSV) into these
plain values; it never touches the directory. The reconciler in ``sync/`` compares them with the directory.

Ids in records are the *source's* external ids (Clever ``id``, OneRoster ``sourcedId``, Clever CSV
``Student_id`` ...), never directory row ids. Names of fields follow the directory's vocabulary, not any
one source's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The kinds of record, in the order a sync applies them (parents before children).
KINDS = ("schools", "teachers", "classrooms", "students", "guardians", "enrollments")

# Source names as stored on a district and on every synced row.
SOURCES = ("oneroster-csv", "clever-csv", "clever", "classlink")


@dataclass(frozen=True, slots=True)
class SchoolRecord:
    external_id: str
    name: str
    school_number: str | None = None
    deleted: bool = False  # explicit deletion in a delta (OneRoster status=tobedeleted, Clever *.deleted)


@dataclass(frozen=True, slots=True)
class TeacherRecord:
    external_id: str
    given_name: str
    family_name: str
    email: str | None = None
    school_ids: tuple[str, ...] = ()
    role: str = "teacher"  # teacher | staff
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ClassroomRecord:
    external_id: str
    school_id: str
    name: str
    teacher_ids: tuple[str, ...] = ()  # teachers named on the class itself (Clever sections, Clever CSV)
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class StudentRecord:
    external_id: str
    school_id: str
    given_name: str
    family_name: str
    student_number: str | None = None
    birth_date: str | None = None  # ISO 8601 date, YYYY-MM-DD
    grade: str | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class GuardianLink:
    student_id: str
    relationship: str | None = None  # mother, father, guardian, grandparent, ... as the source says it
    contact_type: str | None = None  # parent | guardian | relative | emergency | family | ... (district may exclude some)


@dataclass(frozen=True, slots=True)
class GuardianRecord:
    """A parent, guardian or other contact of one or more students.

    ``external_id`` is None when the source gives the contact no id of its own (Clever CSV rows without
    ``Contact_sis_id``); the reconciler then keys the guardian by normalized email, else phone.
    Email and phone are as the source gave them; normalization happens in the directory layer.
    """

    external_id: str | None
    given_name: str
    family_name: str
    email: str | None = None
    phone: str | None = None
    phone_type: str | None = None  # cell | home | work | ... ; only mobile numbers can receive SMS
    links: tuple[GuardianLink, ...] = ()
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    classroom_id: str
    user_id: str
    role: str = "student"  # student | teacher
    external_id: str | None = None  # OneRoster enrollment sourcedId, when there is one
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """A per-row or per-file problem, reported to the school leader; never a crash of the run.

    ``severity`` is "error" when the row (or file) could not be used, "warning" when it was used with a
    caveat. ``line`` is the 1-based physical line in the file where the row starts (the header is line 1).
    """

    code: str
    message: str
    severity: str = "error"
    file: str | None = None
    line: int | None = None
    record: str | None = None
    field: str | None = None

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("code", "message", "severity", "file", "line", "record", "field")
                if getattr(self, k) is not None}


@dataclass(slots=True)
class RosterBatch:
    """Everything one pull produced.

    ``complete`` names the kinds for which this batch is the whole truth (a OneRoster bulk file, a full
    API pull that succeeded on every page). Only for those kinds may records that are absent be archived;
    a delta or a partial pull leaves it empty or partial.
    """

    source: str
    mode: str = "full"  # full | delta
    schools: list[SchoolRecord] = field(default_factory=list)
    teachers: list[TeacherRecord] = field(default_factory=list)
    classrooms: list[ClassroomRecord] = field(default_factory=list)
    students: list[StudentRecord] = field(default_factory=list)
    guardians: list[GuardianRecord] = field(default_factory=list)
    enrollments: list[EnrollmentRecord] = field(default_factory=list)
    complete: frozenset[str] = frozenset()
    problems: list[Problem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {kind: len(getattr(self, kind)) for kind in KINDS}


@dataclass(slots=True)
class Pull:
    """What an API connector's pull returns: the records, and the cursor to save with them.

    ``cursor`` is saved in the same transaction as the directory changes, so it never runs ahead of the
    data (Clever: the last event id; OneRoster REST: the time the pull started, for the next
    ``dateLastModified`` filter). ``notes`` tell the report what happened, e.g. "the saved event is older
    than Clever keeps events: a full pull was made".
    """

    batch: RosterBatch
    cursor: dict
    description: str
    notes: list[str] = field(default_factory=list)
    requests: int = 0
