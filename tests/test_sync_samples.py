"""The public OneRoster samples (../shared/samples, read in place) through a whole sync."""

from __future__ import annotations

import json

import pytest


def sync_sample(cli, folder, code=0):
    cli("district", "add", "sample", "--name", "Sample", "--source", "oneroster-csv", "--path", folder)
    r = cli("sync", "sample", "--json", code=code)
    return json.loads(r.stdout), cli.json("directory", "export", "sample", "--format", "json")


@pytest.mark.parametrize("name", ["Test_full_data_set", "Test_minimal_data_set"])
def test_moodle_1_1_sets_report_users_without_a_school_by_file_and_line(cli, samples_dir, name):
    # These sets' only org is a department (no school), so no student can be placed: each such row is
    # reported with its file and line, the run still succeeds, and what can be used (teachers) is.
    report, data = sync_sample(cli, samples_dir / "moodle-enrol_oneroster" / name)
    assert report["status"] == "succeeded" and report["mode"] == "full"
    no_school = [e for e in report["errors"] if e["code"] == "no_school" and e["file"] == "users.csv"]
    assert no_school and all(e["line"] >= 2 and e["record"].startswith("usr-") for e in no_school)
    assert data["students"] == [] and len(data["teachers"]) == 2


def test_oneroster_1_2_delta_creates_without_archiving(cli, samples_dir):
    report, data = sync_sample(cli, samples_dir / "moodle-enrol_oneroster" / "oneroster_test_data")
    assert report["status"] == "succeeded" and report["mode"] == "delta"
    assert report["counts"]["students"]["created"] == len(data["students"]) == 1
    assert all(c["archived"] == 0 for k, c in report["counts"].items() if "archived" in c)


def test_defective_1_2_set_reports_its_defects_with_file_and_line(cli, samples_dir):
    report, data = sync_sample(cli, samples_dir / "moodle-enrol_oneroster" / "v1p2_full_dataset")
    problems = report["errors"] + report["warnings"]
    assert any(p.get("file") == "manifest.csv" and p.get("line") for p in problems)
    assert report["status"] == "succeeded" and data["students"] == []


def test_set_missing_required_columns_is_refused_whole(cli, samples_dir):
    report, data = sync_sample(cli, samples_dir / "oat-sa-oneroster-import" / "OneRosterv1p1BaseCSV", code=1)
    assert report["status"] == "failed" and report["directory_state"] == "failed"
    message = report["errors"][0]["message"]
    assert "academicSessions.csv" in message and "schoolYear" in message
    assert data["schools"] == data["students"] == data["teachers"] == []
