"""One roster, four ways in: Clever API, ClassLink OneRoster 1.1 and 1.2, and a OneRoster CSV drop.
Each district synced from them must reach the same directory."""

from __future__ import annotations

import dataclasses
import time

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop
from sync.sandbox.clever_json import to_clever
from sync.sandbox.clever_server import CleverServer
from sync.sandbox.oneroster_json import to_oneroster_json
from sync.sandbox.oneroster_server import OneRosterServer, iso
from sync.synthetic import generate_district


def common_roster():
    """What every path can carry: OneRoster has no phone types and no emergency-only contacts, and
    ClassLink's read-only scope has no birth dates (compared without them below)."""
    roster = generate_district(120, seed=21)
    guardians = []
    for g in roster.guardians:
        links = tuple(l for l in g.links if l.contact_type != "emergency")
        if links:
            guardians.append(dataclasses.replace(g, phone_type="cell" if g.phone else None, links=links))
    return dataclasses.replace(roster, guardians=guardians)


def shape(cli, slug: str) -> dict:
    data = cli.json("directory", "export", slug, "--format", "json")
    students = {s["id"]: s["external_id"] for s in data["students"]}
    guardians = {g["id"]: (g["email"] or "", g["phone"] or "") for g in data["guardians"]}
    teachers = {t["id"]: t["external_id"] for t in data["teachers"]}
    return {
        "schools": sorted((s["external_id"], s["name"]) for s in data["schools"]),
        "students": sorted((s["external_id"], s["given_name"], s["family_name"], s["student_number"], s["status"])
                           for s in data["students"]),
        "classrooms": sorted((c["external_id"], sorted(students[i] for i in c["student_ids"]),
                              sorted(teachers[i] for i in c["teacher_ids"])) for c in data["classrooms"]),
        "links": sorted((guardians[l["guardian_id"]], students[l["student_id"]]) for l in data["links"]),
    }


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.stop()


def test_four_paths_reach_the_same_directory(cli, tmp_path, monkeypatch, servers):
    roster = common_roster()
    monkeypatch.setenv("T_CLEVER_TOKEN", "clever-token-for-test")
    monkeypatch.setenv("T_CLIENT_ID", "client-id")
    monkeypatch.setenv("T_CLIENT_SECRET", "client-secret-for-test")
    clever = CleverServer(to_clever(roster), "clever-token-for-test").start()
    servers.append(clever)
    cli("district", "add", "via-clever", "--name", "Clever", "--source", "clever", "--clever-token-env",
        "T_CLEVER_TOKEN", "--clever-base-url", clever.url)
    for version in ("1.1", "1.2"):
        server = OneRosterServer(version, "client-id", "client-secret-for-test").start()
        servers.append(server)
        server.load(to_oneroster_json(roster, version, root=server.root, stamp=iso(time.time() - 3600)))
        extra = ["--token-url", server.token_url] if version == "1.2" else []
        cli("district", "add", f"via-classlink-{version.replace('.', '')}", "--name", f"ClassLink {version}",
            "--source", "classlink", "--oneroster-url", server.url, "--oneroster-version", version,
            "--client-id-env", "T_CLIENT_ID", "--client-secret-env", "T_CLIENT_SECRET", *extra)
    write_oneroster_drop(roster, tmp_path / "drop")
    cli("district", "add", "via-csv", "--name", "CSV", "--source", "oneroster-csv", "--path", tmp_path / "drop")

    shapes = {}
    for slug in ("via-csv", "via-clever", "via-classlink-11", "via-classlink-12"):
        report = cli.json("sync", slug, "--json")
        assert report["status"] == "succeeded" and report["mode"] == "full", (slug, report["errors"][:3])
        shapes[slug] = shape(cli, slug)
    assert len(shapes["via-csv"]["students"]) == 120 and shapes["via-csv"]["links"]
    for slug in ("via-clever", "via-classlink-11", "via-classlink-12"):
        for part in ("schools", "students", "classrooms", "links"):
            assert shapes[slug][part] == shapes["via-csv"][part], (slug, part)
