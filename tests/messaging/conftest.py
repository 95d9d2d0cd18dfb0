"""Fixtures for the messaging tests: a real SMTP server (aiosmtpd) and an SMS API server on loopback,
a receiver for the SMS status callbacks, and a district synced from a generated drop."""

from __future__ import annotations

import shutil

import pytest

from connectors.sftp.drop_writer import write_oneroster_drop
from sms_peer import ACCOUNT, TOKEN, CallbackReceiver, start_sms
from smtp_peer import start_smtp
from sync.synthetic import generate_district

MAIL_FROM = "schools@maple.example.org"
SMS_FROM = "+15005550006"


@pytest.fixture
def smtp():
    peer, controller = start_smtp()
    peer.url = f"smtp://127.0.0.1:{controller.port}"
    yield peer
    controller.stop()


@pytest.fixture
def sms():
    peer, server, url = start_sms()
    peer.url = url
    yield peer
    peer.wait_callbacks()
    server.shutdown()
    server.server_close()


@pytest.fixture
def callbacks():
    receiver = CallbackReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def mail_env(smtp, sms, tmp_path, monkeypatch) -> dict:
    """Both channels configured against the loopback servers; also set in this process for `cli`."""
    env = {"ROSTERSYNC_SMTP_URL": smtp.url, "ROSTERSYNC_MAIL_FROM": MAIL_FROM, "ROSTERSYNC_SMS_URL": sms.url,
           "ROSTERSYNC_SMS_ACCOUNT": ACCOUNT, "ROSTERSYNC_SMS_TOKEN": TOKEN, "ROSTERSYNC_SMS_FROM": SMS_FROM,
           "ROSTERSYNC_DELIVERY_LOG": str(tmp_path / "delivery.log"),
           "ROSTERSYNC_OUTBOX_DIR": str(tmp_path / "outbox")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("ROSTERSYNC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return env


def sync_district(cli, tmp_path, students: int, seed: int = 5, slug: str = "maple") -> dict:
    folder = tmp_path / f"drop-{slug}"
    if folder.exists():
        shutil.rmtree(folder)
    write_oneroster_drop(generate_district(students, seed=seed), folder)
    cli("district", "add", slug, "--name", "Maple USD", "--source", "oneroster-csv", "--path", folder)
    return cli.json("sync", slug, "--json")
