"""The load test (issue #9, "Load"): twenty districts resyncing at once on PostgreSQL with three real
`rostersync worker` processes, while three editor processes make manual changes through the real command
line in the same schools for the whole time.

What must hold, as a user would see it:
- every queued resync ran exactly once and succeeded; no run report, worker log or command mentions a
  deadlock or a serialization failure; the whole thing ends well within its timeout (a hang is what a
  deadlock looks like from outside);
- every allowed edit (a guardian's number where the sync does not manage guardians, a contact status
  reset, an invitation resent, an announcement, a student and guardian added in a hand-made school, a
  guardian linked by hand or by support overriding the lock) is in the final directory and in the audit
  log: none was lost to a sync that read the directory before it and wrote after it;
- every locked attempt (enroll or archive in a synced school; add or edit guardians where the sync manages
  them) got exit 8 and the one-line error naming the school and its source, and changed nothing;
- a parent who joins (the platform's report) while runs go on keeps their own number: no run writes the
  SIS's over it. The second test makes that race happen every time (it did write over it, until
  directory/run_lock.py).

Run them alone with `.venv/bin/pytest -m load` (PostgreSQL; skipped without it, failed under
ROSTERSYNC_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.sftp.drop_writer import write_oneroster_drop
from directory.audit import Actor
from directory.db import make_engine, session_factory
from directory.districts import get_district
from directory.service import DirectoryService
from load_helpers import (LOCK_MESSAGE, VICTIM_WORDS, Setup, WarmCli, error_lines, make_groups, overlapping,
                          read_results)
from ops_helpers import ROSTERSYNC, Process, assert_no_overlap, runs, wait_for
from sync.run import run_sync
from sync.workers import queue_resync

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
              pytest.mark.skipif(not ROSTERSYNC.exists(), reason="console script not installed (pip install -e .)")]

DISTRICTS, STUDENTS, WORKERS, EDITORS = 20, 40, 3, 3
GROUPS = ("Cedar", "Harbor", "Lincoln", "Summit")  # every group's roster goes to five districts
TIMEOUT = 180  # seconds for all the resyncs; a hang (the symptom of a deadlock) fails here
WORKER_ARGS = ["worker", "--tick", "1", "--stall-timeout", "30", "--relay-every", "0"]
EDITOR = Path(__file__).with_name("load_editor.py")
REASON = "load test: SIS re-exported every district"


def add_districts(cli, tmp_path: Path, groups) -> list[tuple[str, object, bool]]:
    """Twenty districts from one TOML file (`district load`), each synced once (the first night).

    Half let the sync manage guardians; in the other half that is turned off after the first sync has
    made them (so staff may edit them by hand). Every group's roster goes to five districts.
    """
    districts = [(f"d{i:02d}", groups[i % len(groups)], i < DISTRICTS // 2) for i in range(DISTRICTS)]
    (tmp_path / "districts.toml").write_text("".join(
        f'[[district]]\nslug = "{slug}"\nname = "{group.name} USD {slug}"\nsource = "oneroster-csv"\n'
        f'path = "{group.folder}"\n[district.settings]\nschedule = "0 0 1 1 *"\n\n'  # nothing falls due
        for slug, group, _ in districts))
    cli("district", "load", tmp_path / "districts.toml")
    for slug, _, _ in districts:
        cli("sync", slug)
    return districts


def set_up_district(cli, slug: str, group, manages_guardians: bool, outbox_env: dict) -> Setup:
    """A hand-made school with one guardian whose invitation was sent; the ids the editors work on."""
    if not manages_guardians:
        cli("district", "set", slug, "sync_manages_guardians", "off")
    data = cli.json("directory", "export", slug, "--format", "json")
    (school,) = data["schools"]
    hand = cli.json("school", "add", slug, "--name", "Evening Annex", "--json")["id"]
    student = cli.json("student", "enroll", slug, "--school", hand, "--given-name", "Setup", "--family-name",
                       "Family", "--json")["id"]
    cli("guardian", "add", slug, student, "--email", f"setup.{slug}@load.example.org")
    cli("invitations", "send", slug, "--school", hand, env=outbox_env)
    (invitation,) = cli.json("invitations", "list", slug, "--school", hand, "--json")
    assert invitation["status"] == "sent"
    guardians = {g["external_id"]: g["id"] for g in data["guardians"] if g["external_id"]}
    students = {s["external_id"]: s["id"] for s in data["students"]}
    targets = {guardians[k]: k for k in group.targets}
    joiners = {guardians[k]: k for k in group.joiners} if manages_guardians else {}
    stable = {students[k]: k for k in group.stable}
    # For the locked edit attempts: a synced guardian who keeps a student in the synced school on night 2
    # (one whose students all left has no school, so no lock applies to them).
    synced_guardian = min({link["guardian_id"] for link in data["links"] if link["student_id"] in stable}
                          & set(guardians.values()) - set(targets) - set(joiners))
    return Setup(slug, group, manages_guardians, school["name"], school["id"], hand, invitation["id"], targets,
                 stable, synced_guardian, joiners, {g["id"]: g["phone"] for g in data["guardians"]})


def bounce_targets(cli, tmp_path: Path, groups) -> None:
    """The target guardians' emails bounced (as the email provider reports it): staff will reset them."""
    events = tmp_path / "bounces.json"
    emails = [g.email for group in groups for g in group.night2.guardians if g.external_id in group.targets]
    events.write_text(json.dumps([{"type": "bounce", "email": e, "bounce": "hard"} for e in emails]))
    cli("messaging", "event", events)


def start_editors(db_url: str, tmp_path: Path, setups: list[Setup], env: dict) -> list[tuple]:
    editors = []
    for i in range(EDITORS):
        name = f"editor{i + 1}"
        plan = {"db": db_url, "name": name, "serial": 600_000 + 50_000 * i, "results": str(tmp_path / f"{name}.jsonl"),
                "stop": str(tmp_path / "stop"), "districts": [s.editor_plan() for s in setups[i::EDITORS]]}
        (tmp_path / f"{name}.plan.json").write_text(json.dumps(plan))
        err = (tmp_path / f"{name}.err").open("w")
        proc = subprocess.Popen([sys.executable, str(EDITOR), str(tmp_path / f"{name}.plan.json")], cwd=tmp_path,
                                stdout=err, stderr=subprocess.STDOUT,
                                env={**os.environ, **env, "ROSTERSYNC_ACTOR": name})
        editors.append((name, proc, tmp_path / f"{name}.jsonl"))
    return editors


def workers_ready(engine) -> int:
    """Workers registered in the queue (procrastinate's table, made by the first worker)."""
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT to_regclass('procrastinate_workers')")) is None:
            return 0
        return conn.scalar(sa.text("SELECT count(*) FROM procrastinate_workers"))


def test_twenty_districts_resync_with_workers_while_staff_edit_the_same_schools(db_url, tmp_path):
    t_start = time.monotonic()
    outbox = tmp_path / "outbox"
    (tmp_path / "messaging.toml").write_text("[messaging]\n")  # no servers: messages become outbox files
    env = {"ROSTERSYNC_OUTBOX_DIR": str(outbox), "ROSTERSYNC_DELIVERY_LOG": str(tmp_path / "delivery.log"),
           "ROSTERSYNC_SMTP_URL": "", "ROSTERSYNC_SMS_URL": "", "ROSTERSYNC_CONFIG": str(tmp_path / "messaging.toml")}
    cli = WarmCli(db_url)
    cli("init")
    groups = make_groups(tmp_path, GROUPS, STUDENTS)
    districts = add_districts(cli, tmp_path, groups)
    workers: list[Process] = []
    editors: list[tuple] = []
    engine = make_engine(db_url)
    try:
        # The workers start now (nothing is due: every district was just synced) and get ready while the
        # rest is set up.
        for i in range(WORKERS):
            workers.append(Process(db_url, WORKER_ARGS, tmp_path, f"w{i}", env={**env, "ROSTERSYNC_MODE": "workers"}))
        setups = [set_up_district(cli, slug, group, manages, env) for slug, group, manages in districts]
        bounce_targets(cli, tmp_path, groups)
        for group in groups:  # the SIS's next export lands in every group's folder
            write_oneroster_drop(group.night2, group.folder)
        t_setup = time.monotonic() - t_start
        # Editing starts before anything is queued, so no run ever has the directory to itself.
        editors = start_editors(db_url, tmp_path, setups, env)
        wait_for(lambda: workers_ready(engine) == WORKERS, 90, "the workers to start", workers)
        wait_for(lambda: all(f.exists() and f.stat().st_size for _, _, f in editors), 60, "every editor's first edit",
                 [p for _, p, _ in editors])
        t_load = time.monotonic()
        # All twenty queued in one burst (what `rostersync resync` does in worker mode), as support would
        # after the SIS re-exported every district. Four at a time: each call opens a queue connection pool
        # of four connections, and the server's hundred are shared with the workers and the editors.
        with ThreadPoolExecutor(4) as pool:
            queued = list(pool.map(lambda s: queue_resync(db_url, engine, s.slug, REASON, "sam.support"), setups))
        assert all(q.job_id and not q.already_queued for q in queued)

        def all_resynced():
            by = runs(db_url)
            return all(any(r.trigger == "resync" and r.status != "running" for r in by.get(s.slug, []))
                       for s in setups)
        wait_for(all_resynced, TIMEOUT, "every queued resync to finish", [*workers, *(p for _, p, _ in editors)])
        t_load = time.monotonic() - t_load
    finally:
        engine.dispose()
        (tmp_path / "stop").touch()  # the editors finish what they are doing; the workers, idle now, stop
        for w in workers:
            if w.poll() is None:
                w.signal(signal.SIGTERM)
        for _, proc, _ in editors:
            try:
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
        for w in workers:
            try:
                assert w.wait(timeout=60) == 0, w.err.read_text()[-3000:]
            finally:
                w.kill()
    for name, proc, _ in editors:
        assert proc.returncode == 0, f"{name} failed:\n{(tmp_path / f'{name}.err').read_text()[-3000:]}"

    ops = read_results([f for _, _, f in editors])
    by = runs(db_url)
    print(f"\nsetup {t_setup:.1f}s, load {t_load:.1f}s (queued to last run finished), {len(ops)} manual commands")
    try:
        check_runs(by, setups, workers, ops, tmp_path)
        check_commands(ops, {s.slug: s for s in setups})
        check_directory(cli, db_url, setups, ops, outbox)
    finally:
        cli.close()


def check_runs(by, setups, workers, ops, tmp_path) -> None:
    """Each queued resync ran once and succeeded; no deadlock or serialization failure anywhere."""
    resyncs = [r for s in setups for r in by[s.slug] if r.trigger == "resync"]
    assert len(resyncs) == len(setups)  # runs == queued: none lost, none doubled
    for s in setups:
        assert [(r.trigger, r.status) for r in by[s.slug]] == [("manual", "succeeded"), ("resync", "succeeded")], \
            by[s.slug][-1].report
        assert_no_overlap(by[s.slug])
        counts = by[s.slug][-1].report["counts"]
        assert counts["students"]["updated"] and counts["students"]["archived"] == 2  # night 2 was applied
        if s.manages_guardians:  # the three new numbers at least
            assert counts["guardians"]["updated"] >= 3
        else:  # guardians left alone, whatever the SIS says
            assert counts["guardians"]["updated"] == counts["guardians"]["created"] == 0
    assert {r.host.rsplit(":", 1)[-1] for r in resyncs} <= {str(w.pid) for w in workers}

    texts = [json.dumps([r.report for v in by.values() for r in v])]
    texts += [w.err.read_text() + w.stdout() for w in workers]
    texts += [(tmp_path / f"editor{i + 1}.err").read_text() for i in range(EDITORS)]
    texts += [op["stderr"] + op["stdout"] for op in ops]
    for text in texts:
        for word in VICTIM_WORDS:
            assert word not in text.lower(), f"{word!r} found: ...{text[max(0, text.lower().find(word) - 500):][:1000]}"

    # The edits really met the runs: commands on a district while its resync was writing.
    met = [op for r in resyncs for op in overlapping(ops, r)]
    assert len({op["district"] for op in met}) >= len(setups) // 4, "the editors never met a run"
    print(f"{len(met)} commands ran during their district's resync, in "
          f"{len({op['district'] for op in met})} districts")


def check_commands(ops, setups: dict[str, Setup]) -> None:
    """Every allowed command succeeded and every locked one got exit 8 with the lock's message."""
    for op in ops:
        assert op["crash"] is None, op
        assert op["exit"] == op["expect"], f"{op['op']} on {op['district']}: exit {op['exit']}: {op['stderr']}"
        if op["expect"] == 8:
            expected = LOCK_MESSAGE.format(function=op["function"], school=setups[op["district"]].school)
            assert error_lines(op["stderr"]) == [expected], op["stderr"]
        else:
            assert not error_lines(op["stderr"]), op["stderr"]
    kinds = Counter(op["op"] for op in ops)
    wanted = {"enroll_hand", "join", "add_hand_guardian", "resend", "reset", "announce", "phone_edit",
              "add_synced_guardian", "override_add", "locked_enroll", "locked_archive", "locked_guardian_edit",
              "locked_guardian_add"}
    assert set(kinds) == wanted, kinds
    print("commands:", dict(sorted(kinds.items())))


def check_directory(cli, db_url, setups: list[Setup], ops, outbox: Path) -> None:
    """Every allowed edit is in the final directory and the audit log; the locked ones left no trace."""
    engine = make_engine(db_url)
    for s in setups:
        mine = [op for op in ops if op["district"] == s.slug]
        data = cli.json("directory", "export", s.slug, "--format", "json")
        students = {x["id"]: x for x in data["students"]}
        guardians = {x["id"]: x for x in data["guardians"]}
        links = {(x["guardian_id"], x["student_id"]): x for x in data["links"]}
        audit = cli.json("audit", s.slug, "--limit", "100000", "--json")[::-1]  # oldest first
        by_user = [e for e in audit if e["actor"].startswith("editor")]

        def entries(action, **match):
            return [e for e in by_user if e["action"] == action
                    and all((e.get(k) if k in ("entity_id", "actor_type", "reason") else (e["after"] or {}).get(k))
                            == v for k, v in match.items())]

        for op in mine:
            out = json.loads(op["stdout"]) if "--json" in op["args"] else None
            kind = op["op"]
            if kind == "enroll_hand":
                student = students[out["id"]]
                assert (student["school_id"], student["status"], student["source"]) == (s.hand_school, "active", None)
                assert entries("student.enroll", entity_id=out["id"])
            elif kind in ("add_hand_guardian", "add_synced_guardian", "override_add"):
                guardian, student = guardians[out["id"]], op["student"]
                assert guardian["status"] == "active" and guardian["email"] == out["email"]
                assert (out["id"], student) in links, f"{kind}: hand-made link {out['id']}->{student} lost"
                assert entries("guardian.link", entity_id=out["id"], student_id=student)
                if kind == "override_add":
                    assert entries("lock.override", entity_id=student, actor_type="support",
                                   reason=op["args"][op["args"].index("--override-lock") + 1])
            elif kind == "reset":
                assert guardians[op["guardian"]]["email_status"] == "ok"
                assert entries("guardian.contact_reset", entity_id=op["guardian"])
            elif kind == "announce":
                shown = cli.json("announce", s.slug, "--show", out["announcement_id"], "--json")
                assert shown["recipients"] == out["recipients"] >= 1 and shown["subject"] == out["subject"]
            elif kind == "resend":
                assert out["queued"] == [s.invitation] and out["relay"]["total_sent"] == 1, out
            elif kind.startswith("locked_"):
                assert not op["stdout"]
        # Numbers edited by hand where the sync does not manage guardians: the last one typed stays, every
        # one is in the audit log, in order, and the SIS's new number did not overwrite it.
        for guardian_id, external_id in s.targets.items():
            typed = [op["args"][op["args"].index("--phone") + 1] for op in mine
                     if op["op"] == "phone_edit" and op["guardian"] == guardian_id]
            edits = [e["after"]["phone"] for e in entries("guardian.edit", entity_id=guardian_id)]
            phone = guardians[guardian_id]["phone"]
            if s.manages_guardians:
                assert phone == s.group.targets[external_id]  # the sync's update beside the hand reset
                assert any(e["action"] == "sync.update" and e["entity_id"] == guardian_id
                           and e["after"].get("phone") == phone for e in audit)
            else:
                assert len(edits) == len(typed) and phone != s.group.targets[external_id]
                assert not typed or phone == edits[-1]
            reset = any(op["op"] == "reset" and op["guardian"] == guardian_id for op in mine)
            assert guardians[guardian_id]["email_status"] == ("ok" if reset else "unreachable")
        # Parents who joined: no run wrote the SIS's number over theirs after they joined, and the number
        # is the SIS's new one only if a run changed it while they were still pending.
        for guardian_id, external_id in s.joiners.items():
            joined = [e["id"] for e in audit if e["action"] == "guardian.joined" and e["entity_id"] == guardian_id]
            changed = [e["id"] for e in audit if e["action"] == "sync.update" and e["entity_id"] == guardian_id
                       and "phone" in e["after"]]
            assert all(c < j for c in changed for j in joined), \
                f"{s.slug}: a run wrote the SIS's number over guardian {guardian_id}, who had joined"
            expected = s.group.joiners[external_id] if changed else s.phones[guardian_id]
            assert guardians[guardian_id]["phone"] == expected
            assert guardians[guardian_id]["state"] == ("joined" if joined else "pending")
        # Locked attempts changed nothing.
        assert not [x for x in students.values() if x["given_name"] == "Locked"]
        assert all(students[i]["status"] == "active" for i in s.stable_students)
        assert not [e for e in by_user if e["action"] in ("student.archive", "lock.override")
                    and e["actor_type"] != "support"]
        # The resent invitation: counted once per resend, and one file in the outbox per sending.
        resends = sum(op["op"] == "resend" for op in mine)
        (invitation,) = [i for i in cli.json("invitations", "list", s.slug, "--school", s.hand_school, "--json")
                         if i["id"] == s.invitation]
        assert (invitation["status"], invitation["resends"]) == ("sent", resends)
        with engine.connect() as conn:
            code = conn.scalar(sa.text("SELECT join_code FROM invitations WHERE id = :i"), {"i": s.invitation})
        assert sum(code in f.read_text(errors="replace") for f in outbox.iterdir()) == resends + 1
    engine.dispose()


def test_a_guardian_who_joins_while_a_sync_decides_keeps_their_own_contacts(db_url, tmp_path):
    """The race behind "no lost update": the platform reports a guardian joined while a run is between
    reading the directory (guardian pending) and writing it (the SIS's new number). A joined parent's
    contacts are theirs (README, sync_updates_joined_contacts off), so the run must not write over them.

    Made deterministic: the joined report's transaction is held open while the run starts; the test
    commits it only once the run is waiting on it in PostgreSQL (pg_blocking_pids).
    """
    cli = WarmCli(db_url)
    cli("init")
    (group,) = make_groups(tmp_path, ("Birch",), 20)
    cli("district", "add", "birch", "--name", "Birch USD", "--source", "oneroster-csv", "--path", group.folder)
    cli("sync", "birch")
    write_oneroster_drop(group.night2, group.folder)  # the SIS gives some guardians a new number
    data = cli.json("directory", "export", "birch", "--format", "json")
    (guardian,) = [g for g in data["guardians"] if g["external_id"] == sorted(group.targets)[0]]
    engine = make_engine(db_url)
    factory = session_factory(engine)
    outcome: list = []
    joined = factory()
    try:
        with joined.begin():
            svc = DirectoryService(joined, Actor("user", "platform"), get_district(joined, "birch"))
            svc.mark_joined(guardian["id"])
            joined.flush()
            holder = joined.scalar(sa.text("SELECT pg_backend_pid()"))
            run = threading.Thread(target=lambda: outcome.append(run_sync(engine, "birch", trigger="manual")))
            run.start()

            def run_waits_for_us():
                with engine.connect() as conn:
                    return conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity "
                                               "WHERE :pid = ANY(pg_blocking_pids(pid))"), {"pid": holder})
            wait_for(run_waits_for_us, 30, "the run to wait for the joined report's transaction")
        run.join(timeout=60)
        assert outcome and not run.is_alive(), "the run did not finish once the joined report committed"
    finally:
        joined.close()
        engine.dispose()
    assert outcome[0].status == "succeeded", outcome[0].report
    after = {g["id"]: g for g in cli.json("directory", "export", "birch", "--format", "json")["guardians"]}
    assert after[guardian["id"]]["state"] == "joined"
    assert after[guardian["id"]]["phone"] == guardian["phone"] != group.targets[guardian["external_id"]]
    assert "joined_contact_differs" in {w["code"] for w in outcome[0].report["warnings"]}
    cli.close()
