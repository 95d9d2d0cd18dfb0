"""Clever's published v3.0 Swagger 2.0 definitions as strict JSON Schemas, to hold the test server to them.

Read from ../shared/samples/clever-swagger-api (v3.0.yml, v3.0-events.yml), never copied. Swagger 2.0 is
JSON Schema draft 4 plus a few extensions, turned into plain draft 4 here:
- ``$ref: #/definitions/X`` is inlined; ``allOf`` (the event types) is merged into one object;
- ``x-nullable: true`` admits null (Swagger 2.0 has no null type; Clever marks nullable fields this way);
- ``format: datetime`` is not a JSON Schema format and is dropped; patterns (``dob``) are kept;
- strict: an object with declared properties admits no others (``additionalProperties: false``), so the
  test server cannot invent a field a real client would never see; ``ext`` stays free, as the spec says;
- ``previous_attributes`` is declared as a map of "object" (Go's map of interface{}, as the spec's generator
  writes it); it is checked more strictly instead: each key must be a field of the event's object, and its
  value must fit that field's schema.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

ROUTES = {"schools": "SchoolsResponse", "users": "UsersResponse", "sections": "SectionsResponse"}
ERRORS = {400: "BadRequest", 404: "NotFound"}  # the spec's error bodies; other statuses use InternalError's


@lru_cache(maxsize=4)
def definitions(folder: Path) -> dict:
    spec = folder / "clever-swagger-api"
    defs = dict(yaml.safe_load((spec / "v3.0.yml").read_text())["definitions"])
    defs.update(yaml.safe_load((spec / "v3.0-events.yml").read_text())["definitions"])
    return defs


def strict(defs: dict, node: dict, depth: int = 0) -> dict:
    assert depth < 30, "recursive definitions are not expected in Clever's spec"
    if "$ref" in node:
        resolved = strict(defs, defs[node["$ref"].rsplit("/", 1)[-1]], depth + 1)
        return {"anyOf": [resolved, {"type": "null"}]} if node.get("x-nullable") else resolved
    if "allOf" in node:
        merged: dict = {"type": "object", "properties": {}}
        for part in node["allOf"]:
            part = strict(defs, part, depth + 1)
            merged["properties"].update(part.get("properties", {}))
        merged["additionalProperties"] = False
        return merged
    out = {k: v for k, v in node.items()
           if not k.startswith("x-") and k not in ("format", "discriminator", "properties", "items",
                                                   "additionalProperties", "description")}
    if "properties" in node:
        out["type"] = "object"
        out["properties"] = {k: strict(defs, v, depth + 1) for k, v in node["properties"].items()}
        out["additionalProperties"] = False
    if "items" in node:
        out["items"] = strict(defs, node["items"], depth + 1)
    if node.get("x-nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    return out


def validate(folder: Path, route: str, status: int, body: object) -> None:
    """Raise jsonschema.ValidationError unless ``body`` is what the spec allows for ``route`` and ``status``."""
    defs = definitions(folder)
    if status != 200:
        jsonschema.Draft4Validator(strict(defs, defs[ERRORS.get(status, "InternalError")])).validate(body)
        return
    collection = route.rstrip("/").rsplit("/", 1)[-1]
    if collection != "events":
        jsonschema.Draft4Validator(strict(defs, defs[ROUTES[collection]])).validate(body)
        return
    page = strict(defs, defs["EventsResponse"])
    page["properties"]["data"]["items"] = {"type": "object", "properties": {"data": {"type": "object"}},
                                           "additionalProperties": False}
    jsonschema.Draft4Validator(page).validate(body)
    for item in body["data"]:  # each event against the definition its type names
        validate_event(defs, item["data"])


def validate_event(defs: dict, event: dict) -> None:
    kind = event.get("type")
    if kind not in defs:
        raise jsonschema.ValidationError(f"event type {kind!r} is not defined by the spec")
    schema = strict(defs, defs[kind])
    schema["required"] = ["id", "type", "created", "data"]
    previous = event.get("previous_attributes")
    jsonschema.Draft4Validator(schema).validate({k: v for k, v in event.items() if k != "previous_attributes"})
    if previous is None:
        return
    if not kind.endswith(".updated"):
        raise jsonschema.ValidationError(f"{kind} has previous_attributes; only *.updated events carry them")
    fields = schema["properties"]["data"]["properties"]["object"]["properties"]
    for key, value in previous.items():
        if key not in fields:
            raise jsonschema.ValidationError(f"previous_attributes.{key} is not a field of the {kind} object")
        jsonschema.Draft4Validator(fields[key]).validate(value)
