"""A ClassLink district synced end to end through the CLI (`rostersync sync`) from the local OneRoster server:
the directory a school leader exports after the first sync, and after a night with a few changes.
On SQLite, and PostgreSQL when present (the cli fixture)."""

from __future__ import annotations

import json

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop


def export(cli, slug: str) -> dict:
    return cli.json("directory", "export", slug, "--format", "json")


def comparable(data: dict) -> dict:
    """An export keyed by source ids, without row ids, source names and birth dates (OneRoster REST gives
    them only through demographics, which the connector does not read)."""
    ids = {kind: {r["id"]: r["external_id"] for r in data[kind]}
           for kind in ("schools", "students", "guardians", "teachers", "classrooms")}
    drop = {"id", "source", "school_id", "classroom_ids", "teacher_ids", "student_ids", "birth_date"}
    out = {kind: {r["external_id"]: {k: v for k, v in r.items() if k not in drop} for r in data[kind]}
           for kind in ids}
    for r in data["classrooms"]:
        out["classrooms"][r["external_id"]]["students"] = sorted(ids["students"][s] for s in r["student_ids"])
        out["classrooms"][r["external_id"]]["teachers"] = sorted(ids["teachers"][t] for t in r["teacher_ids"])
    out["links"] = sorted((ids["guardians"][link["guardian_id"]], ids["students"][link["student_id"]],
                           link["relationship"], link["contact_type"]) for link in data["links"])
    return out


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_classlink_district_syncs_fully_then_only_the_changes(version, cli, oneroster_server, creds, district,
                                                                tmp_path):
    server = oneroster_server(version)
    env = {"CL_ID": creds[0], "CL_SECRET": creds[1]}
    extra = ["--token-url", server.token_url] if version == "1.2" else []
    cli("district", "add", "maple", "--name", "Maple", "--source", "classlink", "--oneroster-url", server.url,
        "--oneroster-version", version, "--client-id-env", "CL_ID", "--client-secret-env", "CL_SECRET", *extra)
    first = cli("sync", "maple", "--json", env=env)
    assert creds[1] not in first.stdout + first.stderr
    assert json.loads(first.stdout)["status"] == "succeeded"
    via_api = comparable(export(cli, "maple"))
    assert set(via_api["students"]) == {s.external_id for s in district.students}

    # The same roster as a OneRoster CSV drop, synced into a second district, gives the same directory.
    write_oneroster_drop(district, tmp_path / "drop", version)
    cli("district", "add", "oak", "--name", "Oak", "--source", "oneroster-csv", "--path", tmp_path / "drop")
    cli("sync", "oak")
    via_csv = comparable(export(cli, "oak"))
    for kind in via_csv:
        assert via_api[kind] == via_csv[kind], kind

    changed, leaving = district.students[3].external_id, district.students[4].external_id
    server.touch("users", changed, familyName="Okonkwo-Reyes")
    server.delete_user(leaving)
    server.log.clear()
    second = json.loads(cli("sync", "maple", "--json", env=env).stdout)
    assert second["status"] == "succeeded"
    assert {r.query.get("filter", "")[:18] for r in server.log if r.method == "GET"} == {"dateLastModified>'"}

    students = {s["external_id"]: s for s in export(cli, "maple")["students"]}
    assert students[changed]["family_name"] == "Okonkwo-Reyes"
    assert students[leaving]["status"] == "archived"  # tobedeleted in the SIS: archived, never deleted
    assert sum(s["status"] == "active" for s in students.values()) == len(district.students) - 1
