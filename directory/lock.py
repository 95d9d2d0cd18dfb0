"""The lock: on a synced school, manual functions that would fight the sync are refused (pure).

What the sync owns is the roster: who is enrolled where, and (when the district lets the sync manage
guardians) who the guardians are. Editing those by hand would be undone by the next run, so they are
refused with an error that says why. Messaging (invitations, announcements) and searching stay open.
"""

from __future__ import annotations

SOURCE_NAMES = {
    "oneroster-csv": "OneRoster CSV files (SFTP)",
    "clever-csv": "Clever CSV files (SFTP)",
    "clever": "Clever",
    "classlink": "ClassLink",
}

ROSTER_FUNCTIONS = {
    "enroll student", "assign student", "unassign student", "edit student",
    "archive student", "restore student",
}
GUARDIAN_FUNCTIONS = {"add guardian", "edit guardian", "remove guardian", "remove all guardians"}
OPEN_FUNCTIONS = {"invite", "resend invitation", "print invitation", "announce", "search", "export"}


def lock_reason(function: str, school_name: str, school_source: str | None,
                sync_manages_guardians: bool) -> str | None:
    """Why ``function`` is refused on this school, or None when it is allowed."""
    if function not in ROSTER_FUNCTIONS | GUARDIAN_FUNCTIONS | OPEN_FUNCTIONS:
        raise ValueError(f"unknown manual function {function!r}")
    if school_source is None or function in OPEN_FUNCTIONS:
        return None
    if function in GUARDIAN_FUNCTIONS and not sync_manages_guardians:
        return None
    source = SOURCE_NAMES.get(school_source, school_source)
    return (f"{function} is locked: school '{school_name}' is synced from {source}. "
            f"Change the record in the student information system, or ask support to override the lock")
