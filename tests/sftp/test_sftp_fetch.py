"""Fetching drops from a real SSH/SFTP server on loopback (asyncssh), with paramiko as the client.

Host-key checking is always on: every settings object pins the test server's key unless the test is
about pinning itself.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from connectors.sftp.drops import (
    CLEVER_CSV_REQUIRED,
    ONEROSTER_CSV_REQUIRED,
    AuthenticationFailed,
    DropConfigError,
    DropFolderMissing,
    DropTransientError,
    HostKeyRejected,
    IncompleteDrop,
)
from connectors.sftp.transport import LocalFolderSource, SftpSource

pytestmark = pytest.mark.slow


def fetch(settings, required=ONEROSTER_CSV_REQUIRED, **kwargs):
    """Fetch and return what the caller saw inside the block (the folder is gone afterwards)."""
    with SftpSource(settings).fetch(required, **kwargs) as drop:
        contents = {name: (drop.path / name).read_bytes() for name in drop.files}
        return drop, contents


def full_text(exc: BaseException) -> str:
    """What a log of this error would show: every message in the chain of causes, str and repr.

    (Not the traceback's source lines: those quote this test file, not runtime values.)
    """
    texts = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), *map(repr, exc.args)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -------------------------------------------------------------------------------------------- success
def test_fetches_a_whole_oneroster_drop(sftp_settings, drop_folder, oneroster_drop, tmp_path):
    written = oneroster_drop(drop_folder)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with SftpSource(sftp_settings()).fetch(ONEROSTER_CSV_REQUIRED, workdir=workdir) as drop:
        assert drop.files == {name: len(content.encode()) for name, content in written.items()}
        for name, content in written.items():
            assert (drop.path / name).read_text() == content
        assert drop.path.parent == workdir
        assert len(drop.fingerprint) == 64
        assert "roster@127.0.0.1" in drop.source_description and "outgoing" in drop.source_description
        assert drop.ignored == ()
    assert list(workdir.iterdir()) == []  # the caller's copy is removed when the block ends


def test_same_drop_same_fingerprint_changed_file_new_fingerprint(sftp_settings, drop_folder, oneroster_drop):
    oneroster_drop(drop_folder)
    first, _ = fetch(sftp_settings())
    again, _ = fetch(sftp_settings())
    assert again.fingerprint == first.fingerprint  # a repeat the caller can skip

    oneroster_drop(drop_folder, users__csv="sourcedId,role\nstu1,student\nstu2,student\n")
    changed, contents = fetch(sftp_settings())
    assert changed.fingerprint != first.fingerprint
    assert b"stu2" in contents["users.csv"]


def test_fingerprint_does_not_depend_on_the_source(sftp_settings, drop_folder, oneroster_drop):
    oneroster_drop(drop_folder)
    over_sftp, _ = fetch(sftp_settings())
    with LocalFolderSource(drop_folder).fetch(ONEROSTER_CSV_REQUIRED) as local:
        assert local.fingerprint == over_sftp.fingerprint


def test_a_sha256_fingerprint_pin_is_enough(sftp_settings, sftp_server, drop_folder, oneroster_drop):
    oneroster_drop(drop_folder)
    drop, _ = fetch(sftp_settings(host_key=f"256 {sftp_server.host_fingerprint} root@sftp (ED25519)"))
    assert "users.csv" in drop.files


def test_login_with_a_key_and_passphrase(sftp_settings, sftp_server, drop_folder, oneroster_drop, client_key):
    oneroster_drop(drop_folder)
    key_path, public_line, passphrase = client_key
    sftp_server.authorize(public_line)
    drop, _ = fetch(sftp_settings(password=None, key_path=key_path, key_passphrase=passphrase))
    assert "users.csv" in drop.files
    assert {method for method, _ in sftp_server.login_attempts} == {"publickey"}


def test_the_connection_is_closed_once_the_drop_is_handed_over(sftp_settings, sftp_server, drop_folder,
                                                              oneroster_drop):
    oneroster_drop(drop_folder)
    with SftpSource(sftp_settings()).fetch(ONEROSTER_CSV_REQUIRED):
        # the caller parses from the local copy; the server must not be kept waiting meanwhile
        assert wait_until(lambda: not sftp_server._connections)


# ----------------------------------------------------------------------------- credentials and config
def test_wrong_password_is_a_credentials_error_without_the_password(sftp_settings, sftp_server, drop_folder,
                                                                   oneroster_drop):
    oneroster_drop(drop_folder)
    with pytest.raises(AuthenticationFailed) as info:
        fetch(sftp_settings(password="Wrong-Pa55word!"))
    err = info.value
    assert isinstance(err, DropConfigError) and not err.retry_later
    assert f"roster@127.0.0.1:{sftp_server.port}" in str(err)
    assert "outgoing" in str(err)
    assert "Wrong-Pa55word!" not in full_text(err)
    assert sftp_server.password not in full_text(err)
    assert wait_until(lambda: not sftp_server._connections)  # closed after a failure too


def test_a_key_the_server_does_not_know_is_refused(sftp_settings, drop_folder, oneroster_drop, client_key):
    oneroster_drop(drop_folder)
    key_path, _, passphrase = client_key  # never authorized on the server
    with pytest.raises(AuthenticationFailed, match="refused"):
        fetch(sftp_settings(password=None, key_path=key_path, key_passphrase=passphrase))


def test_a_wrong_passphrase_names_the_key_file_and_connects_nowhere(sftp_settings, sftp_server, client_key):
    key_path, _, _ = client_key
    with pytest.raises(DropConfigError) as info:
        fetch(sftp_settings(password=None, key_path=key_path, key_passphrase="not-the-passphrase"))
    assert str(key_path) in str(info.value)
    assert "not-the-passphrase" not in full_text(info.value)
    assert sftp_server.login_attempts == []


def test_host_key_mismatch_is_refused_before_the_password_is_sent(sftp_settings, sftp_server, drop_folder,
                                                                  oneroster_drop):
    import asyncssh

    oneroster_drop(drop_folder)
    impostor_pin = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(HostKeyRejected) as info:
        fetch(sftp_settings(host_key=impostor_pin.export_public_key("openssh").decode()))
    message = str(info.value)
    assert impostor_pin.get_fingerprint("sha256") in message  # what we expected
    assert sftp_server.host_fingerprint in message  # what the server showed
    assert f"127.0.0.1:{sftp_server.port}" in message
    assert not info.value.retry_later
    assert sftp_server.login_attempts == []  # the password never left this machine


def test_no_pinned_key_refuses_and_shows_the_fingerprint_to_confirm(sftp_settings, sftp_server):
    with pytest.raises(HostKeyRejected, match="no host key is pinned") as info:
        fetch(sftp_settings(host_key=None))
    assert sftp_server.host_fingerprint in str(info.value)
    assert sftp_server.login_attempts == []


def test_a_missing_remote_folder_is_a_configuration_error(sftp_settings, sftp_server):
    with pytest.raises(DropFolderMissing, match="does not exist") as info:
        fetch(sftp_settings(remote_path="outgoing/nope"))
    assert "'outgoing/nope'" in str(info.value)
    assert isinstance(info.value, DropConfigError)


# ------------------------------------------------------------------------------------- incomplete drops
def test_manifest_naming_a_missing_file_is_incomplete_and_nothing_big_is_downloaded(
        sftp_settings, sftp_server, drop_folder, oneroster_drop, tmp_path):
    oneroster_drop(drop_folder, users__csv=None)
    opened = []
    for name in ("manifest.csv", "orgs.csv", "classes.csv", "enrollments.csv", "academicSessions.csv"):
        sftp_server.before_open[name] = lambda path: opened.append(path.name)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(IncompleteDrop) as info:
        fetch(sftp_settings(), workdir=workdir)
    err = info.value
    assert "users.csv (listed in manifest.csv as bulk)" in str(err)
    assert err.missing == ("users.csv (listed in manifest.csv as bulk)",)
    assert err.retry_later and "try again later" in str(err)
    assert opened == ["manifest.csv"]  # it stopped before copying the rest of a half-made drop
    assert list(workdir.iterdir()) == []


def test_a_clever_drop_needs_the_callers_file_list(sftp_settings, drop_folder):
    for name in ("schools.csv", "students.csv", "sections.csv", "enrollments.csv", "staff.csv"):
        (drop_folder / name).write_text("id\n1\n")
    with pytest.raises(IncompleteDrop, match=r"teachers\.csv") as info:
        fetch(sftp_settings(), required=CLEVER_CSV_REQUIRED)
    assert "staff.csv" not in str(info.value)  # optional in Clever drops

    (drop_folder / "teachers.csv").write_text("id\n1\n")
    drop, _ = fetch(sftp_settings(), required=CLEVER_CSV_REQUIRED)
    assert set(drop.files) == {*CLEVER_CSV_REQUIRED, "staff.csv"}


def test_an_empty_folder_is_not_a_drop(sftp_settings, drop_folder):
    (drop_folder / "notes.txt").write_text("nothing yet")
    with pytest.raises(IncompleteDrop, match="no CSV files") as info:
        fetch(sftp_settings(), required=None)
    assert [item.name for item in info.value.ignored] == ["notes.txt"]


def test_a_file_still_growing_during_download_makes_the_drop_incomplete(sftp_settings, sftp_server,
                                                                       drop_folder, oneroster_drop):
    oneroster_drop(drop_folder)

    def sis_still_writing(path):
        with open(path, "a") as f:
            f.write("stu9,,,true,sch1,student,stu9,Late,Row\n")

    sftp_server.before_open["users.csv"] = sis_still_writing
    with pytest.raises(IncompleteDrop, match="still changing") as info:
        fetch(sftp_settings())
    assert set(info.value.changed) == {"users.csv"}
    assert "listed as" in info.value.changed["users.csv"]


def test_a_file_rewritten_with_the_same_size_is_caught_by_its_time(sftp_settings, sftp_server, drop_folder,
                                                                  oneroster_drop):
    oneroster_drop(drop_folder)
    sftp_server.before_open["orgs.csv"] = lambda path: os.utime(path, (time.time() + 60, time.time() + 60))
    with pytest.raises(IncompleteDrop) as info:
        fetch(sftp_settings())
    assert set(info.value.changed) == {"orgs.csv"}


def test_a_file_arriving_during_the_download_makes_the_drop_incomplete(sftp_settings, sftp_server,
                                                                      drop_folder, oneroster_drop):
    oneroster_drop(drop_folder)
    sftp_server.before_open["users.csv"] = lambda path: (path.parent / "demographics.csv").write_text("x\n")
    with pytest.raises(IncompleteDrop) as info:
        fetch(sftp_settings())
    assert "appeared" in info.value.changed["demographics.csv"]


def test_odd_names_are_ignored_reported_and_never_written_outside(sftp_settings, sftp_server, drop_folder,
                                                                 oneroster_drop, tmp_path):
    oneroster_drop(drop_folder)
    (drop_folder / "bell\x07.csv").write_text("x\n")
    (drop_folder / "readme.txt").write_text("x\n")
    (drop_folder / ".students.csv").write_text("x\n")
    (drop_folder / "archive.csv").mkdir()
    sftp_server.extra_listing = ["../escape.csv", "/tmp/absolute.csv", "sub/dir.csv", "..\\win.csv"]
    workdir = tmp_path / "work"
    workdir.mkdir()
    with SftpSource(sftp_settings()).fetch(ONEROSTER_CSV_REQUIRED, workdir=workdir) as drop:
        reasons = {item.name: item.reason for item in drop.ignored}
        assert set(drop.files) == {"manifest.csv", "academicSessions.csv", "orgs.csv", "users.csv",
                                   "classes.csv", "enrollments.csv"}
        assert sorted(os.listdir(drop.path)) == sorted(drop.files)
        assert [p.name for p in workdir.iterdir()] == [drop.path.name]
    assert reasons == {
        "../escape.csv": "contains a path separator",
        "/tmp/absolute.csv": "contains a path separator",
        "sub/dir.csv": "contains a path separator",
        "..\\win.csv": "contains a path separator",
        "bell\x07.csv": "contains control characters",
        "readme.txt": "not a CSV file",
        ".students.csv": "hidden file",
        "archive.csv": "not a regular file",
    }
    assert not (tmp_path / "escape.csv").exists() and not (workdir / "escape.csv").exists()
    assert not os.path.exists("/tmp/absolute.csv")


# ------------------------------------------------------------------------------------ transient errors
def test_a_stopped_server_is_a_transient_error(sftp_settings, sftp_server):
    settings = sftp_settings()
    sftp_server.stop()
    with pytest.raises(DropTransientError, match="connection refused") as info:
        fetch(settings)
    assert info.value.retry_later
    assert f"roster@127.0.0.1:{settings.port}" in str(info.value)


def test_a_connection_dropped_mid_download_is_transient_and_leaves_nothing(sftp_settings, sftp_server,
                                                                          drop_folder, oneroster_drop,
                                                                          tmp_path):
    rows = "".join(f"stu{i},,,true,sch1,student,stu{i},Given{i},Family{i}\n" for i in range(5000))
    oneroster_drop(drop_folder, users__csv="sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,"
                                           "role,username,givenName,familyName\n" + rows)
    assert (drop_folder / "users.csv").stat().st_size > 100_000  # several SFTP reads
    sftp_server.abort_during_read.add("users.csv")
    workdir = tmp_path / "work"
    workdir.mkdir()
    started = time.monotonic()
    with pytest.raises(DropTransientError, match="users.csv") as info:
        fetch(sftp_settings(), workdir=workdir)
    assert "lost" in str(info.value) or "stopped answering" in str(info.value)
    assert time.monotonic() - started < 10
    assert list(workdir.iterdir()) == []


def test_a_server_that_never_says_hello_times_out(sftp_settings):
    # A TCP port that accepts but never sends the SSH banner, like a hung daemon or a wrong port.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        accepted = []
        thread = threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True)
        thread.start()
        started = time.monotonic()
        with pytest.raises(DropTransientError, match="no SSH greeting from the server within 0.5 s") as info:
            fetch(sftp_settings(port=silent.getsockname()[1], banner_timeout=0.5, connect_timeout=0.5))
        assert time.monotonic() - started < 5
        assert info.value.retry_later
        for conn, _ in accepted:
            conn.close()
