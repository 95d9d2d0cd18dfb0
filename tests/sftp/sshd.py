"""A real SSH/SFTP server for tests: asyncssh on 127.0.0.1, in a thread with its own event loop.

The client side under test is paramiko with host-key checking on, speaking the real protocol to this
server; nothing is mocked. The server is deliberately able to misbehave the way real drop folders do,
each switched on by a test:

* ``before_open[name] = fn(path)`` runs before the server opens that file, e.g. to append to it, as an
  SIS export still writing would;
* ``abort_during_read`` names files whose download is cut off before the last chunk (connection drop);
* ``extra_listing`` adds names to every folder listing that do not exist on disk (``../x.csv``,
  ``/etc/passwd.csv``), as a hostile or broken server could send them.

Every login attempt is recorded in ``login_attempts`` so a test can prove that a server we refused
never saw the password.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import asyncssh


class SftpTestServer:
    host = "127.0.0.1"

    def __init__(self, root: Path, user: str = "roster", password: str = "correct horse battery staple"):
        self.root = root
        self.user = user
        self.password = password
        self.host_key = asyncssh.generate_private_key("ssh-ed25519", comment="rostersync-test-host")
        self.authorized_keys: list[bytes] = []  # public_data of client keys allowed to log in
        self.before_open: dict[str, Callable[[Path], None]] = {}
        self.abort_during_read: set[str] = set()
        self.extra_listing: list[str] = []
        self.login_attempts: list[tuple[str, str]] = []  # (method, user)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor = None
        self._connections: set = set()

    # -------------------------------------------------------------------------------- what tests read
    @property
    def host_key_line(self) -> str:
        """The host key as a known_hosts-style public key line ("ssh-ed25519 AAAA... comment")."""
        return self.host_key.export_public_key("openssh").decode().strip()

    @property
    def host_fingerprint(self) -> str:
        return self.host_key.get_fingerprint("sha256")

    def authorize(self, public_key_line: str) -> None:
        self.authorized_keys.append(asyncssh.import_public_key(public_key_line).public_data)

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self) -> "SftpTestServer":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-sshd", daemon=True)
        self._thread.start()
        self._acceptor = self._run(self._listen())
        self.port = self._acceptor.get_port()
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _listen(self):
        return await asyncssh.listen(
            self.host, 0,
            server_host_keys=[self.host_key],
            server_factory=lambda: _Auth(self),
            sftp_factory=lambda chan: _DropFolderSftp(chan, self),
            allow_scp=False,
        )

    async def _close(self) -> None:
        self._acceptor.close()
        await self._acceptor.wait_closed()
        for conn in list(self._connections):
            conn.abort()


class _Auth(asyncssh.SSHServer):
    """Password and public-key login for one user; every attempt is recorded."""

    def __init__(self, server: SftpTestServer):
        self._server = server
        self._conn = None

    def connection_made(self, conn) -> None:
        self._conn = conn
        self._server._connections.add(conn)

    def connection_lost(self, exc) -> None:
        self._server._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always require a login

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self._server.login_attempts.append(("password", username))
        return username == self._server.user and password == self._server.password

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key) -> bool:
        self._server.login_attempts.append(("publickey", username))
        return username == self._server.user and key.public_data in self._server.authorized_keys


class _DropFolderSftp(asyncssh.SFTPServer):
    """asyncssh's own SFTP server, jailed in the test folder, with the switchable misbehaviour."""

    def __init__(self, chan, server: SftpTestServer):
        super().__init__(chan, chroot=os.fsencode(server.root))
        self._server = server
        self._cut_off: set = set()

    def open(self, path: bytes, pflags: int, attrs):
        name = os.fsdecode(posixpath.basename(path))
        hook = self._server.before_open.get(name)
        if hook is not None:
            hook(Path(os.fsdecode(self.map_path(path))))
        file_obj = super().open(path, pflags, attrs)
        if name in self._server.abort_during_read:
            self._cut_off.add(file_obj)
        return file_obj

    def read(self, file_obj, offset: int, size: int):
        if file_obj in self._cut_off and offset + size >= os.fstat(file_obj.fileno()).st_size:
            # Most of the file went out; before the last chunk the connection drops, as when a
            # district's VPN or firewall cuts a long transfer. (Not earlier: paramiko's prefetch
            # thread may still be sending requests then and would report the broken pipe on its own.)
            self.connection.abort()
            raise asyncssh.SFTPFailure("connection aborted by the test")
        return super().read(file_obj, offset, size)

    async def scandir(self, path: bytes):
        async for name in super().scandir(path):
            yield name
        for fake in self._server.extra_listing:
            # a fixed time, so the two listings of a fetch agree about the fake entries
            attrs = asyncssh.SFTPAttrs(size=12, permissions=stat.S_IFREG | 0o644,
                                       atime=1_700_000_000, mtime=1_700_000_000)
            yield asyncssh.SFTPName(os.fsencode(fake), attrs=attrs)
