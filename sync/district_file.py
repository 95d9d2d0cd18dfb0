"""Districts from a TOML file (`rostersync district load FILE`): set up once, kept in version control.

    [[district]]
    slug = "lincoln"
    name = "Lincoln Unified"
    source = "oneroster-csv"          # or clever-csv; omit for a district edited by hand
    path = "/srv/drops/lincoln"       # or sftp_host, sftp_user, sftp_host_key, sftp_key | sftp_password_env ...
    [district.settings]
    default_channel = "sms"
    archive_threshold_pct = 15

Loading is idempotent: a district that exists is updated to what the file says.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.audit import Actor
from directory.districts import create_district, set_setting, set_source
from directory.errors import ConfigError
from directory.models import District
from sync.sources import API_SOURCE_KEYS, FILE_SOURCE_KEYS, validate_source


def load_districts(session: Session, actor: Actor, file: str | Path) -> list[str]:
    try:
        data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    entries = data.get("district")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{file}: no [[district]] tables")
    done = []
    for number, entry in enumerate(entries, 1):
        where = f"{file}: district #{number}"
        unknown = set(entry) - {"slug", "name", "source", "settings", *FILE_SOURCE_KEYS, *API_SOURCE_KEYS}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        if not entry.get("slug") or not entry.get("name"):
            raise ConfigError(f"{where}: slug and name are required")
        source = entry.get("source")
        config = {k: entry[k] for k in FILE_SOURCE_KEYS + API_SOURCE_KEYS if k in entry}
        if source:
            try:
                config = validate_source(source, config)
            except ConfigError as exc:
                raise ConfigError(f"{where} ({entry['slug']}): {exc}") from None
        district = session.scalar(select(District).where(District.slug == entry["slug"]))
        if district is None:
            district = create_district(session, actor, entry["slug"], entry["name"], source, config)
            done.append(f"district {district.slug} added")
        else:
            if (district.source, district.source_config) != (source, config):
                set_source(session, actor, district, source, config)
            if district.name != entry["name"]:
                set_setting(session, actor, district, "name", entry["name"])
            done.append(f"district {district.slug} updated")
        for key, value in (entry.get("settings") or {}).items():
            text = ",".join(value) if isinstance(value, list) else \
                ("on" if value is True else "off" if value is False else str(value))
            try:
                set_setting(session, actor, district, key, text)
            except ConfigError as exc:
                raise ConfigError(f"{where} ({entry['slug']}): {exc}") from None
    return done
