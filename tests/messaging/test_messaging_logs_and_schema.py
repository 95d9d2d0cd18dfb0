"""No contact detail reaches a log line while messages are sent; the 0002 migration upgrades a database
that already holds queued invitations (each gets its own join code), on SQLite and PostgreSQL."""

from __future__ import annotations

from structlog.testing import capture_logs

from conftest import sync_district


def test_the_relay_logs_ids_and_outcomes_never_addresses(cli, tmp_path, mail_env, smtp, sms):
    sync_district(cli, tmp_path, 12, seed=4)
    data = cli.json("directory", "export", "maple", "--format", "json")
    victim = next(g for g in data["guardians"] if g["email"] and g["phone"])
    smtp.refuse[victim["email"]] = (550, f"5.1.1 <{victim['email']}> No such user")
    with capture_logs() as logs:
        cli("messaging", "relay", "--once")
    assert any(e["event"] == "message_sent" for e in logs)
    assert any(e["event"] == "message_refused" for e in logs)
    text = repr(logs)
    contacts = [g["email"] for g in data["guardians"] if g["email"]] + [g["phone"] for g in data["guardians"]
                                                                        if g["phone"]]
    assert not [c for c in contacts if c in text]


def test_upgrading_from_0001_gives_queued_invitations_join_codes(db_url, tmp_path):
    from alembic import command
    from sqlalchemy import text

    from directory import migrate
    from directory.db import make_engine

    engine = make_engine(db_url)
    cfg = migrate._config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO districts (slug, name, source_config, default_channel, auto_invite, "
                          "archive_threshold_pct, sync_manages_guardians, sync_updates_joined_contacts, "
                          "excluded_contact_types, max_guardians_per_student, phone_region, paused, created_at, "
                          "updated_at) VALUES ('old', 'Old', '{}', 'email', true, 10, true, false, '[]', 6, 'US', "
                          "false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO guardians (district_id, given_name, family_name, email, email_status, "
                          "phone_status, state, status, created_at, updated_at) SELECT id, 'A', 'B', "
                          "'a@example.org', 'ok', 'ok', 'pending', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                          "FROM districts"))
        for _ in range(3):
            conn.execute(text("INSERT INTO invitations (district_id, guardian_id, kind, status, created_at) "
                              "SELECT district_id, id, 'invite', 'queued', CURRENT_TIMESTAMP FROM guardians"))
    with engine.begin() as conn:  # to this revision (later ones build on it)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    assert migrate.current_revision(engine) == "0002"
    with engine.connect() as conn:
        codes = [r[0] for r in conn.execute(text("SELECT join_code FROM invitations"))]
        attempts = {r[0] for r in conn.execute(text("SELECT attempts FROM invitations"))}
    assert len(codes) == len(set(codes)) == 3 and all(len(c) == 14 for c in codes) and attempts == {0}
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert migrate.current_revision(engine) == "0001"
    engine.dispose()

