"""A run report as the web shows it (pure): filtered to a leader's schools, searched and filtered by the
reader, laid out with the same words and chart as the downloadable page.

The stored report (sync/report.py) is never changed: every function here returns a new dict.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sync import report_render

SCHOOL_KINDS = ("students", "classrooms")
ACTIONS = ("created", "moved", "updated", "restored", "adopted", "archived", "held")
SEVERITIES = ("error", "warning")


# -- a leader's view ------------------------------------------------------------------------------------

def problem_visible(problem: dict, school_keys: set[str], record_schools: dict[str, set[str]]) -> bool:
    """A problem about a record is shown when the record belongs to one of the schools; one about a file or
    the run as a whole (no record) is shown to everyone, since it names nobody."""
    record = problem.get("record")
    if not record:
        return True
    return bool(record_schools.get(str(record), set()) & school_keys)


def counts_from_schools(schools: list[dict]) -> dict:
    """Students and classes per action, added up over the given schools' entries."""
    counts: dict[str, dict[str, int]] = {}
    for entry in schools:
        for kind in SCHOOL_KINDS:
            for action, group in (entry.get(kind) or {}).items():
                bucket = counts.setdefault(kind, {})
                bucket[action] = bucket.get(action, 0) + int((group or {}).get("count") or 0)
    return counts


def filter_report(report: dict, school_keys: set[str], record_schools: dict[str, set[str]]) -> dict:
    """The report restricted to some schools (keyed as the report keys them: the source's school id).

    Names of other schools' students, their problems and their held removals are left out; counts are
    recomputed from the schools kept, since the district-wide ones would say more than the leader may see.
    """
    out = copy.deepcopy(report)
    schools = [s for s in report.get("schools") or [] if s.get("school") in school_keys]
    out["schools"] = copy.deepcopy(schools)
    out["counts"] = counts_from_schools(schools) if report.get("counts") else {}
    held = report.get("held")
    if held:
        students = [s for s in held.get("students") or [] if s.get("school") in school_keys]
        over = [s for s in held.get("schools") or [] if s.get("school") in school_keys]
        if students or over:
            out["held"] = {**copy.deepcopy(held), "students": students, "schools": over, "removals": {}}
        else:
            out.pop("held", None)
    if "unreachable" in report:  # guardians messages could not reach, per school, as of the run
        out["unreachable"] = [copy.deepcopy(u) for u in report.get("unreachable") or []
                              if u.get("external_id") in school_keys]
    hidden = 0
    for key in ("errors", "warnings"):
        kept = [p for p in report.get(key) or [] if isinstance(p, dict)
                and problem_visible(p, school_keys, record_schools)]
        hidden += len(report.get(key) or []) - len(kept)
        out[key] = kept
    # Invitations are counted for the whole district; the filtered report does not guess a share.
    out.pop("invitations_queued", None)
    out.pop("invitations_planned", None)
    note = "This report shows only your schools."
    if hidden:
        note += (f" {hidden} problem{'s' if hidden != 1 else ''} about other schools, or about records that are "
                 "not in the directory, {} left out; your district admin sees them.".format(
                     "is" if hidden == 1 else "are"))
    out["notes"] = [*(report.get("notes") or []), note]
    out["filtered_to_schools"] = sorted(school_keys)
    return out


# -- the page ---------------------------------------------------------------------------------------------

def page_context(report: dict, trend: list[dict]) -> dict[str, Any]:
    """What the downloadable HTML page shows, as data: the same sentences, groups and chart geometry.

    report_render keeps this function private; it is the one place the web reaches into it, so the web
    page and the download can never disagree (README asks the lead to make it public as page_context).
    """
    return report_render.page_context(report, trend)


@dataclass(frozen=True)
class Filters:
    q: str = ""  # a name, an id, or words of a problem
    school: str = ""  # the source's school id
    action: str = ""  # one of ACTIONS
    kind: str = ""  # students | classrooms
    severity: str = ""  # error | warning

    @classmethod
    def of(cls, q: str | None = None, school: str | None = None, action: str | None = None,
           kind: str | None = None, severity: str | None = None) -> "Filters":
        """From query parameters; unknown values are ignored, never an error (they come from URLs)."""
        return cls(q=(q or "").strip()[:100], school=(school or "").strip()[:255],
                   action=action if action in ACTIONS else "", kind=kind if kind in SCHOOL_KINDS else "",
                   severity=severity if severity in SEVERITIES else "")

    @property
    def active(self) -> bool:
        return any((self.q, self.school, self.action, self.kind, self.severity))


def _matches(text_parts, q: str) -> bool:
    needle = q.casefold()
    return any(needle in str(part).casefold() for part in text_parts if part is not None)


def filter_page(page: dict, f: Filters) -> dict:
    """The page context with only what the filters ask for; counts show what is left."""
    if not f.active:
        return page
    page = copy.deepcopy(page)
    schools = []
    for school in page.get("schools") or []:
        if f.school and school.get("id") != f.school:
            continue
        kinds = []
        for kind in school.get("kinds") or []:
            if f.kind and kind.get("kind") != f.kind:
                continue
            groups = []
            for g in kind.get("groups") or []:
                if f.action and g.get("action") != f.action:
                    continue
                if f.q:
                    items = [i for i in g.get("items") or []
                             if _matches((i.get("name"), i.get("id"), i.get("moved_from")), f.q)]
                    if not items:
                        continue
                    g = {**g, "items": items, "count": len(items), "more": 0}
                groups.append(g)
            if groups:
                kinds.append({**kind, "groups": groups})
        if kinds:
            schools.append({**school, "kinds": kinds, "chips": []})
    page["schools"] = schools
    problem_groups = []
    for g in page.get("problem_groups") or []:
        if f.severity and g.get("severity") != f.severity:
            continue
        if f.q:
            items = [p for p in g.get("items") or [] if _matches(
                (p.get("message"), p.get("record"), p.get("file"), p.get("field"), g.get("heading")), f.q)]
            if not items:
                continue
            g = {**g, "items": items, "count": len(items), "more": 0}
        problem_groups.append(g)
    page["problem_groups"] = problem_groups
    page["error_count"] = sum(g["count"] for g in problem_groups if g.get("severity") == "error")
    page["warning_count"] = sum(g["count"] for g in problem_groups if g.get("severity") == "warning")
    page["matches"] = (sum(g["count"] for s in schools for k in s["kinds"] for g in k["groups"])
                       + page["error_count"] + page["warning_count"])
    return page


def school_options(report: dict) -> list[dict]:
    """The schools of a report, for the filter's drop-down (only those the reader was given)."""
    return [{"id": s.get("school"), "name": s.get("name") or s.get("school")} for s in report.get("schools") or []
            if s.get("school")]
