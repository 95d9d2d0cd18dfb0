"""Secrets never appear where people or other systems can read them (issue #9).

Known secret values are given the way operators give them, through environment variables: a Clever
district token, a OneRoster client id and secret (and the access tokens the server issues for them), an
SFTP password, an SMTP password, an SMS API token, the web app's session key, a web account's password,
its API token and the webhook token, plus WRONG values for each login that fails. Syncs, relays and web
requests run with them at DEBUG, with JSON and console logs, succeeding and failing (a refused password,
401, 500 then recovery, a broken answer). Then none of those strings may appear in: the log lines, the
command output and error lines, every run report (JSON, CSV, HTML), `district show` and the exports,
or any column of any table of the database. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from connectors.sftp.drop_writer import write_oneroster_drop
from security_support import TESTS, database_text, find_leaks, invoke, peer_module, reports
from sync.sandbox.clever_json import to_clever
from sync.sandbox.clever_server import CleverServer
from sync.sandbox.oneroster_json import to_oneroster_json
from sync.sandbox.oneroster_server import OneRosterServer
from sync.synthetic import generate_district

ROSTERSYNC = Path(sys.executable).parent / "rostersync"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

# The values are distinctive so a hit can only be the secret itself; the OneRoster secret has the
# characters that percent-encoding and Basic auth must carry (a leak in encoded form would be missed
# otherwise, so those forms are searched for too, see `variants`).
SYNC_SECRETS = {
    "CLEVER_TOKEN": "clvr-3f9a1c77e0b24d5e9a61",
    "CLEVER_TOKEN_WRONG": "clvr-wrong-0c8e2b61aa94d",
    "OR_CLIENT_ID": "orcid-5d2c8e1b7a44",
    "OR_CLIENT_SECRET": "orsec/9B+e=q&7f~41d2c0",
    "OR_CLIENT_SECRET_WRONG": "orsec-wrong-6e1f3b9d07",
    "SFTP_PW": "sftp pw 8c1d4e7a2f",
    "SFTP_PW_WRONG": "sftp-wrong-2b7f90c1e5",
}
MESSAGING_SECRETS = {
    "SMTP_PW": "smtp-pw-71c9e4a0d3b8",
    "SMTP_PW_WRONG": "smtp-wrong-4d0b8e2c61",
    "SMS_TOKEN_WRONG": "sms-wrong-9e3c51a7f2",
    "ROSTERSYNC_WEB_SECRET": "websecret-" + "8d41f0c6b2e97a53" * 3,
    "WEB_PW": "web pass d7a2c9e04b16",
    "WEB_PW_WRONG": "web-wrong-3c8f1e06a9",
    "ROSTERSYNC_WEBHOOK_TOKEN": "hook-token-5b9e2d7c40f1a8",
}


def variants(secrets: dict[str, str]) -> dict[str, str]:
    """Each secret as written, and percent-encoded when that differs (URLs, form bodies)."""
    from urllib.parse import quote, quote_plus

    out = dict(secrets)
    for name, value in secrets.items():
        for kind, encoded in (("quoted", quote(value, safe="")), ("form", quote_plus(value))):
            if encoded != value:
                out[f"{name} ({kind})"] = encoded
    return out


def logged(result, places: dict, name: str, code: int) -> None:
    assert result.exit_code == code, f"{name}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    places[f"{name}: stdout"] = result.stdout
    places[f"{name}: stderr (logs and errors)"] = result.stderr


def database_and_views(cli, db_url: str, slugs: list[str]) -> dict[str, str]:
    places = {f"database table {t}": text for t, text in database_text(db_url).items()}
    for slug in slugs:
        places[f"district show {slug}"] = cli("district", "show", slug).stdout
        places[f"export {slug}"] = cli("directory", "export", slug, "--format", "json").stdout
        places[f"audit {slug}"] = cli("audit", slug, "--json", "--limit", "10000").stdout
        places.update(reports(cli, slug))
    return places


def test_source_credentials_never_leak(cli, db_url, tmp_path, monkeypatch, request):
    for name, value in SYNC_SECRETS.items():
        monkeypatch.setenv(name, value)
    roster = generate_district(20, seed=4)
    places: dict[str, str] = {}

    # Clever: a full pull, events after a 500 burst (retried), a wrong token (401), a broken answer.
    clever = CleverServer(to_clever(roster), SYNC_SECRETS["CLEVER_TOKEN"]).start()
    try:
        cli("district", "add", "clev", "--name", "Clever USD", "--source", "clever", "--clever-token-env",
            "CLEVER_TOKEN", "--clever-base-url", clever.url)
        logged(invoke(db_url, "sync", "clev"), places, "clever sync", 0)
        clever.change_student(roster.students[0].external_id, last="Renamed")
        clever.fail_next(500, 500)
        seen = len(clever.log)
        logged(invoke(db_url, "sync", "clev", fmt="console"), places, "clever sync after 500s", 0)
        assert [r.status for r in clever.log[seen:]].count(500) == 2
        logged(invoke(db_url, "resync", "clev", "--reason", "token check", env={
            "CLEVER_TOKEN": SYNC_SECRETS["CLEVER_TOKEN_WRONG"]}), places, "clever wrong token", 2)
        clever.bad_body = {"unexpected": "shape"}
        logged(invoke(db_url, "resync", "clev", "--reason", "bad body", fmt="console"), places, "clever bad body", 1)
    finally:
        clever.stop()

    # ClassLink OneRoster 1.2: OAuth 2 client credentials; then a wrong secret.
    oneroster = OneRosterServer("1.2", SYNC_SECRETS["OR_CLIENT_ID"], SYNC_SECRETS["OR_CLIENT_SECRET"])
    oneroster.load(to_oneroster_json(roster, "1.2", root=oneroster.root))
    oneroster.start()
    try:
        cli("district", "add", "link", "--name", "ClassLink USD", "--source", "classlink", "--oneroster-url",
            oneroster.url, "--oneroster-version", "1.2", "--client-id-env", "OR_CLIENT_ID", "--client-secret-env",
            "OR_CLIENT_SECRET", "--token-url", oneroster.token_url)
        logged(invoke(db_url, "sync", "link", fmt="console"), places, "oneroster sync", 0)
        issued = {f"OneRoster access token {n}": t for n, t in enumerate(oneroster.tokens)}
        assert issued, "the server issued no token: the check below would prove nothing"
        logged(invoke(db_url, "resync", "link", "--reason", "secret check", env={
            "OR_CLIENT_SECRET": SYNC_SECRETS["OR_CLIENT_SECRET_WRONG"]}), places, "oneroster wrong secret", 2)
    finally:
        oneroster.stop()

    # SFTP: a password login, then a wrong password (in a real process too: paramiko logs from its thread).
    try:
        sshd = peer_module("sshd", "sftp")
    except ImportError as exc:
        request.config.pluginmanager.get_plugin(str(TESTS / "conftest.py")).missing_service(
            f"asyncssh is not installed, so there is no SFTP test server ({exc})")
    server = sshd.SftpTestServer(tmp_path / "server", user="district-9", password=SYNC_SECRETS["SFTP_PW"])
    write_oneroster_drop(roster, server.root / "outgoing")
    server.start()
    try:
        cli("district", "add", "drop", "--name", "SFTP USD", "--source", "oneroster-csv", "--sftp-host", server.host,
            "--sftp-port", server.port, "--sftp-user", server.user, "--sftp-password-env", "SFTP_PW",
            "--sftp-path", "outgoing", "--sftp-host-key", server.host_key_line)
        logged(invoke(db_url, "sync", "drop"), places, "sftp sync", 0)
        wrong = invoke(db_url, "resync", "drop", "--reason", "pw check", fmt="console",
                       env={"SFTP_PW": SYNC_SECRETS["SFTP_PW_WRONG"]})
        logged(wrong, places, "sftp wrong password", 2)
        if ROSTERSYNC.exists():
            out = subprocess.run([str(ROSTERSYNC), "--db", db_url, "--log-level", "DEBUG", "resync", "drop",
                                  "--reason", "pw check"], capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "SFTP_PW": SYNC_SECRETS["SFTP_PW_WRONG"]})
            assert out.returncode == 2, out.stderr
            places["sftp wrong password (process): stdout"] = out.stdout
            places["sftp wrong password (process): stderr"] = out.stderr
    finally:
        server.stop()

    places.update(database_and_views(cli, db_url, ["clev", "link", "drop"]))
    assert any('"level": "debug"' in text or '"level": "info"' in text for text in places.values())
    # Each failure still says clearly what is wrong (without the value that was wrong).
    for name, says in (("clever wrong token", "the credentials were refused"),
                       ("oneroster wrong secret", "the credentials were refused"),
                       ("sftp wrong password", "was refused: wrong password or key"),
                       ("clever bad body", "not a page of Clever data")):
        assert says in places[f"{name}: stdout"], places[f"{name}: stdout"]
    leaks = find_leaks(variants({**SYNC_SECRETS, **issued}), places)
    assert leaks == [], leaks
    # The credentials are referred to by the variables that hold them, and nothing else.
    configs = {slug: json.loads(cli("district", "show", slug).stdout)["source_config"]
               for slug in ("clev", "link", "drop")}
    assert configs["clev"]["clever_token_env"] == "CLEVER_TOKEN"
    assert configs["link"]["client_secret_env"] == "OR_CLIENT_SECRET"
    assert configs["drop"]["sftp_password_env"] == "SFTP_PW"


@pytest.fixture
def smtp_with_login():
    """A real SMTP server on loopback that requires AUTH (LOGIN/PLAIN) and records what it was offered."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    smtp_peer = peer_module("smtp_peer", "messaging")
    peer = smtp_peer.SmtpPeer()
    peer.offered = []

    def authenticate(server, session, envelope, mechanism, data):
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        peer.offered.append((data.login.decode(), data.password.decode()))
        ok = data.login == b"mailer" and data.password == MESSAGING_SECRETS["SMTP_PW"].encode()
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself

    controller = Controller(peer, hostname="127.0.0.1", port=smtp_peer.free_port(), authenticator=authenticate,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    peer.port = controller.port
    yield peer
    controller.stop()


def test_messaging_and_web_secrets_never_leak(cli, db_url, tmp_path, monkeypatch, smtp_with_login):
    from sync.logs import configure_logging, reset_logging

    sms_peer = peer_module("sms_peer", "messaging")
    sms, sms_server, sms_url = sms_peer.start_sms()
    secrets = {**MESSAGING_SECRETS, "SMS_TOKEN": sms_peer.TOKEN}
    config = tmp_path / "rostersync.toml"
    config.write_text(f'[messaging]\nsmtp_url = "smtp://mailer@127.0.0.1:{smtp_with_login.port}?starttls=off"\n'
                      'smtp_password_env = "SMTP_PW"\nsms_token_env = "SMS_TOKEN"\n', encoding="utf-8")
    env = {"ROSTERSYNC_CONFIG": str(config), "ROSTERSYNC_MAIL_FROM": "schools@maple.example.org",
           "ROSTERSYNC_SMS_URL": sms_url, "ROSTERSYNC_SMS_ACCOUNT": sms_peer.ACCOUNT,
           "ROSTERSYNC_SMS_FROM": "+15005550006", "ROSTERSYNC_DELIVERY_LOG": str(tmp_path / "delivery.log"),
           "ROSTERSYNC_OUTBOX_DIR": str(tmp_path / "outbox"), **secrets}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ROSTERSYNC_SMS_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    places: dict[str, str] = {}
    try:
        for slug, seed in (("maple", 6), ("oak", 8)):
            write_oneroster_drop(generate_district(8, seed=seed), tmp_path / slug)
            cli("district", "add", slug, "--name", slug.title(), "--source", "oneroster-csv", "--path", tmp_path / slug)
            cli("sync", slug)
        # Both logins wrong: nothing can be sent, and the errors must not quote what was offered.
        failing = invoke(db_url, "messaging", "relay", "--once", "--json", "--district", "maple",
                         env={"SMTP_PW": secrets["SMTP_PW_WRONG"], "SMS_TOKEN": secrets["SMS_TOKEN_WRONG"]})
        places["relay, wrong logins: stdout"], places["relay, wrong logins: stderr"] = failing.stdout, failing.stderr
        outcome = json.loads(failing.stdout)
        assert outcome["total_sent"] == 0 and outcome["deferred"], failing.stdout
        assert "refused the login" in failing.stdout and "401" in failing.stdout
        assert ("mailer", secrets["SMTP_PW_WRONG"]) in smtp_with_login.offered
        ok = invoke(db_url, "messaging", "relay", "--once", "--json", "--district", "oak", fmt="console")
        places["relay: stdout"], places["relay: stderr"] = ok.stdout, ok.stderr
        assert json.loads(ok.stdout)["total_sent"] > 0 and smtp_with_login.received and sms.messages
    finally:
        sms_server.shutdown()
        sms_server.server_close()

    # The web app: sessions signed with the key from the environment; a right and a wrong password, the
    # API with the account's token and a wrong one, the webhook with its token in the query string.
    cli("user", "add", "ops@rostersync.example.org", "--role", "support", "--password-env", "WEB_PW")
    token = cli("user", "token", "ops@rostersync.example.org").stdout.strip()
    secrets["web API token"] = token
    web_log = io.StringIO()
    configure_logging("json", "DEBUG", stream=web_log)
    try:
        web_requests(db_url, secrets, places)
    finally:
        reset_logging()
    places["web app log"] = web_log.getvalue()
    assert "web_login" in places["web app log"]

    places.update(database_and_views(cli, db_url, ["maple", "oak"]))
    leaks = find_leaks(variants(secrets), places)
    assert leaks == [], leaks
    # The password and token are kept only as one-way hashes, so the database holds neither.
    users = places["database table web_users"]
    assert "scrypt" in users and secrets["WEB_PW"] not in users


def web_requests(db_url: str, secrets: dict, places: dict) -> None:
    from directory.db import make_engine
    from sync.web.app import create_app
    from sync.web.server import ServerThread

    engine = make_engine(db_url)
    server = ServerThread(create_app(engine, db_url)).start()  # settings from the environment
    try:
        base = server.url
        session = requests.Session()
        page = session.get(f"{base}/login", timeout=10).text
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        wrong = session.post(f"{base}/login", data={"email": "ops@rostersync.example.org", "csrf_token": csrf,
                                                    "password": secrets["WEB_PW_WRONG"], "next": "/"},
                             allow_redirects=False, timeout=10)
        assert wrong.status_code == 401 and "do not match" in wrong.text
        places["login refusal page"] = wrong.text
        page = session.get(f"{base}/login", timeout=10).text
        csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        right = session.post(f"{base}/login", data={"email": "ops@rostersync.example.org", "csrf_token": csrf,
                                                    "password": secrets["WEB_PW"], "next": "/"},
                             allow_redirects=False, timeout=10)
        assert right.status_code == 303, right.text
        places["web pages"] = session.get(f"{base}/", timeout=10).text + session.get(f"{base}/districts/maple",
                                                                                      timeout=10).text
        api = requests.get(f"{base}/api/districts", headers={"Authorization": f"Bearer {secrets['web API token']}"},
                           timeout=10)
        assert api.status_code == 200
        places["web API"] = api.text
        denied = requests.get(f"{base}/api/districts", headers={"Authorization": f"Bearer {secrets['WEB_PW_WRONG']}"},
                              timeout=10)
        assert denied.status_code == 401
        places["web API refusal"] = denied.text
        hook = requests.post(f"{base}/hooks/email?token={secrets['ROSTERSYNC_WEBHOOK_TOKEN']}",
                             json={"type": "delivered", "key": "no-such-key"}, timeout=10)
        assert hook.status_code < 500, hook.text
        places["webhook answer"] = hook.text
    finally:
        server.stop()
        engine.dispose()
