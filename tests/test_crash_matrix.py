"""Crash consistency: a `rostersync` process is killed with SIGKILL (as a power cut or the OOM killer would
stop it) at every named point of sync/faults.py, on SQLite and on PostgreSQL, and a rerun must end where
an uninterrupted run does.

Sync points (download, parse, diff, apply, commit): a district synced once is changed in its source (a
night of changes: students renamed, regraded, leaving and arriving with new families), and its second
`rostersync sync` is killed. The directory must be untouched by the killed run (or, killed after its
commit, fully updated), the killed run marked failed, and the next run must give the same directory as a
twin district that synced the same two nights without a crash. Then the relay sends what was queued:
every guardian gets exactly one invitation, none twice and none lost.

Relay points: `rostersync messaging relay` is killed mid-batch; the next relay settles what the dead one
left (asking the SMTP delivery log or the SMS API) and every guardian has exactly one invitation at the
SMTP server or the SMS API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.sftp.transport import _CHUNK as SFTP_CHUNK
from crash_harness import (Rostersync, Sources, chunk_passes_before, codes_received, comparable,
                           messages_per_guardian, peer_module)
from sync.faults import PHASE_OF, PHASES, POINTS
from sync.synthetic import generate_district
from sync.synthetic_mutate import mutate_district

REPO = Path(__file__).resolve().parent.parent

# One school, 12 students, 19 guardians (3 reachable by text only).
ROSTER = generate_district(12, seed=7)
# The second night: a student renamed, one regraded, one leaving (under the 10% archive threshold; three
# guardians go with them), one arriving with a new family of two guardians (two new invitations).
NIGHT_TWO = mutate_district(ROSTER, seed=4, changed=0.15, gone=0.05, new=0.1)

# Sync points: the source each is reached through (else a local drop folder), and at which pass it dies.
SOURCE = {"sftp_listed": "sftp", "sftp_mid_file": "sftp", "sftp_file_fetched": "sftp", "clever_page": "clever",
          "classlink_page": "classlink"}
AFTER = {"sftp_file_fetched": 3, "csv_file_parsed": 2, "classlink_page": 2}
SYNC_POINTS = [p for p in POINTS if PHASE_OF[p] != "relay"]

# Relay points: the killed relay claims batches of BATCH; what the next relay does with the item the dead
# one had in flight.
BATCH = 5
RECOVERY = {
    "relay_claimed": "released",  # the second batch was claimed, none of it sent: released and sent now
    "relay_attempt_recorded": "requeued",  # no delivery log line: never handed over, sent now
    "provider_accepted": "in_doubt",  # the SMTP server took it, no log line yet: reported, never resent
    "delivery_logged": "sent",  # the delivery log says the server accepted it: recorded as sent
    "relay_result_pending": "sent",  # likewise: the log line was written before
}
RELAY_POINTS = [p for p in POINTS if PHASE_OF[p] == "relay"]


@pytest.fixture(scope="module")
def peers():
    """The SMTP server and SMS API, started once for the module; each test starts with them empty."""
    smtp_peer, sms_peer = peer_module("smtp_peer", "messaging"), peer_module("sms_peer", "messaging")
    smtp, controller = smtp_peer.start_smtp()
    sms, server, sms_url = sms_peer.start_sms()
    env = {"ROSTERSYNC_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
           "ROSTERSYNC_MAIL_FROM": "schools@maple.example.org", "ROSTERSYNC_SMS_URL": sms_url,
           "ROSTERSYNC_SMS_ACCOUNT": sms_peer.ACCOUNT, "ROSTERSYNC_SMS_TOKEN": sms_peer.TOKEN,
           "ROSTERSYNC_SMS_FROM": "+15005550006"}
    yield smtp, sms, env
    controller.stop()
    server.shutdown()
    server.server_close()


@pytest.fixture
def world(peers, tmp_path, monkeypatch, request):
    """Messaging configured against the peers (here and in the process to kill), the roster's sources, and
    a temporary folder of the test's own for what a killed process leaves behind."""
    smtp, sms, env = peers
    with smtp.lock:
        smtp.received.clear()
    with sms.lock:
        sms.messages.clear()
    for key, value in {**env, "ROSTERSYNC_DELIVERY_LOG": str(tmp_path / "delivery.log"),
                       "ROSTERSYNC_OUTBOX_DIR": str(tmp_path / "outbox"), "TMPDIR": str(tmp_path / "tmp")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ROSTERSYNC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()
    shared = request.config.pluginmanager.get_plugin(str(REPO / "tests" / "conftest.py"))
    sources = Sources(ROSTER, tmp_path, monkeypatch, shared.missing_service)
    yield smtp, sms, sources
    sources.close()


@pytest.fixture
def process(world, tmp_path):
    """The process the test will kill (started in the test's environment), importing rostersync while the
    test prepares the database."""
    proc = Rostersync(cwd=tmp_path)
    yield proc
    proc.close()


def export(cli, slug: str) -> dict:
    return cli.json("directory", "export", slug, "--format", "json")


def relay(cli) -> dict:
    return cli.json("messaging", "relay", "--once", "--district", "maple", "--json")


def assert_each_guardian_invited_once(directory: dict, smtp, sms) -> None:
    """Every active guardian of the directory got exactly one invitation (none twice, none lost); a guardian
    removed before the relay came got none (the relay cancels it)."""
    per_guardian = messages_per_guardian(directory, smtp, sms)
    assert {g: n for g, n in per_guardian.items() if n != (1 if g[1] == "active" else 0)} == {}
    codes = codes_received(smtp, sms)
    assert len(codes) == len(set(codes)) == sum(per_guardian.values())


@pytest.mark.parametrize("point", SYNC_POINTS)
def test_a_sync_killed_at_any_point_is_rerun_to_the_directory_an_uninterrupted_run_makes(point, cli, db_url,
                                                                                          world, process, tmp_path):
    smtp, sms, sources = world
    kind = SOURCE.get(point, "folder")
    for slug in ("maple", "twin"):  # night one, uninterrupted, in both districts
        cli("district", "add", slug, "--name", slug.title(), *sources.district_args(kind))
        assert cli.json("sync", slug, "--json")["status"] == "succeeded"
    sources.next_night(kind, NIGHT_TWO)
    before = export(cli, "maple")

    after = AFTER.get(point, 1)
    if point == "sftp_mid_file":  # the first chunk of the gradebook, a file of several chunks
        after = chunk_passes_before(sources.sftp_drop, "results.csv", SFTP_CHUNK) + 1
    process.kill_at(point, ["--db", db_url, "sync", "maple", "--json"], marker=tmp_path / "reached", after=after)
    if point == "sftp_mid_file":
        # What the dead run left in its temporary folder: part of the file, the rest never transferred.
        (partial,) = (tmp_path / "tmp").glob("rostersync-drop-*/results.csv")
        assert 0 < partial.stat().st_size < (sources.sftp_drop / "results.csv").stat().st_size

    killed_after_commit = PHASE_OF[point] == "commit"
    if not killed_after_commit:
        assert export(cli, "maple") == before  # nothing half-applied

    rerun = cli.json("sync", "maple", "--json")  # takes over the dead process's lease
    assert rerun["status"] == "succeeded"
    runs = cli.json("runs", "maple", "--json")
    assert [r["status"] for r in runs] == ["succeeded", "succeeded" if killed_after_commit else "failed",
                                           "succeeded"]
    if killed_after_commit:
        assert rerun["directory_state"] == "unchanged"  # the killed run's commit stands; nothing done twice
    else:
        killed = cli.json("report", "maple", "--run", str(runs[1]["run_id"]), "--format", "json")
        assert [e["code"] for e in killed["errors"]] == ["interrupted"]

    assert cli.json("sync", "twin", "--json")["status"] == "succeeded"
    directory = export(cli, "maple")
    assert comparable(directory) == comparable(export(cli, "twin"))
    assert comparable(directory) != comparable(before)  # and the night's changes are in it

    sent = relay(cli)
    assert not sent["in_doubt"] and not sent["unreachable"] and not sent["failed"]
    assert_each_guardian_invited_once(directory, smtp, sms)


@pytest.mark.parametrize("point", RELAY_POINTS)
def test_a_relay_killed_mid_batch_is_recovered_with_one_message_per_guardian(point, cli, db_url, world, process,
                                                                            tmp_path):
    smtp, sms, sources = world
    cli("district", "add", "maple", "--name", "Maple", *sources.district_args("folder"))
    queued = cli.json("sync", "maple", "--json")["invitations_queued"]
    # The relay sends in invitation order; it dies on the third, or the next email after it. Not a text:
    # "the SMS API has no such message" is only believed 90 s after the attempt (messaging/recovery.py),
    # longer than a test waits, so a text killed before its hand-over stays in doubt until then.
    order = sorted(cli.json("invitations", "list", "maple", "--json"), key=lambda i: i["id"])
    target = next(n for n in range(2, len(order)) if order[n]["email"])
    if point == "relay_claimed":
        after = 2  # the second batch claimed
    elif point == "delivery_logged":  # passed by emails only
        after = sum(1 for i in order[:target + 1] if i["email"])
    else:
        after = target + 1
    process.kill_at(point, ["--db", db_url, "messaging", "relay", "--once", "--district", "maple", "--batch-size",
                            str(BATCH), "--json"], marker=tmp_path / "reached", after=after)
    assert 0 < len(codes_received(smtp, sms)) < queued  # killed mid-batch: some families have theirs, not all

    rerun = relay(cli)  # sees the dead relay's process is gone and settles what it held
    recovered = RECOVERY[point]
    assert rerun["recovered"][recovered] == (BATCH if recovered == "released" else 1), rerun["recovered"]
    assert_each_guardian_invited_once(export(cli, "maple"), smtp, sms)
    statuses = [i["status"] for i in cli.json("invitations", "list", "maple", "--json")]
    if recovered == "in_doubt":
        # The one window nothing can close: the server said 250 and the relay died before writing that
        # down. The family got it once; the relay reports it and never resends it on its own.
        assert statuses.count("in_doubt") == 1 and set(statuses) == {"sent", "in_doubt"}
        assert [d["item"] for d in rerun["in_doubt"]] == ["invitation"]
    else:
        assert set(statuses) == {"sent"}
    assert relay(cli)["total_sent"] == 0  # a further relay finds nothing to send


def test_every_crash_point_is_a_checkpoint_in_the_code_and_every_checkpoint_is_listed():
    """The matrix covers the code: each listed point has its checkpoint call (so a test that kills there
    really stops where the list says), and no checkpoint call names an unlisted point. Only
    provider_accepted is in several places: each transport (SMTP, SMS API, outbox) has its own."""
    calls = []
    for folder in ("connectors", "sync", "messaging", "directory"):
        for path in (REPO / folder).rglob("*.py"):
            calls += re.findall(r"""checkpoint\(["']([a-z_]+)["']\)""", path.read_text(encoding="utf-8"))
    assert set(calls) == set(POINTS)
    assert [p for p in set(calls) if calls.count(p) > 1] == ["provider_accepted"]
    assert len(POINTS) >= 20 and set(PHASES) == {"download", "parse", "diff", "apply", "commit", "relay"}
