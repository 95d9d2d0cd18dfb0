"""Setting a district up: sources on the command line, settings, and a TOML file in config/."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_district_add_with_a_local_folder_and_change_it(cli, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cli("district", "add", "maple", "--name", "Maple", "--source", "clever-csv", "--path", tmp_path / "a")
    shown = cli.json("district", "show", "maple")
    assert shown["source"] == "clever-csv" and shown["source_config"] == {"path": str(tmp_path / "a")}
    cli("district", "set", "maple", "path", tmp_path / "b")
    assert cli.json("district", "show", "maple")["source_config"]["path"] == str(tmp_path / "b")
    r = cli("district", "set", "maple", "path", tmp_path / "missing", code=2)
    assert "does not exist" in r.stderr
    assert cli.json("district", "show", "maple")["source_config"]["path"] == str(tmp_path / "b")
    cli("district", "set", "maple", "archive_threshold_pct", "25")
    assert cli.json("district", "show", "maple")["settings"]["archive_threshold_pct"] == 25


def test_source_options_without_a_source_are_refused(cli, tmp_path):
    r = cli("district", "add", "maple", "--name", "Maple", "--path", tmp_path, code=2)
    assert "need --source" in r.stderr


def test_example_toml_loads_and_loading_again_updates(cli, tmp_path, monkeypatch):
    example = (REPO / "config" / "district.example.toml").read_text()
    out = cli("district", "load", REPO / "config" / "district.example.toml").stdout
    assert "district lincoln added" in out and "district riverside added" in out
    lincoln = cli.json("district", "show", "lincoln")
    assert lincoln["source"] == "oneroster-csv"
    assert lincoln["source_config"]["sftp_password_env"] == "LINCOLN_SFTP_PASSWORD"
    assert "password" not in {k for k in lincoln["source_config"] if not k.endswith("_env")}
    assert cli.json("district", "show", "riverside")["source"] is None
    changed = tmp_path / "d.toml"
    changed.write_text(example.replace("archive_threshold_pct = 10", "archive_threshold_pct = 20"))
    assert "district lincoln updated" in cli("district", "load", changed).stdout
    assert cli.json("district", "show", "lincoln")["settings"]["archive_threshold_pct"] == 20


def test_bad_toml_names_the_file_and_the_district(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[district]]\nslug = "x"\nname = "X"\n[district.settings]\ndefault_channel = "fax"\n')
    r = cli("district", "load", bad, code=2)
    assert str(bad) in r.stderr and "(x)" in r.stderr and "email or sms" in r.stderr
    assert cli.json("district", "list", "--json") == []  # all or nothing
    bad.write_text("not toml [")
    assert "not valid TOML" in cli("district", "load", bad, code=2).stderr
