"""The run report as data (pure): what a school leader reads, and what `rostersync report` prints.

Names of people are in it (a school leader needs to see who left); contact details never are.
Lists of names are capped per school so a first sync of a large district stays readable; counts are
always complete.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sync.changes import ChangeSet, Snapshot

NAMES_PER_LIST = 100

DIRECTORY_STATES = {
    "updated": "the directory was updated",
    "unchanged": "nothing needed to change",
    "dry_run": "dry run: nothing was written to the directory",
    "failed": "the run failed: the directory was not touched",
    "held": "the directory was updated, but removals are held for approval",
}


def empty_report(**meta: Any) -> dict:
    report = {"run_id": None, "district": None, "source": None, "mode": "full", "dry_run": False,
              "status": "running", "started_at": None, "finished_at": None, "trigger": "manual",
              "requested_by": None, "reason": None, "directory": None, "directory_state": None, "drop": None,
              "counts": {}, "invitations_queued": 0, "errors": [], "warnings": [], "schools": [], "notes": []}
    report.update(meta)
    return report


def set_directory_state(report: dict, state: str) -> None:
    report["directory_state"] = state
    report["directory"] = DIRECTORY_STATES[state]


def split_problems(problems: list[dict]) -> tuple[list[dict], list[dict]]:
    errors = [p for p in problems if p.get("severity") == "error"]
    warnings = [p for p in problems if p.get("severity") != "error"]
    return errors, warnings


def _snapshot_label(snapshot: Snapshot, kind: str, key: str) -> tuple[str, str | None]:
    row = snapshot.rows[kind].get(key)
    if row is None:
        return key, None
    if kind == "students":
        return f"{row.values[1]} {row.values[2]}", row.values[0]
    if kind == "classrooms":
        return row.values[1], row.values[0]
    if kind == "teachers":
        return f"{row.values[0]} {row.values[1]}", None
    return row.values[0], key


def per_school(cs: ChangeSet, snapshot: Snapshot, school_names: dict[str, str],
               held_students: list[str] = ()) -> list[dict]:
    """What changed in each school: students and classrooms created, updated, archived, restored."""
    schools: dict[str | None, dict] = defaultdict(lambda: {"students": defaultdict(list),
                                                           "classrooms": defaultdict(list)})

    def label(kind, key):
        return cs.labels.get((kind, key)) or _snapshot_label(snapshot, kind, key)

    for kind in ("students", "classrooms"):
        c = cs.kinds[kind]
        entries = ([("created", k) for k, _ in c.creates] + [("restored", k) for _, k in c.restores]
                   + [("archived", k) for _, k in c.archives] + [("adopted", k) for _, k, _ in c.adopts])
        for action, key in entries:
            name, school = label(kind, key)
            schools[school][kind][action].append({"id": key, "name": name})
        for _, key, values, changed in c.updates:
            name, school = label(kind, key)
            item = {"id": key, "name": name, "fields": sorted(changed)}
            if "school_id" in changed:
                item["moved_from"] = changed["school_id"][0]
            schools[school][kind]["updated"].append(item)
    for key in held_students:
        name, school = _snapshot_label(snapshot, "students", key)
        schools[school]["students"]["held"].append({"id": key, "name": name})
    out = []
    for school, kinds in sorted(schools.items(), key=lambda kv: (school_names.get(kv[0] or "", kv[0] or ""))):
        entry: dict[str, Any] = {"school": school, "name": school_names.get(school or "", school or "(no school)")}
        for kind, actions in kinds.items():
            entry[kind] = {action: {"count": len(items), "items": items[:NAMES_PER_LIST]}
                           for action, items in sorted(actions.items())}
        out.append(entry)
    return out
