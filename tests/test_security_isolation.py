"""Two districts whose SIS use the SAME ids never see each other's data or credentials (issue #9).

Aldermoor and Quillon are one generated roster (same seed: every sourcedId is shared), with their own
names, emails and phone numbers, dropped for two accounts on one real SSH server. Each account has its
own password in its own environment variable, both set for every run, and the server is jailed per
account (a home folder each) and records every password it is offered. Interleaved syncs, a resync of
one, students leaving one, and a delta for one that names ids the other also has: the other's export
never changes, each run logged in only as its own district, and reports, audit log, runs, invitations,
the export and the web API of one never show the other's records. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil

import pytest
import requests

from connectors.records import RosterBatch, StudentRecord
from connectors.sftp.drop_writer import write_oneroster_drop
from security_support import TESTS, find_leaks, peer_module, reports, run_ids
from sync.synthetic import generate_district

STUDENTS = 30
SEED = 11
A, B = "aldermoor", "quillon"  # slugs, and the mark on every name and contact of that district's SIS
PASSWORDS = {A: "alder-pw-7f2e91c4b8", B: "quill-pw-3a6d05e2f1"}
ENV = {"SFTP_PW_ALDERMOOR": PASSWORDS[A], "SFTP_PW_QUILLON": PASSWORDS[B], "WEB_PW": "a long web passphrase"}


def marked(batch: RosterBatch, mark: str, area: str) -> RosterBatch:
    """The roster with every person's and place's name, email and phone made this district's own (the ids
    are untouched, so both districts share every sourcedId)."""
    title = mark.title()

    def phone(value):
        digits = re.sub(r"\D", "", value or "")
        return f"+1{area}{digits[-7:]}" if digits else value

    def email(value):
        return f"{value.split('@')[0]}@{mark}.example.org" if value else value

    return dataclasses.replace(
        batch,
        schools=[dataclasses.replace(s, name=f"{title} {s.name}") for s in batch.schools],
        classrooms=[dataclasses.replace(c, name=f"{title} {c.name}") for c in batch.classrooms],
        teachers=[dataclasses.replace(t, family_name=f"{title}-{t.family_name}", email=email(t.email))
                  for t in batch.teachers],
        students=[dataclasses.replace(s, given_name=f"{title}{s.given_name}", family_name=f"{title}-{s.family_name}")
                  for s in batch.students],
        guardians=[dataclasses.replace(g, given_name=f"{title}{g.given_name}", family_name=f"{title}-{g.family_name}",
                                       email=email(g.email), phone=phone(g.phone)) for g in batch.guardians])


def leave(batch: RosterBatch, gone: set[str]) -> RosterBatch:
    return dataclasses.replace(
        batch, students=[s for s in batch.students if s.external_id not in gone],
        enrollments=[e for e in batch.enrollments if e.user_id not in gone],
        guardians=[g for g in (dataclasses.replace(g, links=tuple(l for l in g.links if l.student_id not in gone))
                               for g in batch.guardians) if g.links])


@pytest.fixture
def sftp(tmp_path, request):
    """One SSH server, an account (and a home folder it is jailed in) per district."""
    try:
        import asyncssh

        sshd = peer_module("sshd", "sftp")
    except ImportError as exc:
        shared = request.config.pluginmanager.get_plugin(str(TESTS / "conftest.py"))
        shared.missing_service(f"asyncssh is not installed, so there is no SFTP test server ({exc})")

    class Accounts(sshd._Auth):
        def validate_password(self, username: str, password: str) -> bool:
            self._server.logins.append((username, password))
            return PASSWORDS.get(username) == password

    class Home(asyncssh.SFTPServer):
        def __init__(self, chan):
            super().__init__(chan, chroot=os.fsencode(server.root / chan.get_extra_info("username")))

    class TwoAccounts(sshd.SftpTestServer):
        async def _listen(self):
            return await asyncssh.listen(self.host, 0, server_host_keys=[self.host_key],
                                         server_factory=lambda: Accounts(self), sftp_factory=Home, allow_scp=False)

    server = TwoAccounts(tmp_path / "server")
    server.logins = []
    for slug in (A, B):
        (server.root / slug / "outgoing").mkdir(parents=True)
    server.start()
    yield server
    server.stop()


def test_two_districts_sharing_every_id_never_touch_each_other(cli, db_url, sftp, monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    base = generate_district(STUDENTS, seed=SEED)
    roster = {A: marked(base, A, "203"), B: marked(base, B, "312")}

    def drop(slug, batch, mode="bulk"):
        folder = sftp.root / slug / "outgoing"
        shutil.rmtree(folder)
        write_oneroster_drop(batch, folder, mode=mode)

    def export(slug):
        return cli.json("directory", "export", slug, "--format", "json")

    def sync(slug, *args, code=0):
        """Sync (or resync) ``slug``; returns the passwords the server was offered meanwhile, by account."""
        seen = len(sftp.logins)
        cli(*(args or ("sync", slug)), code=code)
        return set(sftp.logins[seen:])

    for slug in (A, B):
        drop(slug, roster[slug])
        cli("district", "add", slug, "--name", slug.title(), "--source", "oneroster-csv", "--sftp-host", sftp.host,
            "--sftp-port", sftp.port, "--sftp-user", slug, "--sftp-password-env", f"SFTP_PW_{slug.upper()}",
            "--sftp-path", "outgoing", "--sftp-host-key", sftp.host_key_line)

    logins = {A: set(), B: set()}
    logins[A] |= sync(A)
    a_first = export(A)
    logins[B] |= sync(B)
    assert export(A) == a_first
    b_first = export(B)
    logins[A] |= sync(A, "resync", A, "--reason", "support checking isolation")
    assert export(B) == b_first

    # Two students leave Quillon's SIS: archived there, not in Aldermoor, which has the same ids.
    gone = {base.students[3].external_id, base.students[4].external_id}
    drop(B, leave(roster[B], gone))
    logins[B] |= sync(B)
    b_after = {s["external_id"]: s["status"] for s in export(B)["students"]}
    assert {k for k, v in b_after.items() if v == "archived"} == gone
    assert export(A) == a_first

    # A delta for Aldermoor naming ids Quillon also has: one renamed, one deleted. Only Aldermoor changes.
    renamed, deleted = base.students[0], base.students[1]
    a_renamed = next(s for s in roster[A].students if s.external_id == renamed.external_id)
    a_deleted = next(s for s in roster[A].students if s.external_id == deleted.external_id)
    delta = RosterBatch(source="oneroster-csv", mode="delta", students=[
        dataclasses.replace(a_renamed, family_name="Aldermoor-Renamed"),
        StudentRecord(**{**{f: getattr(a_deleted, f) for f in a_deleted.__slots__}, "deleted": True})])
    drop(A, delta, mode="delta")
    b_before_delta = export(B)
    logins[A] |= sync(A)
    assert export(B) == b_before_delta
    a_students = {s["external_id"]: s for s in export(A)["students"]}
    assert a_students[renamed.external_id]["family_name"] == "Aldermoor-Renamed"
    assert a_students[deleted.external_id]["status"] == "archived"
    b_students = {s["external_id"]: s for s in b_before_delta["students"]}
    assert b_students[renamed.external_id]["family_name"].startswith("Quillon-")
    assert b_students[deleted.external_id]["status"] == "active"

    # Each district's runs logged in as that district, with its own password, and never as the other.
    assert logins == {A: {(A, PASSWORDS[A])}, B: {(B, PASSWORDS[B])}}

    # Every place one district's data is shown names none of the other's people, places or contacts.
    places = {A: {}, B: {}}
    for slug in (A, B):
        places[slug][f"export {slug}"] = cli("directory", "export", slug, "--format", "json").stdout
        places[slug][f"export {slug} csv"] = cli("directory", "export", slug, "--format", "csv").stdout
        places[slug][f"audit {slug}"] = cli("audit", slug, "--json", "--limit", "10000").stdout
        places[slug][f"invitations {slug}"] = cli("invitations", "list", slug, "--json", "--limit", "10000").stdout
        places[slug][f"search {slug}"] = cli("directory", "search", slug, "a", "--include-archived").stdout
        places[slug].update(reports(cli, slug))
    assert find_leaks({"Quillon's data": B}, places[A], ignore_case=True) == []
    assert find_leaks({"Aldermoor's data": A}, places[B], ignore_case=True) == []
    # The check can fail: every place shows its own district's data (a CSV report of a run that changed
    # nothing has no row to show it in).
    for slug in (A, B):
        shown = {hit.split(" in ", 1)[1] for hit in find_leaks({"own": slug}, places[slug], ignore_case=True)}
        assert all(place.endswith(" csv") for place in set(places[slug]) - shown), set(places[slug]) - shown

    # Ids too: A's runs, rows and audit entries are all A's own.
    runs = {slug: run_ids(cli, slug) for slug in (A, B)}
    assert runs[A] and runs[B] and not set(runs[A]) & set(runs[B])
    for run in runs[B]:
        assert "not found" in cli("report", A, "--run", run, code=4).stderr
    exports = {slug: cli.json("directory", "export", slug, "--format", "json") for slug in (A, B)}
    for kind in ("schools", "classrooms", "teachers", "students", "guardians"):
        assert not {r["id"] for r in exports[A][kind]} & {r["id"] for r in exports[B][kind]}, kind

    # The web API: Aldermoor's district admin sees Aldermoor only; Quillon's addresses answer 403.
    web_isolation(cli, db_url, exports, runs)


def web_isolation(cli, db_url, exports, runs) -> None:
    from directory.db import make_engine
    from sync.web.app import create_app
    from sync.web.server import ServerThread
    from sync.web.settings import WebSettings

    cli("user", "add", "admin@aldermoor.example.org", "--role", "district-admin", "--district", A,
        "--password-env", "WEB_PW")
    token = cli("user", "token", "admin@aldermoor.example.org").stdout.strip()
    engine = make_engine(db_url)
    server = ServerThread(create_app(engine, db_url, WebSettings(
        secret="k" * 40, ephemeral_secret=False, public_url=None, secure_cookies=False, webhook_token=None))).start()
    try:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"

        def get(path):
            return api.get(f"{server.url}{path}", timeout=10)

        assert [d["slug"] for d in get("/api/districts").json()] == [A]
        assert get(f"/api/districts/{A}").status_code == 200
        assert get(f"/api/districts/{B}").status_code == 403
        assert get(f"/api/districts/{B}/runs").status_code == 403
        assert {r["run_id"] for r in get(f"/api/districts/{A}/runs?limit=100").json()} == set(runs[A])
        for run in runs[B]:
            assert get(f"/api/runs/{run}").status_code == 403
        for school in exports[B]["schools"]:
            assert get(f"/api/schools/{school['id']}").status_code == 403
        mine = get(f"/api/schools/{exports[A]['schools'][0]['id']}")
        assert mine.status_code == 200 and B not in mine.text.lower() and "Aldermoor" in mine.text
    finally:
        server.stop()
        engine.dispose()
