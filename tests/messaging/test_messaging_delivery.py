"""Invitations and announcements delivered through real servers on loopback (SMTP and an SMS API), on
SQLite and PostgreSQL: one message per invitation, fallback between channels, contact status, dry runs."""

from __future__ import annotations

import json
import re

from conftest import sync_district

CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")


def codes_received(smtp, sms) -> list[str]:
    found = [m for r in smtp.received for m in CODE.findall(r.text)]
    found += [m for s in sms.messages for m in CODE.findall(s["body"])]
    return found


def invitations(cli, *args) -> list[dict]:
    return cli.json("invitations", "list", "maple", *args, "--json")


def test_each_invitation_is_one_message_and_a_second_relay_sends_nothing(cli, tmp_path, mail_env, smtp, sms):
    report = sync_district(cli, tmp_path, 60)
    queued = report["invitations_queued"]
    assert queued > 50
    first = cli.json("messaging", "relay", "--once", "--json")
    assert first["total_sent"] == queued and not first["unreachable"] and not first["in_doubt"]
    again = cli.json("messaging", "relay", "--once", "--json")
    assert again["total_sent"] == 0
    received = codes_received(smtp, sms)
    assert len(received) == len(set(received)) == queued  # one message per invitation, none twice
    rows = invitations(cli)
    assert {r["status"] for r in rows} == {"sent"}
    assert sorted(received) == sorted(cli_codes(cli))
    # Email is the district's default; guardians with only a mobile number got a text.
    assert first["sent"]["email"] == len(smtp.received) and first["sent"]["sms"] == len(sms.messages) > 0
    # A message names one family only: the guardian's own name, never another guardian's.
    names = {r["guardian_id"]: r["guardian_name"] for r in rows}
    one = smtp.received[0]
    assert sum(name in one.text for name in names.values() if name) == 1


def cli_codes(cli) -> list[str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(cli.url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        codes = [r[0] for r in conn.execute(text("SELECT join_code FROM invitations"))]
    engine.dispose()
    return codes


def test_nothing_is_sent_on_a_dry_run(cli, tmp_path, mail_env, smtp, sms):
    folder = tmp_path / "drop"
    from connectors.sftp.drop_writer import write_oneroster_drop
    from sync.synthetic import generate_district

    write_oneroster_drop(generate_district(20, seed=2), folder)
    cli("district", "add", "maple", "--name", "Maple USD", "--source", "oneroster-csv", "--path", folder)
    dry = cli.json("sync", "maple", "--dry-run", "--json")
    assert dry["invitations_planned"] > 0 and dry["invitations_queued"] == 0
    assert cli.json("messaging", "relay", "--once", "--json")["total_sent"] == 0
    cli("sync", "maple")
    plan = cli.json("invitations", "send", "maple", "--dry-run", "--json")
    assert plan["dry_run"] and plan["would_send"]["email"] > 0 and plan["total_sent"] == 0
    plan = cli.json("messaging", "relay", "--once", "--dry-run", "--json")
    assert plan["would_send"]["email"] > 0
    assert smtp.received == [] and sms.messages == []
    assert {r["status"] for r in invitations(cli)} == {"queued"}
    some = invitations(cli)[0]["guardian_id"]
    dry_announce = cli.json("announce", "maple", "--guardian", some, "--subject", "Trip", "--message", "Bring a hat",
                            "--dry-run", "--json")
    assert dry_announce["recipients"] == 1 and smtp.received == [] and sms.messages == []


def _guardian_with_both(cli) -> dict:
    data = cli.json("directory", "export", "maple", "--format", "json")
    return next(g for g in data["guardians"] if g["email"] and g["phone"] and g["status"] == "active")


def test_a_bounced_email_falls_back_to_sms_and_after_a_reset_email_is_used_again(cli, tmp_path, mail_env, smtp, sms):
    sync_district(cli, tmp_path, 12, seed=4)
    g = _guardian_with_both(cli)
    smtp.refuse[g["email"]] = (550, "5.1.1 No such user here")
    relay = cli.json("messaging", "relay", "--once", "--json")
    assert relay["fallbacks"] >= 1
    assert smtp.to(g["email"]) == [] and len(sms.to(g["phone"])) == 1  # the text carries the invitation
    assert CODE.search(sms.to(g["phone"])[0]["body"])
    row = next(r for r in invitations(cli) if r["guardian_id"] == g["id"])
    assert row["status"] == "sent" and row["channel"] == "sms" and row["email_status"] == "unreachable"
    assert row["email_reason"] == "invalid" and row["email"].startswith(g["email"][0] + "***@")

    # While the address is unreachable, the next message goes by SMS without trying email.
    cli("announce", "maple", "--guardian", g["id"], "--subject", "Picture day", "--message", "Friday at 9.")
    assert len(sms.to(g["phone"])) == 2 and smtp.to(g["email"]) == []

    # The family fixed their address; staff reset it: the next message goes by email again.
    del smtp.refuse[g["email"]]
    reset = cli.json("contact", "reset", "maple", g["id"], "--json")
    assert reset["reset"] == ["email"] and reset["email_status"] == "ok"
    report = cli.json("announce", "maple", "--guardian", g["id"], "--subject", "Concert", "--message", "Tuesday.",
                      "--json")
    assert report["by_channel"] == {"email": 1, "sms": 0}
    assert len(smtp.to(g["email"])) == 1 and len(sms.to(g["phone"])) == 2


def test_a_full_inbox_is_unreachable_with_its_reason_and_shows_in_the_school_report(cli, tmp_path, mail_env, smtp, sms):
    sync_district(cli, tmp_path, 12, seed=4)
    g = _guardian_with_both(cli)
    smtp.refuse[g["email"]] = (452, "4.2.2 Mailbox full")
    sms.refuse[g["phone"]] = (400, 21211)
    relay = cli.json("messaging", "relay", "--once", "--json")
    item = next(u for u in relay["unreachable"] if u["guardian_id"] == g["id"])
    assert item["reasons"] == {"email": "inbox_full", "sms": "invalid"}
    from directory.db import make_engine, session_factory
    from directory.models import District
    from messaging.unreachable import unreachable_by_school

    engine = make_engine(cli.url)
    with session_factory(engine)() as s:
        district_id = s.query(District.id).filter_by(slug="maple").scalar()
        schools = unreachable_by_school(s, district_id)
    engine.dispose()
    entry = next(e for school in schools for e in school["guardians"] if e["guardian_id"] == g["id"])
    assert entry["unreachable"] and entry["reachable_by"] == []
    by_channel = {c["channel"]: c for c in entry["channels"]}
    assert by_channel["email"]["reason"] == "inbox_full" and "full" in by_channel["email"]["fix"]
    assert by_channel["email"]["contact"] == g["email"][0] + "***@" + g["email"].split("@")[1]
    assert by_channel["sms"]["contact"].startswith("+1") and by_channel["sms"]["contact"].endswith(g["phone"][-4:])
    assert g["email"] not in json.dumps(schools) and g["phone"] not in json.dumps(schools)


def test_an_opted_out_number_is_never_texted(cli, tmp_path, mail_env, smtp, sms):
    sync_district(cli, tmp_path, 12, seed=4)
    g = _guardian_with_both(cli)
    cli("district", "set", "maple", "default_channel", "sms")
    stop = tmp_path / "stop.json"
    stop.write_text(json.dumps({"From": g["phone"], "To": "+15005550006", "Body": "STOP"}))
    applied = cli.json("messaging", "event", stop, "--json")
    assert applied["matched"] == 1 and applied["results"][0]["contact_status"] == "opted_out"
    cli("messaging", "relay", "--once")
    assert sms.to(g["phone"]) == [] and len(smtp.to(g["email"])) == 1  # SMS preferred, but never into a STOP
    # Staff cannot lift an opt-out; a reset leaves it and says so.
    cli("contact", "reset", "maple", g["id"], "--channel", "sms", code=5)
    assert cli.json("contact", "reset", "maple", g["id"], "--json")["kept_opted_out"] == ["sms"]
    # With the email gone too, the guardian is reported, and still not texted.
    smtp.refuse[g["email"]] = (550, "5.1.1 No such user")
    report = cli.json("announce", "maple", "--guardian", g["id"], "--subject", "Closure", "--message", "Snow day.",
                      "--json")
    assert report["unreachable"][0]["guardian_id"] == g["id"] and sms.to(g["phone"]) == []
    assert "opted_out" in report["unreachable"][0]["reason"]
    # The provider refusing a number that replied STOP to it (error 21610) marks it opted out as well.
    other = next(x for x in cli.json("directory", "export", "maple", "--format", "json")["guardians"]
                 if x["phone"] and x["id"] != g["id"] and x["status"] == "active")
    sms.refuse[other["phone"]] = (400, 21610)
    texts_before = len(sms.to(other["phone"]))
    cli("announce", "maple", "--guardian", other["id"], "--subject", "Closure", "--message", "Snow day.")
    assert len(sms.to(other["phone"])) == texts_before  # refused by the provider, not delivered
    row = next(r for r in invitations(cli) if r["guardian_id"] == other["id"])
    assert row["sms_status"] == "opted_out"


def test_an_undelivered_sms_status_callback_sends_the_invitation_by_email(cli, tmp_path, mail_env, smtp, sms,
                                                                           callbacks, monkeypatch):
    monkeypatch.setenv("ROSTERSYNC_SMS_STATUS_CALLBACK", callbacks.url)
    sync_district(cli, tmp_path, 12, seed=4)
    cli("district", "set", "maple", "default_channel", "sms")
    g = _guardian_with_both(cli)
    sms.undeliver[g["phone"]] = 30005  # unknown handset: accepted, then undelivered
    cli("messaging", "relay", "--once")
    assert len(sms.to(g["phone"])) == 1 and smtp.to(g["email"]) == []
    sms.wait_callbacks()
    events = tmp_path / "callbacks.json"
    events.write_text(json.dumps(callbacks.forms))
    applied = cli.json("messaging", "event", events, "--json")
    assert applied["unmatched"] == 0 and applied["requeued"] == 1
    relay = cli.json("messaging", "relay", "--once", "--json")
    assert relay["sent"] == {"email": 1, "sms": 0}
    assert len(smtp.to(g["email"])) == 1 and len(sms.to(g["phone"])) == 1
    row = next(r for r in invitations(cli) if r["guardian_id"] == g["id"])
    assert row["sms_status"] == "unreachable" and row["sms_reason"] == "invalid" and row["channel"] == "email"
    # The code in the email is the same invitation's code as in the text.
    assert CODE.search(smtp.to(g["email"])[0].text).group() == CODE.search(sms.to(g["phone"])[0]["body"]).group()


def test_resend_keeps_the_join_code_and_print_makes_a_page_per_guardian(cli, tmp_path, mail_env, smtp, sms):
    sync_district(cli, tmp_path, 12, seed=4)
    cli("messaging", "relay", "--once")
    rows = invitations(cli)
    first = rows[0]
    before = len(smtp.received) + len(sms.messages)
    result = cli.json("invitations", "resend", "maple", first["id"], "--json")
    assert result["queued"] == [first["id"]] and result["relay"]["total_sent"] == 1
    assert len(smtp.received) + len(sms.messages) == before + 1
    codes = codes_received(smtp, sms)
    assert len(codes) == len(set(codes)) + 1  # the resend carries the same code again
    school = cli.json("school", "list", "maple", "--json")[0]["id"]
    bulk = cli.json("invitations", "resend", "maple", "--school", school, "--queue-only", "--json")
    assert len(bulk["queued"]) == len({r["guardian_id"] for r in rows if r["kind"] == "invite"})
    html = tmp_path / "invites.html"
    printed = cli.json("invitations", "print", "maple", "--school", school, "-o", html, "--json")
    assert printed["pages"] == len(bulk["queued"])
    page = html.read_text()
    assert page.count('class="page"') == printed["pages"] and "<script" not in page
    assert all(c in page for c in cli_codes(cli))
    pdf = tmp_path / "invites.pdf"
    cli("invitations", "print", "maple", "--school", school, "--format", "pdf", "-o", pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    assert data.count(b"/Type /Page ") == printed["pages"]


def test_a_guardian_added_by_hand_is_invited_and_an_account_linked_gets_a_class_notice(cli, tmp_path, mail_env,
                                                                                        smtp, sms):
    cli("district", "add", "oak", "--name", "Oak USD")
    school = cli.json("school", "add", "oak", "--name", "Oak Elementary", "--json")["id"]
    s1 = cli.json("student", "enroll", "oak", "--school", school, "--given-name", "Ana", "--family-name", "Ruiz",
                  "--json")["id"]
    s2 = cli.json("student", "enroll", "oak", "--school", school, "--given-name", "Leo", "--family-name", "Park",
                  "--json")["id"]
    g = cli.json("guardian", "add", "oak", s1, "--email", "maria.ruiz@example.org", "--json")
    pending = cli.json("invitations", "list", "oak", "--json")
    assert [(r["kind"], r["status"], r["guardian_id"]) for r in pending] == [("invite", "queued", g["id"])]
    cli("messaging", "relay", "--once")
    assert "Ana" in smtp.to("maria.ruiz@example.org")[0].text and "Leo" not in smtp.to("maria.ruiz@example.org")[0].text
    cli("guardian", "joined", "oak", g["id"])
    cli("guardian", "add", "oak", s2, "--email", "maria.ruiz@example.org", "--phone", "+14155550123",
        "--invite-existing", code=0)
    notices = [r for r in cli.json("invitations", "list", "oak", "--json") if r["kind"] == "added"]
    assert len(notices) == 1 and notices[0]["student_id"] == s2
    cli("messaging", "relay", "--once")
    notice = smtp.to("maria.ruiz@example.org")[-1]
    assert "added" in notice.message["Subject"] and "Leo" in notice.text and not CODE.search(notice.text)
    cli("district", "set", "oak", "auto_invite", "off")
    cli("guardian", "add", "oak", s2, "--email", "sam.park@example.org")
    assert len(cli.json("invitations", "list", "oak", "--json")) == 2  # no invitation with auto_invite off


def test_the_report_lists_exactly_the_guardians_the_contact_rule_finds_a_problem_with(cli, tmp_path):
    # The query filters in SQL for speed; every mix of present, missing, ok and failed contacts must give
    # the same guardians as the rule itself (guardian_problems) applied to every active family.
    import itertools

    from sqlalchemy import select, update

    from directory.db import make_engine, session_factory
    from directory.models import ACTIVE, District, Guardian, GuardianLink, Student
    from messaging.unreachable import guardian_problems, unreachable_by_school

    sync_district(cli, tmp_path, 40, seed=2)
    combos = list(itertools.product(("a@example.org", None), ("ok", "unreachable", "opted_out"),
                                    ("+15555550100", None), ("ok", "unreachable")))
    engine = make_engine(cli.url)
    with session_factory(engine)() as s:
        district_id = s.query(District.id).filter_by(slug="maple").scalar()
        ids = s.scalars(select(Guardian.id).where(Guardian.district_id == district_id).order_by(Guardian.id)).all()
        assert len(ids) >= len(combos)
        for gid, (email, e_status, phone, p_status) in zip(ids, combos):
            s.execute(update(Guardian).where(Guardian.id == gid).values(
                email=email and f"g{gid}-{email}", email_status=e_status, phone=phone and f"{phone[:-3]}{gid:03d}",
                phone_status=p_status))
        s.flush()
        with_children = set(s.scalars(select(GuardianLink.guardian_id).join(Student, Student.id == GuardianLink.student_id)
                                      .where(Student.status == ACTIVE)))
        expected = {g.id for g in s.scalars(select(Guardian).where(Guardian.district_id == district_id,
                                                                    Guardian.status == ACTIVE))
                    if g.id in with_children and guardian_problems(g)[0]}
        listed = {e["guardian_id"] for school in unreachable_by_school(s, district_id) for e in school["guardians"]}
    engine.dispose()
    assert expected and listed == expected
