"""Districts: creating them, finding them, changing their settings."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory import audit
from directory.audit import Actor
from directory.errors import ConfigError, Duplicate, InvalidInput, NotFound
from directory.models import District
from directory.settings import parse_setting

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$|^[a-z0-9]$")


def get_district(session: Session, slug: str) -> District:
    district = session.scalar(select(District).where(District.slug == slug))
    if district is None:
        raise NotFound(f"unknown district {slug!r} (see `rostersync district list`)")
    return district


def list_districts(session: Session) -> list[District]:
    return list(session.scalars(select(District).order_by(District.slug)))


def create_district(session: Session, actor: Actor, slug: str, name: str, source: str | None = None,
                    source_config: dict | None = None) -> District:
    if not SLUG.match(slug):
        raise InvalidInput(f"district slug {slug!r} must be lower-case letters, digits and dashes")
    if not name.strip():
        raise InvalidInput("a district needs a name")
    if session.scalar(select(District.id).where(District.slug == slug)) is not None:
        raise Duplicate(f"district {slug!r} already exists")
    district = District(slug=slug, name=name.strip(), source=source, source_config=source_config or {})
    session.add(district)
    session.flush()
    audit.record(session, actor, "district.create", "district", district.id, district.id,
                 after=audit.snapshot(district))
    return district


def set_setting(session: Session, actor: Actor, district: District, key: str, value: str) -> tuple[str, object]:
    column, parsed = parse_setting(key, value)
    before = audit.snapshot(district, [column])
    setattr(district, column, parsed)
    audit.record(session, actor, "district.set", "district", district.id, district.id,
                 before=before, after={column: parsed})
    return column, parsed


def require_source_config(district: District, key: str) -> str:
    value = (district.source_config or {}).get(key)
    if not value:
        raise ConfigError(f"district {district.slug!r} has no {key!r} configured")
    return value


def set_source(session: Session, actor: Actor, district: District, source: str | None, config: dict) -> None:
    before = {"source": district.source, "source_config": district.source_config}
    district.source, district.source_config = source, config
    audit.record(session, actor, "district.set_source", "district", district.id, district.id,
                 before=before, after={"source": source, "source_config": config})
