"""The run report as a school leader and a spreadsheet see it (sync/report_render.py).

Reports are built by hand in the shape sync/run.py fills, so these tests do not need a database; they
assert on what a reader sees (text under the right heading, rows in a parsed CSV), not on markup details.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest

from sync import report_render
from sync.report import DIRECTORY_STATES, empty_report
from sync.report_render import CSV_COLUMNS, render_csv, render_html, render_json, trend_item

SCRIPT_NAME = "<script>alert(1)</script>"


def _counts(**changed) -> dict:
    """Counts for every kind, zero unless given: students=dict(created=3) ..."""
    out = {}
    for kind in ("schools", "teachers", "classrooms", "students", "guardians"):
        out[kind] = {"created": 0, "updated": 0, "archived": 0, "restored": 0, "unchanged": 0, "adopted": 0,
                     **changed.get(kind, {})}
    for kind in ("enrollments", "classroom_teachers"):
        out[kind] = {"added": 0, "removed": 0, **changed.get(kind, {})}
    out["guardian_links"] = {"added": 0, "removed": 0, "updated": 0, **changed.get("guardian_links", {})}
    return out


def _group(*items, count=None) -> dict:
    return {"count": len(items) if count is None else count, "items": list(items)}


def _meta(run_id: str, status: str, state: str, **more) -> dict:
    report = empty_report(run_id=run_id, district="riverside-usd", source="oneroster-csv",
                          started_at="2024-09-02T06:00:00+00:00", finished_at="2024-09-02T06:02:05+00:00",
                          trigger="scheduled", status=status, **more)
    report["directory_state"], report["directory"] = state, DIRECTORY_STATES[state]
    report["drop"] = {"source": "sftp riverside@sis.example:/drops/2024-09-02", "fingerprint": "ab12cd34ef56aa",
                      "files": {"users.csv": 20480, "orgs.csv": 512}, "ignored": ["readme.txt"]}
    return report


def succeeded_report() -> dict:
    report = _meta("r-101", "succeeded", "updated")
    report["counts"] = _counts(students={"created": 3, "updated": 2, "archived": 1, "unchanged": 400},
                               classrooms={"created": 1, "unchanged": 30},
                               guardians={"created": 4, "unchanged": 600},
                               enrollments={"added": 12, "removed": 2})
    report["invitations_queued"] = 4
    report["schools"] = [
        {"school": "SCH-E", "name": "Eastside Elementary",
         "students": {"created": _group({"id": "S1", "name": "Ada Lovelace"}, {"id": "S2", "name": SCRIPT_NAME}),
                      "archived": _group({"id": "S3", "name": "Bob Gone"})},
         "classrooms": {"created": _group({"id": "C1", "name": "Grade 2 Blue"})}},
        {"school": "SCH-W", "name": "Westside Middle",
         "students": {"created": _group({"id": "S4", "name": "Cleo Newcomer"}),
                      "updated": _group({"id": "S5", "name": "Dana Grade", "fields": ["grade"]},
                                        {"id": "S6", "name": "Eli Mover", "fields": ["grade", "school_id"],
                                         "moved_from": "SCH-E"}),
                      "adopted": _group({"id": "S7", "name": "Finn Byhand"})}},
    ]
    report["warnings"] = [
        {"code": "guardian_no_contact", "message": "guardian G9 has no email or mobile number",
         "severity": "warning", "file": "users.csv", "line": 77, "record": "G9", "field": "email"},
    ]
    return report


def held_report() -> dict:
    report = _meta("r-202", "held", "held")
    report["counts"] = _counts(students={"created": 1, "unchanged": 100})
    leaving = [{"id": f"S{i}", "name": f"Leaver Number{i}", "school": "SCH-N"} for i in range(40)]
    report["held"] = {"schools": [{"school": "SCH-N", "active": 100, "leaving": 40, "percent": 40.0}],
                      "threshold_pct": 20, "students": leaving,
                      "removals": {"archives": {"students": [s["id"] for s in leaving], "classrooms": ["C9"]},
                                   "removed": {"enrollments": [["C9", "S1"], ["C9", "S2"]]}}}
    # per_school caps each list (sync/report.NAMES_PER_LIST); here the cap is 5 of 40
    report["schools"] = [{"school": "SCH-N", "name": "Northside High",
                          "students": {"held": _group(*[{"id": s["id"], "name": s["name"]} for s in leaving[:5]],
                                                      count=40)}}]
    return report


def failed_report() -> dict:
    report = _meta("r-303", "failed", "failed")
    report["counts"] = {}
    report["errors"] = [{"code": "drop_csv_format_error", "message": "unterminated quoted field",
                         "file": "enrollments.csv", "line": 4812, "column": "classSourcedId"}]
    return report


def dry_run_report() -> dict:
    report = _meta("r-404", "succeeded", "dry_run", dry_run=True)
    report["counts"] = _counts(students={"created": 2})
    report["invitations_planned"] = 7
    report["schools"] = [{"school": "SCH-E", "name": "Eastside Elementary",
                          "students": {"created": _group({"id": "S8", "name": "Gus Maybe"},
                                                         {"id": "S9", "name": "Hal Perhaps"})}}]
    return report


def trend_items(n: int) -> list[dict]:
    statuses = ["succeeded", "held", "failed", "succeeded"]
    return [{"run_id": f"t-{i}", "started_at": f"2024-08-{i + 1:02d}T06:00:00+00:00", "status": statuses[i % 4],
             "created": i, "updated": 2 * i, "archived": i % 3, "errors": i % 2, "warnings": i % 5}
            for i in range(n)]


class _Page(HTMLParser):
    """What a reader sees: the text under each heading, the tags used, and attributes that load things."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.sections: list[tuple[int, str, list[str]]] = []  # (level, heading text, texts below it)
        self._heading: int | None = None
        self._heading_text: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v or "") for k, v in attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self._heading, self._heading_text = int(tag[1]), []

    def handle_endtag(self, tag):
        if self._heading is not None and tag == f"h{self._heading}":
            self.sections.append((self._heading, " ".join("".join(self._heading_text).split()), []))
            self._heading = None

    def handle_data(self, data):
        self.texts.append(data)
        if self._heading is not None:
            self._heading_text.append(data)
        elif self.sections:
            self.sections[-1][2].append(data)

    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def under(self, heading: str) -> str:
        """All text from the heading that starts with `heading` to the next heading of its level or above."""
        for i, (level, text, _) in enumerate(self.sections):
            if text.startswith(heading):
                parts = []
                for lvl, t, body in self.sections[i:]:
                    if parts and lvl <= level:
                        break
                    parts.append(t)
                    parts.extend(body)
                return " ".join(" ".join(parts).split())
        raise AssertionError(f"no heading starting with {heading!r}; headings: {[t for _, t, _ in self.sections]}")


def page(report, trend=()) -> tuple[str, _Page]:
    html = render_html(report, list(trend))
    parsed = _Page()
    parsed.feed(html)
    parsed.close()
    return html, parsed


def header(p: _Page) -> str:
    """The text between the page's title (h1) and its first section."""
    assert p.sections[0][0] == 1
    return " ".join(" ".join(p.sections[0][2]).split())


def csv_rows(report) -> list[dict]:
    reader = csv.DictReader(io.StringIO(render_csv(report), newline=""))
    assert tuple(reader.fieldnames) == CSV_COLUMNS
    return list(reader)


# -- HTML: the header and summary -----------------------------------------------------------------------

def test_header_names_the_district_status_and_what_happened_to_the_directory():
    _, p = page(succeeded_report())
    text = header(p)
    assert p.sections[0][:2] == (1, "riverside-usd")
    assert "Succeeded" in text
    assert "The directory was updated." in text
    assert "r-101" in text and "OneRoster CSV files" in text and "Full roster" in text
    assert "Mon 2 Sep 2024, 06:00 UTC" in text and "took 2 min 5 s" in text
    assert "Dry run" not in text


def test_summary_table_shows_the_counts_per_kind():
    html, p = page(succeeded_report())
    summary = p.under("Summary")
    assert re.search(r"Students 3 2 1 0 0 400", summary), summary
    assert re.search(r"Students in classes 12 – 2", summary), summary
    assert "4 invitations to families queued" in p.text()
    assert "<th scope=\"col\"" in html and "<th scope=\"row\">Students</th>" in html


def test_each_school_lists_its_own_created_archived_and_moved_students():
    _, p = page(succeeded_report())
    east, west = p.under("Eastside Elementary"), p.under("Westside Middle")
    assert "New students (2)" in east and "Ada Lovelace" in east
    assert "Students who left (archived) (1)" in east and "Bob Gone" in east
    assert "New classes (1)" in east and "Grade 2 Blue" in east
    assert "Cleo Newcomer" in west and "Ada Lovelace" not in west and "Bob Gone" not in west
    # an update shows which fields changed; a move shows where from, by school name
    assert "Dana Grade S5 changed: grade" in west
    assert "Students who moved here from another school (1)" in west
    assert "Eli Mover S6 from Eastside Elementary; also changed: grade" in west
    assert "Students whose details changed (1)" in west
    assert "Finn Byhand" in west


def test_capped_lists_say_how_many_more():
    report = succeeded_report()
    report["schools"][0]["students"]["created"]["count"] = 52  # 2 of 52 listed
    _, p = page(report)
    east = p.under("Eastside Elementary")
    assert "New students (52)" in east and "and 50 more" in east
    # an uncapped list says nothing of the kind
    _, p = page(succeeded_report())
    assert "more" not in p.under("Eastside Elementary")


def test_a_student_named_like_a_script_is_shown_as_text():
    html, p = page(succeeded_report())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "script" not in p.tags
    assert SCRIPT_NAME in p.under("Eastside Elementary")  # readable as the name it is


def test_the_page_loads_nothing_from_anywhere():
    report = succeeded_report()
    report["drop"]["source"] = "local folder /srv/drops"  # the fixture's own text must not mask a leak
    html, p = page(report, trend_items(6))
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags and "iframe" not in p.tags
    assert not re.search(r"https?://", html, re.I)
    assert not re.search(r"@import|url\(", html, re.I)
    for tag, name, value in p.attrs:
        assert name not in ("src", "srcset", "data"), (tag, name, value)
        if name == "href":
            assert value.startswith("#"), (tag, name, value)
    assert "<style>" in html and "@media print" in html


def test_problems_show_errors_before_warnings_with_file_line_record_and_field():
    report = succeeded_report()
    report["errors"] = [{"code": "missing_value", "message": "sourcedId is blank; the row is skipped",
                         "severity": "error", "file": "users.csv", "line": 12, "field": "sourcedId"}]
    report["warnings"].append({"code": "guardian_no_contact", "message": "guardian G10 has no email or mobile",
                               "severity": "warning", "file": "users.csv", "line": 80, "record": "G10"})
    _, p = page(report)
    problems = p.under("Problems to fix in the SIS")
    assert "1 error" in problems and "2 warnings" in problems
    assert problems.index("Required values that are blank") < problems.index("Guardians without an email")
    blank = p.under("Error Required values that are blank")
    assert "users.csv 12 sourcedId sourcedId is blank" in blank
    contact = p.under("Warning Guardians without an email or mobile number (2)")
    assert "users.csv 77 G9 email guardian G9 has no email or mobile number" in contact
    assert "users.csv 80 G10 guardian G10" in contact


def test_a_run_without_problems_says_so():
    report = succeeded_report()
    report["warnings"] = []
    _, p = page(report)
    assert "No problems were found" in p.under("Problems to fix in the SIS")


def test_an_unknown_problem_code_still_gets_a_readable_heading():
    report = succeeded_report()
    report["warnings"] = [{"code": "some_new_check", "message": "m", "severity": "warning"}]
    _, p = page(report)
    assert "Some new check" in p.under("Problems to fix in the SIS")


# -- HTML: held, failed, dry run --------------------------------------------------------------------------

def test_held_run_names_who_would_leave_and_the_approve_command():
    html, p = page(held_report())
    assert "Held for approval" in header(p)  # the status badge
    held = p.under("Held for approval")
    assert "more than 20% of the active students" in held
    assert "nobody has been archived yet" in held and "40 students would leave" in held
    assert re.search(r"Northside High 100 40 40\.0%", held), held
    assert "Leaver Number0" in held and "Leaver Number39" in held  # every leaver is named here
    assert "rostersync approve r-202" in held
    assert "1 class to archive" in held and "2 student–class links to remove" in held
    # leavers are listed in the order a person expects: Number2 before Number10
    assert held.index("Leaver Number2 ") < held.index("Leaver Number10 ")
    # and in the per-school section, the capped held list says how many more
    north = p.under("Northside High")
    assert "Students who would leave (held for approval) (40)" in north and "and 35 more" in north


def test_a_held_dry_run_offers_no_approve_command():
    # sync/approve.py refuses a dry run: the page must not tell a leader to run a command that fails
    report = held_report()
    report["dry_run"], report["directory_state"] = True, "dry_run"
    report["directory"] = DIRECTORY_STATES["dry_run"]
    html, p = page(report)
    held = p.under("Held for approval")
    assert "rostersync approve" not in html
    assert "nothing to approve" in held and "rostersync sync riverside-usd" in held
    assert "Everything else in this run was applied" not in held


def test_an_approved_run_says_who_approved_instead_of_asking_again():
    report = held_report()  # as sync/approve.py leaves it
    report["status"], report["directory_state"] = "succeeded", "updated"
    report["directory"] = "the directory was updated, and the held removals were approved and applied"
    report["approved"] = {"by": "pat", "at": "2024-09-03T08:15:00+00:00", "reason": "end of year",
                          "archived": {"students": 40, "classrooms": 1}}
    html, p = page(report)
    assert "rostersync approve" not in html
    held = p.under("Held for approval, then approved")
    assert "pat approved them on Tue 3 Sep 2024, 08:15 UTC" in held and "end of year" in held
    assert "1 class, 40 students" in held
    assert "Students who left (archived after approval) (40)" in p.under("Northside High")


def test_a_run_that_is_not_held_has_no_approval_section():
    html, p = page(succeeded_report())
    assert "rostersync approve" not in html
    assert not any(t.startswith("Held for approval") for _, t, _ in p.sections)


def test_failed_run_shows_the_error_with_file_and_line_and_no_counts():
    _, p = page(failed_report())
    assert "Failed" in header(p)
    assert "The run failed: the directory was not touched." in header(p)
    assert "No counts: the run failed" in p.under("Summary")
    h2s = [t for lvl, t, _ in p.sections if lvl == 2]
    assert h2s.index("Problems to fix in the SIS") < h2s.index("Summary")  # the cause comes first
    problem = p.under("Error A roster file could not be read")
    assert "enrollments.csv 4812 classSourcedId unterminated quoted field" in problem


def test_a_report_left_by_an_interrupted_run_still_renders():
    # sync/lease.py stores only this when it takes over from a dead run
    report = {"status": "failed", "errors": [{"code": "interrupted", "message": "the run was interrupted"}]}
    _, p = page(report)
    assert "Failed" in p.text()
    assert "The run was interrupted" in p.under("Problems to fix in the SIS")


def test_dry_run_is_marked_and_says_what_a_real_run_would_do():
    _, p = page(dry_run_report())
    text = header(p)
    assert "Dry run: nothing was written" in text
    assert "Dry run: nothing was written to the directory." in text  # the directory sentence
    assert "A real run would change students: 2 added" in text
    assert "7 invitations to families would be sent in a real run" in text
    assert "Gus Maybe" in p.under("Eastside Elementary")


# -- HTML: the trend ----------------------------------------------------------------------------------------

def _marks(html: str) -> list[str]:
    svg = re.search(r"<svg\b.*?</svg>", html, re.S)
    assert svg, "no inline svg"
    return re.findall(r'<g class="run" data-run="([^"]*)" data-status="([^"]*)"', svg.group(0))


def test_trend_chart_has_one_mark_per_run_coloured_by_status():
    report = succeeded_report()
    trend = trend_items(6)
    html, p = page(report, trend)
    marks = _marks(html)
    assert [m[0] for m in marks] == [t["run_id"] for t in trend]
    assert [m[1] for m in marks] == [t["status"] for t in trend]
    svg = re.search(r"<svg\b.*?</svg>", html, re.S).group(0)
    for status in ("succeeded", "held", "failed"):
        assert report_render.STATUS[status][1] in svg
    table = p.under("Trend over the last runs")
    assert "t-5" in table and "Failed" in table and "Held for approval" in table


def test_trend_keeps_the_last_twenty_runs_oldest_first_whatever_the_input_order():
    trend = trend_items(25)
    html, _ = page(succeeded_report(), list(reversed(trend)))
    assert [m[0] for m in _marks(html)] == [t["run_id"] for t in trend[5:]]


def test_trend_bars_grow_with_the_numbers():
    trend = trend_items(3)
    trend[1].update(created=100, updated=0, archived=0)
    trend[2].update(created=10, updated=0, archived=0)
    chart = report_render._trend(trend, None)
    small, big, mid = chart["marks"][0], chart["marks"][1], chart["marks"][2]
    assert big["changes_h"] > mid["changes_h"] > small["changes_h"] >= 0
    assert big["changes_y"] >= chart["top1"] and big["changes_y"] + big["changes_h"] == chart["base1"]


def test_without_earlier_runs_the_trend_says_so():
    html, p = page(succeeded_report(), [])
    assert "<svg" not in html
    assert "No earlier runs" in p.under("Trend over the last runs")


def test_trend_item_sums_records_and_counts_problems():
    item = trend_item(succeeded_report())
    assert item == {"run_id": "r-101", "started_at": "2024-09-02T06:00:00+00:00", "status": "succeeded",
                    "created": 3 + 1 + 4, "updated": 2, "archived": 1, "errors": 0, "warnings": 1}
    failed = trend_item(failed_report())
    assert (failed["created"], failed["errors"], failed["status"]) == (0, 1, "failed")


def test_the_current_run_is_highlighted_in_the_trend():
    report = succeeded_report()
    trend = trend_items(3) + [trend_item(report)]
    _, p = page(report, trend)
    assert "r-101 (this run)" in p.under("Trend over the last runs")


# -- HTML: print and accessibility -------------------------------------------------------------------------

def test_headings_are_nested_without_skipping_levels():
    _, p = page(held_report(), trend_items(2))
    levels = [lvl for lvl, _, _ in p.sections]
    assert levels[0] == 1 and levels.count(1) == 1
    for before, after in zip(levels, levels[1:]):
        assert after <= before + 1, levels


# -- CSV ----------------------------------------------------------------------------------------------------

def test_csv_has_one_row_per_change_and_per_problem():
    rows = csv_rows(succeeded_report())
    changes = [r for r in rows if r["kind"] != "problem"]
    assert [(r["school_id"], r["kind"], r["action"], r["record_id"]) for r in changes] == [
        ("SCH-E", "students", "created", "S1"), ("SCH-E", "students", "created", "S2"),
        ("SCH-E", "students", "archived", "S3"), ("SCH-E", "classrooms", "created", "C1"),
        ("SCH-W", "students", "created", "S4"), ("SCH-W", "students", "updated", "S5"),
        ("SCH-W", "students", "updated", "S6"), ("SCH-W", "students", "adopted", "S7"),
    ]
    assert all(r["run_id"] == "r-101" for r in rows)
    moved = next(r for r in rows if r["record_id"] == "S6")
    assert moved["school"] == "Westside Middle"
    assert moved["details"] == "changed: grade; moved from Eastside Elementary"
    problem = rows[-1]
    assert (problem["kind"], problem["action"], problem["record_id"], problem["file"], problem["line"],
            problem["field"]) == ("problem", "warning", "G9", "users.csv", "77", "email")
    assert problem["details"] == "guardian G9 has no email or mobile number"
    assert problem["name"] == "guardian_no_contact"


def test_csv_lists_errors_before_warnings_and_keeps_a_failed_runs_location():
    report = failed_report()
    report["warnings"] = [{"code": "file_ignored", "message": "x.csv is ignored", "severity": "warning"}]
    rows = csv_rows(report)
    assert [r["action"] for r in rows] == ["error", "warning"]
    assert (rows[0]["file"], rows[0]["line"], rows[0]["field"]) == ("enrollments.csv", "4812", "classSourcedId")


def test_csv_says_when_a_list_was_capped():
    rows = csv_rows(held_report())
    held = [r for r in rows if r["action"] == "held"]
    assert len(held) == 6
    assert held[-1]["record_id"] == "" and "and 35 more" in held[-1]["details"]


@pytest.mark.parametrize("name", ["=HYPERLINK(\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_csv_neutralizes_formula_like_cells(name):
    report = succeeded_report()
    report["schools"][0]["students"]["created"]["items"][0]["name"] = name
    row = next(r for r in csv_rows(report) if r["record_id"] == "S1")
    assert row["name"] == "'" + name.replace("\r", "\n")  # a CR would split the row: see the next test
    assert row["school"] == "Eastside Elementary"


def test_csv_carriage_returns_inside_cells_do_not_split_rows():
    report = succeeded_report()
    report["warnings"][0]["message"] = "line one\rline two\r\nline three"
    report["schools"][0]["students"]["created"]["items"][0]["name"] = "Ada\rLovelace"
    rows = csv_rows(report)
    assert len(rows) == 9
    assert rows[-1]["details"] == "line one\nline two\nline three" and rows[-1]["file"] == "users.csv"
    assert rows[0]["name"] == "Ada\nLovelace" and rows[0]["record_id"] == "S1"


# -- JSON ---------------------------------------------------------------------------------------------------

def test_json_round_trips_with_sorted_keys_and_indent():
    report = held_report()
    text = render_json(report)
    assert json.loads(text) == report
    keys = re.findall(r'^  "([a-z_]+)":', text, re.M)
    assert keys == sorted(report) and len(keys) == len(report)


def test_rendering_does_not_change_the_report():
    report = succeeded_report()
    before = copy.deepcopy(report)
    render_html(report, trend_items(3))
    render_csv(report)
    render_json(report)
    assert report == before


def test_unreachable_guardians_are_listed_per_school_with_what_to_fix():
    report = {"run_id": 4, "district": "maple", "status": "succeeded", "counts": {}, "schools": [],
              "errors": [], "warnings": [],
              "unreachable": [{"school_id": 1, "school": "Adams Elementary", "external_id": "sch-1", "count": 1,
                               "unreachable_count": 1, "guardians": [{
                                   "guardian_id": 9, "external_id": "g-9", "name": "Pat Doe", "students": ["Ada Doe"],
                                   "unreachable": True, "reachable_by": [], "channels": [
                                       {"channel": "email", "status": "unreachable", "reason": "invalid",
                                        "contact": "p***@example.org",
                                        "fix": "The email address does not exist (it bounced): correct it in the SIS."}]}]}]}
    page = render_html(report, [])
    section = page[page.index('id="unreachable"'):]
    assert "Adams Elementary" in section and "Pat Doe" in section and "Ada Doe" in section
    assert "p***@example.org" in section and "correct it in the SIS" in section
    assert 'id="unreachable"' not in render_html({**report, "unreachable": []}, [])
