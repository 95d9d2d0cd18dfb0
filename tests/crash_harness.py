"""The crash matrix's tools (tests/test_crash_matrix.py): one generated roster served as each kind of source,
a real `rostersync` process killed at a named point, and what families received.

Everything is a real peer on loopback: the asyncssh SFTP server of tests/sftp/sshd.py, the Clever and
OneRoster fakes of sync/sandbox/, the SMTP server and SMS API of tests/messaging/. Those test modules live
in folders without __init__.py (pytest puts each folder on sys.path only while collecting it), so they
are loaded here by path, under the names their own conftest files import them by.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from peers import peer_module  # noqa: F401 - re-exported for the tests

from connectors.records import RosterBatch
from connectors.sftp.drop_writer import write_oneroster_drop
from connectors.sftp.drops import MANIFEST
from sync.sandbox.clever_json import to_clever
from sync.sandbox.clever_server import TOKEN as CLEVER_TOKEN
from sync.sandbox.clever_server import CleverServer
from sync.sandbox.oneroster_json import to_oneroster_json
from sync.sandbox.oneroster_server import OneRosterServer

TESTS = Path(__file__).resolve().parent
CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")  # a join code

CLIENT_ID, CLIENT_SECRET = "crash-matrix-client", "crash-matrix-secret"
SFTP_PASSWORD_ENV, CLEVER_TOKEN_ENV = "RS_CRASH_SFTP_PASSWORD", "RS_CRASH_CLEVER_TOKEN"
CLIENT_ID_ENV, CLIENT_SECRET_ENV = "RS_CRASH_CLIENT_ID", "RS_CRASH_CLIENT_SECRET"


# ------------------------------------------------------------------------------------- killing a process
# The console script's own entry point (`rostersync = "sync.cli:main"`), imported before the test needs the
# process: importing rostersync takes a second or more, which the test spends preparing the database
# instead. When told, the process takes the arguments and the environment of that moment and runs
# main() as `rostersync ARGS` would.
_LAUNCHER = """
import json, os, sys
from sync.cli import main
order = json.loads(sys.stdin.readline())
os.environ.clear()
os.environ.update(order["env"])
sys.argv = ["rostersync", *order["argv"]]
sys.exit(main())
"""


class Rostersync:
    """A `rostersync` process, started (and importing) at once, given its command later by ``kill_at``."""

    def __init__(self, cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def kill_at(self, point: str, argv: list[str], *, marker: Path, after: int = 1, timeout: float = 60) -> int:
        """Run ``rostersync ARGV`` (with this process's environment) until its ``after``-th pass through
        ``point``, SIGKILL it there, and return its pid (gone by then). Fails, with the process's
        stderr, if it ends or stalls before the point."""
        env = {**os.environ, "ROSTERSYNC_FAULT_POINT": point, "ROSTERSYNC_FAULT_AFTER": str(after),
               "ROSTERSYNC_FAULT_FILE": str(marker)}
        proc = self.proc
        proc.stdin.write(json.dumps({"argv": list(map(str, argv)), "env": env}).encode() + b"\n")
        proc.stdin.close()
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"rostersync {' '.join(map(str, argv))} ended (exit {proc.returncode}) before "
                                     f"{point} (pass {after}):\n{proc.stderr.read().decode()}")
            assert time.monotonic() < deadline, f"never reached {point} (pass {after}) within {timeout:g} s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL and marker.read_text() == point
        return proc.pid

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not stream.closed:
                stream.close()


# ------------------------------------------------------------------------------------------ what to compare
def comparable(export: dict) -> dict:
    """A directory export keyed by source ids, without row ids, so two districts can be compared field by
    field: every school, teacher, classroom, student and guardian (status, names, contacts, contact status,
    joined or not), who is in which class and school, and every guardian link."""
    kinds = ("schools", "teachers", "classrooms", "students", "guardians")
    ids = {kind: {r["id"]: r["external_id"] or r.get("email") or r.get("phone") for r in export[kind]}
           for kind in kinds}
    refs = {"school_id": "schools", "teacher_ids": "teachers", "student_ids": "students",
            "classroom_ids": "classrooms"}
    out: dict = {}
    for kind in kinds:
        rows = {}
        for r in export[kind]:
            row = {k: v for k, v in r.items() if k != "id" and k not in refs}
            for k, target in refs.items():
                if k in r:
                    row[k] = sorted(ids[target][i] for i in r[k]) if isinstance(r[k], list) else ids[target].get(r[k])
            rows[ids[kind][r["id"]]] = row
        out[kind] = rows
    out["links"] = sorted((ids["guardians"][l["guardian_id"]], ids["students"][l["student_id"]],
                           l["relationship"] or "", l["contact_type"] or "") for l in export["links"])
    return out


def messages_per_guardian(export: dict, smtp, sms) -> dict[tuple[int, str], int]:
    """For each guardian of the export, by (directory id, status): how many messages reached them, by email
    or by text."""
    emails = Counter(address.lower() for r in smtp.received for address in r.to)
    texts = Counter(m["to"] for m in sms.messages)
    return {(g["id"], g["status"]): emails.get((g["email"] or "").lower(), 0) + texts.get(g["phone"] or "", 0)
            for g in export["guardians"]}


def codes_received(smtp, sms) -> list[str]:
    found = [code for r in smtp.received for code in CODE.findall(r.text)]
    return found + [code for m in sms.messages for code in CODE.findall(m["body"])]


# ------------------------------------------------------------------------------------------- roster sources
def write_gradebook(folder: Path, roster: RosterBatch, items: int = 80) -> None:
    """Add a OneRoster gradebook (results.csv, listed in the manifest) to a drop: a file the directory does
    not read, but that a real drop carries and the SFTP transfer copies, larger than one download chunk."""
    with open(folder / "results.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["sourcedId", "status", "dateLastModified", "lineItemSourcedId", "studentSourcedId",
                      "scoreStatus", "score", "scoreDate", "comment"])
        for n in range(items):
            for i, s in enumerate(roster.students):
                out.writerow([f"res-{n:03d}-{s.external_id}", "active", "2025-01-01T00:00:00.000Z", f"li-{n:03d}",
                              s.external_id, "fully graded", (i * 7 + n * 3) % 100, "2025-01-01",
                              "handed in on time, complete and neatly presented"])
    manifest = folder / MANIFEST
    listed = manifest.read_text().replace("file.results,absent", "file.results,bulk")
    assert "file.results,bulk" in listed, "the drop writer's manifest changed: list results.csv another way"
    manifest.write_text(listed)


def chunk_passes_before(folder: Path, name: str, chunk: int) -> int:
    """How many chunks a drop download hands over before the first one of ``name``: the order in which
    connectors.sftp.drops.take_drop copies files (the manifest first, then by name)."""
    order = sorted(os.listdir(folder), key=lambda n: (n != MANIFEST, n))
    return sum(math.ceil((folder / n).stat().st_size / chunk) for n in order[:order.index(name)])


class Sources:
    """One generated roster served as a local drop folder, an SFTP drop, the Clever API or ClassLink's
    OneRoster API. A server starts when a test first asks for its kind and stops at teardown."""

    def __init__(self, roster: RosterBatch, root: Path, monkeypatch, missing_service):
        self.roster = roster
        self.root = root
        self.monkeypatch = monkeypatch
        self.missing_service = missing_service
        self.servers: dict[str, object] = {}

    # The arguments of `rostersync district add SLUG --name N ...` for a kind of source.
    def district_args(self, kind: str) -> list[str]:
        if kind == "folder":
            folder = self.root / "drop"
            if not folder.exists():
                write_oneroster_drop(self.roster, folder)
            return ["--source", "oneroster-csv", "--path", str(folder)]
        if kind == "sftp":
            server = self._sftp()
            return ["--source", "oneroster-csv", "--sftp-host", server.host, "--sftp-port", str(server.port),
                    "--sftp-user", server.user, "--sftp-password-env", SFTP_PASSWORD_ENV, "--sftp-path", "outgoing",
                    "--sftp-host-key", server.host_key_line]
        if kind == "clever":
            server = self._clever()
            return ["--source", "clever", "--clever-token-env", CLEVER_TOKEN_ENV, "--clever-base-url", server.url]
        if kind == "classlink":
            server = self._classlink()
            return ["--source", "classlink", "--oneroster-url", server.url, "--oneroster-version", "1.1",
                    "--client-id-env", CLIENT_ID_ENV, "--client-secret-env", CLIENT_SECRET_ENV]
        raise ValueError(kind)

    @property
    def sftp_drop(self) -> Path:
        return self.servers["sftp"].root / "outgoing"

    def next_night(self, kind: str, night: RosterBatch) -> None:
        """The SIS changes overnight: a drop is replaced whole; an API records the changes as changes
        (Clever events, OneRoster dateLastModified), so the next pull is incremental."""
        if kind in ("folder", "sftp"):
            folder = self.root / "drop" if kind == "folder" else self.sftp_drop
            for f in folder.iterdir():
                f.unlink()
            write_oneroster_drop(night, folder)
            if kind == "sftp":
                write_gradebook(folder, night)
            return
        renamed, leaving = self.roster.students[1].external_id, self.roster.students[2].external_id
        if kind == "clever":
            self.servers["clever"].change_student(renamed, last="Okonkwo-Reyes")
            self.servers["clever"].remove_student(leaving)
        else:
            self.servers["classlink"].touch("users", renamed, familyName="Okonkwo-Reyes")
            self.servers["classlink"].delete_user(leaving)

    def _sftp(self):
        if "sftp" not in self.servers:
            try:
                sshd = peer_module("sshd", "sftp")
            except ImportError as exc:
                self.missing_service(f"asyncssh is not installed, so there is no SFTP test server ({exc})")
            server_root = self.root / "sftp-server"
            (server_root / "outgoing").mkdir(parents=True)
            write_oneroster_drop(self.roster, server_root / "outgoing")
            write_gradebook(server_root / "outgoing", self.roster)
            self.servers["sftp"] = sshd.SftpTestServer(server_root).start()
            self.monkeypatch.setenv(SFTP_PASSWORD_ENV, self.servers["sftp"].password)
        return self.servers["sftp"]

    def _clever(self):
        if "clever" not in self.servers:
            self.servers["clever"] = CleverServer(to_clever(self.roster), CLEVER_TOKEN).start()
            self.monkeypatch.setenv(CLEVER_TOKEN_ENV, CLEVER_TOKEN)
        return self.servers["clever"]

    def _classlink(self):
        if "classlink" not in self.servers:
            server = OneRosterServer("1.1", CLIENT_ID, CLIENT_SECRET)
            server.load(to_oneroster_json(self.roster, "1.1", root=server.root))
            self.servers["classlink"] = server.start()
            self.monkeypatch.setenv(CLIENT_ID_ENV, CLIENT_ID)
            self.monkeypatch.setenv(CLIENT_SECRET_ENV, CLIENT_SECRET)
        return self.servers["classlink"]

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
