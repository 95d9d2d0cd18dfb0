"""Fixtures for the SFTP transport tests: a real SSH server on loopback and small roster drops.

``sftp_server`` starts the asyncssh server of sshd.py on 127.0.0.1 (a free port) serving
``<tmp>/server``; the drop folder the client reads is ``sftp_server.root / "outgoing"``.
``sftp_settings(**changes)`` builds SftpSettings for it: password login, host key pinned, short
timeouts. Without asyncssh the server tests skip (or fail under ROSTERSYNC_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sftp.transport import SftpSettings

SHARED_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"


def missing_service(request: pytest.FixtureRequest, reason: str) -> None:
    """Call tests/conftest.py's missing_service (skip here, fail in CI).

    It cannot be imported by name: every conftest.py outside a package is the module "conftest", so
    ``from conftest import missing_service`` in this file finds this file. pytest registers each
    conftest under its path, which is how we reach the shared one.
    """
    shared = request.config.pluginmanager.get_plugin(str(SHARED_CONFTEST))
    shared.missing_service(reason)

# Small files in the shape of a OneRoster 1.1 bulk drop; their content does not matter here, only
# that they are distinct files with known bytes.
ONEROSTER_FILES = {
    "manifest.csv": "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
                    "file.academicSessions,bulk\nfile.orgs,bulk\nfile.users,bulk\nfile.classes,bulk\n"
                    "file.enrollments,bulk\nfile.courses,absent\nfile.demographics,absent\n",
    "academicSessions.csv": "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n"
                            "term1,,,Fall,term,2024-08-20,2024-12-20,,2025\n",
    "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
                "sch1,,,Lincoln Elementary,school,LE,\n",
    "users.csv": "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,familyName\n"
                 "stu1,,,true,sch1,student,stu1,Ada,Lovelace\npar1,,,true,sch1,parent,par1,Grace,Hopper\n",
    "classes.csv": "sourcedId,status,dateLastModified,title,classType,schoolSourcedId,termSourcedIds\n"
                   "cls1,,,Math 3,scheduled,sch1,term1\n",
    "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role\n"
                       "enr1,,,cls1,sch1,stu1,student\n",
}


def write_files(folder: Path, files: dict[str, str | bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)


@pytest.fixture
def oneroster_drop():
    """write_drop(folder, **replace) writes the OneRoster-like drop, with some files replaced or removed
    (pass None to leave a file out)."""

    def write_drop(folder: Path, **replace: str | bytes | None) -> dict[str, str | bytes]:
        files = {**ONEROSTER_FILES, **{k.replace("__", "."): v for k, v in replace.items()}}
        files = {name: content for name, content in files.items() if content is not None}
        write_files(folder, files)
        return files

    return write_drop


@pytest.fixture
def sftp_server(tmp_path, request):
    try:
        from sshd import SftpTestServer  # imports asyncssh
    except ImportError as exc:
        missing_service(request, f"asyncssh is not installed, so there is no SFTP test server ({exc})")
    root = tmp_path / "server"
    (root / "outgoing").mkdir(parents=True)
    server = SftpTestServer(root).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def drop_folder(sftp_server) -> Path:
    """The folder on the server's disk that the client reads as remote_path 'outgoing'."""
    return sftp_server.root / "outgoing"


@pytest.fixture
def sftp_settings(sftp_server):
    def make(**changes) -> SftpSettings:
        values = dict(host=sftp_server.host, port=sftp_server.port, user=sftp_server.user,
                      password=sftp_server.password, host_key=sftp_server.host_key_line,
                      remote_path="outgoing", connect_timeout=5, banner_timeout=5, auth_timeout=5,
                      io_timeout=5)
        values.update(changes)
        return SftpSettings(**values)

    return make


@pytest.fixture
def client_key(tmp_path, request):
    """A freshly generated ed25519 login key: (private key path, public key line, passphrase)."""
    try:
        import asyncssh
    except ImportError as exc:
        missing_service(request, f"asyncssh is not installed ({exc})")
    key = asyncssh.generate_private_key("ssh-ed25519", comment="rostersync-test-client")
    path = tmp_path / "client" / "id_ed25519"
    path.parent.mkdir()
    passphrase = "key passphrase 7"
    # few bcrypt rounds: the default 128 cost seconds per test and prove nothing more here
    path.write_bytes(key.export_private_key("openssh", passphrase=passphrase, rounds=4, ignore_few_rounds=True))
    path.chmod(0o600)
    return path, key.export_public_key("openssh").decode().strip(), passphrase
