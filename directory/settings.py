"""District settings: names, meanings, and the parsing of `rostersync district set SLUG KEY VALUE`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from directory.errors import ConfigError

_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("expected on or off")


def _percent(value: str) -> int:
    n = int(value)
    if not 0 <= n <= 100:
        raise ValueError("expected a whole number from 0 to 100")
    return n


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError("expected a whole number of at least 1")
    return n


def _channel(value: str) -> str:
    v = value.strip().lower()
    if v not in ("email", "sms"):
        raise ValueError("expected email or sms")
    return v


def _word_list(value: str) -> list[str]:
    return sorted({w.strip().lower() for w in value.split(",") if w.strip()})


def _region(value: str) -> str:
    v = value.strip().upper()
    if len(v) != 2 or not v.isalpha():
        raise ValueError("expected a two-letter country code such as US or GB")
    return v


def _days_or_off(value: str) -> int | None:
    # "off" (or none/never) is a real value here, not a missing one: it means keep archived records forever.
    v = value.strip().lower()
    if v in ("off", "none", "never", "forever"):
        return None
    if not v.isdigit() or int(v) < 1:
        raise ValueError("expected a whole number of days of at least 1, or off")
    return int(v)


def _schedule(value: str) -> str:
    # The grammar lives with the scheduler that reads it (sync/schedule.py, pure); imported here, when a
    # value is checked, so the directory package does not load the scheduler to read its settings.
    from sync.schedule import parse_schedule

    return parse_schedule(value).text


@dataclass(frozen=True)
class Setting:
    column: str
    parse: Callable[[str], Any]
    default: Any
    meaning: str
    off_allowed: bool = False  # the value may be None (the setting switched off)


SETTINGS: dict[str, Setting] = {
    "default_channel": Setting("default_channel", _channel, "email",
                               "preferred channel for messages: email or sms (the other is the fallback)"),
    "auto_invite": Setting("auto_invite", _bool, True,
                           "invite guardians the sync (or a manual add) creates: on or off"),
    "archive_threshold_pct": Setting("archive_threshold_pct", _percent, 10,
                                     "a run that would archive more than this percent of a school's active "
                                     "students is held for approval"),
    "sync_manages_guardians": Setting("sync_manages_guardians", _bool, True,
                                      "the sync owns guardians (and locks editing them by hand): on or off"),
    "sync_updates_joined_contacts": Setting("sync_updates_joined_contacts", _bool, False,
                                            "the sync may change the email or phone of a guardian who "
                                            "already joined: on or off"),
    "excluded_contact_types": Setting("excluded_contact_types", _word_list, ["emergency"],
                                      "contact types the sync does not make guardians (comma list)"),
    "max_guardians_per_student": Setting("max_guardians_per_student", _positive, 6,
                                         "more guardians than this on one student are reported, not added"),
    "phone_region": Setting("phone_region", _region, "US",
                            "country used to read phone numbers written without +country code"),
    "name": Setting("name", lambda v: v.strip(), None, "the district's display name"),
    "schedule": Setting("schedule", _schedule, "nightly",
                        "when the district syncs: a five-field cron expression (optionally followed by a "
                        "time zone), every 30s|15m|6h, or nightly (02:00, spread over an hour)"),
    "retention_days": Setting("retention_days", _days_or_off, None,
                              "`rostersync retention` deletes students archived more than this many days ago, "
                              "with their links, messages and guardians left with no student; off keeps them "
                              "forever", off_allowed=True),
}


def parse_setting(key: str, value: str) -> tuple[str, Any]:
    """(column, parsed value) or a ConfigError that lists the known keys."""
    setting = SETTINGS.get(key.strip().lower().replace("-", "_"))
    if setting is None:
        raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(sorted(SETTINGS))}")
    try:
        parsed = setting.parse(value)
    except ValueError as exc:
        reason = str(exc) if "expected" in str(exc) else "not a valid value"
        raise ConfigError(f"setting {key}: {value!r} is {reason}") from None
    if parsed == "" or (parsed is None and not setting.off_allowed):
        raise ConfigError(f"setting {key}: a value is required")
    return setting.column, parsed


def settings_of(district) -> dict[str, Any]:
    return {key: getattr(district, s.column) for key, s in SETTINGS.items() if key != "name"}
