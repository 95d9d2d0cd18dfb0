"""Errors a user can act on, each with the exit code the CLI documents (README, "Exit codes").

The code says what kind of problem it is, so scripts can tell "that student does not exist" from
"this school is synced" without parsing text. Messages are one line, name the thing and where, and never
contain secrets or contact details beyond what the caller typed.
"""

from __future__ import annotations


class RostersyncError(Exception):
    exit_code = 1


class ConfigError(RostersyncError):
    """Configuration or credentials are wrong (also: a bad setting name or value)."""

    exit_code = 2


class NotFound(RostersyncError):
    exit_code = 4


class InvalidInput(RostersyncError):
    """An invalid email, phone number, date or value."""

    exit_code = 5


class Duplicate(RostersyncError):
    exit_code = 6


class ContactConflict(RostersyncError):
    """The email-and-phone rule: one of the pair already belongs to an account the parent controls."""

    exit_code = 7

    def __init__(self, message: str, existing_guardian_id: int | None = None):
        super().__init__(message)
        self.existing_guardian_id = existing_guardian_id


class Locked(RostersyncError):
    """A manual function that would fight the sync, on a synced school."""

    exit_code = 8


class DatabaseUnavailable(RostersyncError):
    exit_code = 9


class Conflict(RostersyncError):
    """Later changes touched what an operation would change back: a rollback refused without --force."""

    exit_code = 10
