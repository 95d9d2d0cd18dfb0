"""The words of each message (pure): an invitation, a "you were added to a class" notice, an announcement.

A message is about one family only: it names the guardian and their own children, never another
family's. Every text carries the district's name so a parent knows who writes, and invitations carry the
join code and where to use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Letter:
    kind: str  # invite | added | announcement
    district: str
    guardian_name: str = ""
    children: tuple[str, ...] = field(default_factory=tuple)  # first names of the guardian's own children
    schools: tuple[str, ...] = field(default_factory=tuple)
    join_code: str | None = None
    join_url: str = ""
    subject: str = ""  # announcement
    body: str = ""  # announcement


def _names(items: tuple[str, ...]) -> str:
    items = tuple(dict.fromkeys(i for i in items if i))
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _greeting(letter: Letter) -> str:
    return f"Hello {letter.guardian_name}," if letter.guardian_name.strip() else "Hello,"


def email(letter: Letter) -> tuple[str, str]:
    """(subject, plain text body)."""
    children, schools = _names(letter.children), _names(letter.schools)
    if letter.kind == "announcement":
        return letter.subject, f"{_greeting(letter)}\n\n{letter.body.strip()}\n\n{letter.district}\n"
    if letter.kind == "added":
        about = f"{children}'s class" if children else "a class"
        return (f"{letter.district}: you were added to {about}",
                f"{_greeting(letter)}\n\nYou now receive messages about {about}"
                f"{' at ' + schools if schools else ''}. Nothing to do: it appears in your account.\n\n"
                f"{letter.district}\n")
    whom = f" about {children}" if children else ""
    return (f"{letter.district} invites you to receive school messages",
            f"{_greeting(letter)}\n\n{letter.district} invites you to receive messages from "
            f"{schools or 'school'}{whom}.\n\n"
            f"To join, open {letter.join_url} and enter your join code:\n\n    {letter.join_code}\n\n"
            "The code is yours alone: please do not share it.\n\n"
            f"{letter.district}\n")


def sms(letter: Letter) -> str:
    children = _names(letter.children)
    if letter.kind == "announcement":
        return f"{letter.district}: {letter.subject}. {letter.body.strip()}"[:1500]
    if letter.kind == "added":
        return (f"{letter.district}: you now receive messages about {children + chr(39) + 's class' if children else 'a new class'}. "
                "Reply STOP to opt out.")
    return (f"{letter.district} invites you to receive school messages{' about ' + children if children else ''}. "
            f"Join at {letter.join_url} with code {letter.join_code}. Reply STOP to opt out.")


def print_page(letter: Letter) -> list[str]:
    """The lines of a printed invitation (one page per guardian)."""
    children, schools = _names(letter.children), _names(letter.schools)
    return [
        letter.district,
        "",
        f"For: {letter.guardian_name or 'the parent or guardian'}" + (f" of {children}" if children else ""),
        "",
        f"{schools or 'Your school'} sends news, reminders and messages from teachers through our "
        "family messaging service. Join to receive them.",
        "",
        "1. Open " + letter.join_url,
        "2. Enter your join code:",
        f"       {letter.join_code}",
        "3. Choose how you want to be reached (email or text).",
        "",
        "The code is yours alone: please keep it private.",
    ]
