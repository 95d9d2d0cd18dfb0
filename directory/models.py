"""The directory's tables (SQLAlchemy 2).

Every row that a sync can create carries ``source`` and ``external_id``: a synced record is keyed by
(district, source, external id), never by name or email. ``source`` is NULL for rows made by hand.
Rows are archived (``status='archived'``), never deleted, so a record that comes back is restored with
its history, and the audit log can always point at what it describes.

Dates of birth are kept as ISO strings (YYYY-MM-DD): they are compared and exported, never computed on,
and strings keep bulk inserts cheap on both databases.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations can refer to them on both SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACTIVE = "active"
ARCHIVED = "archived"
REMOVED = "removed"  # a guardian no longer linked to any student


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SourceKey:
    """Where a synced row came from; NULL source means made by hand in the platform."""

    source: Mapped[str | None] = mapped_column(String(32), default=None)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)


class District(Timestamps, Base):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # None: the district edits its directory by hand; otherwise one of connectors.records.SOURCES.
    source: Mapped[str | None] = mapped_column(String(32), default=None)
    # Connection settings of the source (paths, hosts, *names* of environment variables that hold
    # secrets). Never a secret itself.
    source_config: Mapped[dict] = mapped_column(JSON, default=dict)

    # Settings (directory/settings.py documents and validates each).
    default_channel: Mapped[str] = mapped_column(String(8), default="email")
    auto_invite: Mapped[bool] = mapped_column(Boolean, default=True)
    archive_threshold_pct: Mapped[int] = mapped_column(Integer, default=10)
    sync_manages_guardians: Mapped[bool] = mapped_column(Boolean, default=True)
    sync_updates_joined_contacts: Mapped[bool] = mapped_column(Boolean, default=False)
    excluded_contact_types: Mapped[list] = mapped_column(JSON, default=lambda: ["emergency"])
    max_guardians_per_student: Mapped[int] = mapped_column(Integer, default=6)
    phone_region: Mapped[str] = mapped_column(String(2), default="US")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule: Mapped[str | None] = mapped_column(String(100), default=None)
    # Days an archived student is kept before `rostersync retention` deletes them; None keeps them forever.
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)


class School(Timestamps, SourceKey, Base):
    __tablename__ = "schools"
    __table_args__ = (UniqueConstraint("district_id", "source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    school_number: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)


class Teacher(Timestamps, SourceKey, Base):
    __tablename__ = "teachers"
    __table_args__ = (UniqueConstraint("district_id", "source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    role: Mapped[str] = mapped_column(String(16), default="teacher")
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)


class Classroom(Timestamps, SourceKey, Base):
    __tablename__ = "classrooms"
    __table_args__ = (UniqueConstraint("district_id", "source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)


class ClassroomTeacher(Base):
    __tablename__ = "classroom_teachers"

    classroom_id: Mapped[int] = mapped_column(ForeignKey("classrooms.id"), primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id"), primary_key=True, index=True)
    source: Mapped[str | None] = mapped_column(String(32), default=None)


class Student(Timestamps, SourceKey, Base):
    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("district_id", "source", "external_id"),
        Index("ix_students_district_number", "district_id", "student_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    student_number: Mapped[str | None] = mapped_column(String(64), default=None)
    birth_date: Mapped[str | None] = mapped_column(String(10), default=None)
    grade: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Enrollment(Base):
    """A student's membership of a classroom."""

    __tablename__ = "enrollments"

    classroom_id: Mapped[int] = mapped_column(ForeignKey("classrooms.id"), primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True, index=True)
    source: Mapped[str | None] = mapped_column(String(32), default=None)


class Guardian(Timestamps, SourceKey, Base):
    """A parent or guardian who receives messages.

    ``state`` is ``pending`` while the guardian is only a bare email or number that was invited, and
    ``joined`` once they signed up: from then on the contact points belong to the parent's account,
    which they control (the sync changes them only if the district allows it).

    Each contact point has a delivery status: ``ok``, ``unreachable`` (with a reason: invalid, spam,
    inbox_full, not_engaged, blocked) or ``opted_out`` (SMS STOP).
    """

    __tablename__ = "guardians"
    __table_args__ = (
        UniqueConstraint("district_id", "source", "external_id"),
        Index("ix_guardians_district_email", "district_id", "email"),
        Index("ix_guardians_district_phone", "district_id", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    given_name: Mapped[str] = mapped_column(String(100), default="")
    family_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(320), default=None)  # normalized, lower case
    email_status: Mapped[str] = mapped_column(String(16), default="ok")
    email_status_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    phone: Mapped[str | None] = mapped_column(String(20), default=None)  # E.164
    phone_status: Mapped[str] = mapped_column(String(16), default="ok")
    phone_status_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | joined
    joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)  # active | removed


class GuardianLink(Base):
    __tablename__ = "guardian_links"

    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardians.id"), primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True, index=True)
    relationship: Mapped[str | None] = mapped_column(String(64), default=None)
    contact_type: Mapped[str | None] = mapped_column(String(32), default=None)
    source: Mapped[str | None] = mapped_column(String(32), default=None)


class AuditEntry(Base):
    """Who changed what, when, with the values before and after.

    ``actor_type`` is ``user`` (a staff member by hand), ``support`` (support staff, e.g. overriding a
    lock, with ``reason``) or ``sync`` (a sync run, with ``run_id``).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_district_at", "district_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), default=None)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer, default=None)
    before: Mapped[dict | None] = mapped_column(JSON, default=None)
    after: Mapped[dict | None] = mapped_column(JSON, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)


class SyncRun(Base):
    """One sync run of a district: what was asked, what happened, and its report.

    ``status``: running | succeeded | held (archives waiting for `rostersync approve`) | failed.
    The final status and the report are written in the same transaction as the directory changes, so a
    run that says succeeded has changed the directory, and one that says failed has not touched it.
    """

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_district_started", "district_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    source: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8), default="full")  # full | delta
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # manual | schedule | resync
    requested_by: Mapped[str | None] = mapped_column(String(200), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    host: Mapped[str | None] = mapped_column(String(200), default=None)  # host:pid that ran it
    report: Mapped[dict | None] = mapped_column(JSON, default=None)


class SyncState(Base):
    """Per district: the saved cursor and the lease that lets only one run apply at a time.

    The lease is a row update (``UPDATE ... WHERE holder IS NULL OR expires_at < now``), which both
    SQLite and PostgreSQL make atomic, so it holds across processes and machines.
    """

    __tablename__ = "sync_state"

    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), primary_key=True)
    cursor: Mapped[dict] = mapped_column(JSON, default=dict)
    lease_holder: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class TakenDrop(Base):
    """A file drop already applied, by content fingerprint, so the same drop is not applied twice."""

    __tablename__ = "taken_drops"
    __table_args__ = (UniqueConstraint("district_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"))
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Invitation(Base):
    """An invitation (or "you were added to a class" notice) to send, written in the same transaction as
    the change that caused it; the messaging relay sends it after the commit. The diff writes one invite
per guardian it creates, and one "added" notice per existing account it links to a new student.
    """

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardians.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="invite")  # invite | added (to a class)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | failed
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Messaging (messaging/outbox.py documents the states: queued | claimed | sent | unreachable |
    # in_doubt | failed | cancelled). The join code is random per invitation and kept on a resend, so
    # the parent can use any copy they received; the sync's bulk insert gets one per row from the default.
    join_code: Mapped[str] = mapped_column(String(16), default=lambda: new_join_code(), unique=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)  # host:pid:token of a relay
    claim_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)  # retry backoff
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # transient failures so far
    channel: Mapped[str | None] = mapped_column(String(8), default=None)  # the channel it went by
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    error: Mapped[str | None] = mapped_column(String(300), default=None)  # why not sent (no contact details)
    resends: Mapped[int] = mapped_column(Integer, default=0)
    skip_channels: Mapped[str | None] = mapped_column(String(16), default=None)  # failed for this message: "email,sms"


# -- messaging (issue 5) -----------------------------------------------------------------------------------


def new_join_code() -> str:
    """A random, unguessable join code per invitation (messaging/joincodes.py says how)."""
    from messaging.joincodes import new_join_code as make

    return make()


class Delivery(Base):
    """One attempt to hand one message to a provider (SMTP server, SMS API, or the outbox folder).

    The row is committed in ``sending`` BEFORE the message is handed over, with ``key`` also put in the
    message (Message-ID, SMS client reference, outbox file name), so a relay that dies mid-send leaves a
    row that recovery resolves by asking the provider or the delivery log, never by sending blindly.
    ``status``: sending | sent | failed | in_doubt | delivered | bounced | undelivered.
    ``item_type`` / ``item_id`` name what it delivers: an invitation or an announcement recipient.
    """

    __tablename__ = "message_deliveries"
    __table_args__ = (
        Index("ix_message_deliveries_item", "item_type", "item_id"),
        Index("ix_message_deliveries_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardians.id"), index=True)
    item_type: Mapped[str] = mapped_column(String(16))  # invitation | announcement
    item_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    transport: Mapped[str] = mapped_column(String(8))  # smtp | http | outbox
    status: Mapped[str] = mapped_column(String(16), default="sending")
    reason: Mapped[str | None] = mapped_column(String(32), default=None)  # invalid, inbox_full, transient, ...
    detail: Mapped[str | None] = mapped_column(String(300), default=None)  # provider's code and text, redacted
    provider_id: Mapped[str | None] = mapped_column(String(64), default=None)  # the SMS API's message id
    owner: Mapped[str] = mapped_column(String(200))  # the relay that made the attempt
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Announcement(Base):
    """A message to selected families (by classroom, student or a list of guardians)."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[dict] = mapped_column(JSON, default=dict)  # what was asked: classroom/student/guardian ids
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnouncementRecipient(Base):
    """One guardian to receive one announcement: an outbox item like an invitation (same states)."""

    __tablename__ = "announcement_recipients"
    __table_args__ = (
        UniqueConstraint("announcement_id", "guardian_id"),
        Index("ix_announcement_recipients_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    guardian_id: Mapped[int] = mapped_column(ForeignKey("guardians.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claim_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str | None] = mapped_column(String(8), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    error: Mapped[str | None] = mapped_column(String(300), default=None)
    skip_channels: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- web app accounts (issue 7) ------------------------------------------------------------------------------


class WebUser(Base):
    """A person who signs in to the web app (sync/web): a school leader, a district admin or support staff.

    ``password_hash`` is a self-describing scrypt string (sync/web/passwords.py); ``token_hash`` the
    SHA-256 of the account's API bearer token (the token itself is shown once and never stored).
    A leader sees the schools listed in web_user_schools; ``district_id`` is empty for support staff.
    """

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower case
    role: Mapped[str] = mapped_column(String(16))  # leader | district-admin | support
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), default=None, index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str | None] = mapped_column(String(64), default=None, unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class WebUserSchool(Base):
    """A school a leader's account may see (its reports, filtered, and its directory)."""

    __tablename__ = "web_user_schools"

    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id"), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True, index=True)
