"""Messages per second from `rostersync messaging relay --once` to the loopback SMTP server (not a test).

    .venv/bin/python tests/messaging/bench_relay.py [STUDENTS] [sqlite|postgres]

Syncs a generated district into a fresh database, points the relay at an aiosmtpd server on 127.0.0.1
(SMS at the loopback SMS API), and times one relay run over every invitation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sms_peer import ACCOUNT, TOKEN, start_sms  # noqa: E402
from smtp_peer import start_smtp  # noqa: E402

from connectors.sftp.drop_writer import write_oneroster_drop  # noqa: E402
from sync.synthetic import generate_district  # noqa: E402

ROSTERSYNC = str(Path(sys.executable).parent / "rostersync")


def main() -> None:
    students = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    kind = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    folder = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    if kind == "sqlite":
        db = f"sqlite:///{folder}/bench.db"
    else:
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        base = "postgresql+psycopg://postgres@127.0.0.1:5432/rostersync_test"
        with sa.create_engine(base).begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        db = f"{base}?options=-csearch_path%3D{schema}"
    smtp, controller = start_smtp()
    sms, server, sms_url = start_sms()
    env = {**os.environ, "ROSTERSYNC_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
           "ROSTERSYNC_MAIL_FROM": "schools@bench.example.org", "ROSTERSYNC_SMS_URL": sms_url,
           "ROSTERSYNC_SMS_ACCOUNT": ACCOUNT, "ROSTERSYNC_SMS_TOKEN": TOKEN, "ROSTERSYNC_SMS_FROM": "+15005550006",
           "ROSTERSYNC_DELIVERY_LOG": str(folder / "delivery.log")}

    def run(*args: str) -> str:
        return subprocess.run([ROSTERSYNC, "--db", db, *args], env=env, check=True, capture_output=True,
                              text=True).stdout

    write_oneroster_drop(generate_district(students, seed=1), folder / "drop")
    run("init")
    run("district", "add", "bench", "--name", "Bench", "--source", "oneroster-csv", "--path", str(folder / "drop"))
    queued = json.loads(run("sync", "bench", "--json"))["invitations_queued"]
    started = time.perf_counter()
    report = json.loads(run("messaging", "relay", "--once", "--batch-size", "100", "--json"))
    elapsed = time.perf_counter() - started
    print(f"{kind}: {queued} invitations, {report['sent']['email']} emails to the loopback SMTP server and "
          f"{report['sent']['sms']} texts in {elapsed:.1f} s (process start included): "
          f"{report['total_sent'] / elapsed:.0f} messages/s; received {len(smtp.received)} + {len(sms.messages)}")
    controller.stop()
    server.shutdown()


if __name__ == "__main__":
    main()
