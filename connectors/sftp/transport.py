"""Where a roster drop comes from: an SFTP server (paramiko) or a local folder.

Both sources offer the same ``fetch(required_files)`` context manager, which yields a FetchedDrop (a
temporary folder holding a whole drop, its fingerprint and file sizes) and removes the folder when the
block ends. The rules for "a whole drop" live in drops.py; this module only lists and reads files and
turns paramiko's and the OS's exceptions into the DropError tree, sorted by what the caller must do.

Connecting, in the order that keeps the district's password safe:
TCP connect (timeout) -> SSH banner and key exchange (timeouts) -> host key checked against the pin
-> only then log in (timeout) -> SFTP. An unpinned or mismatched server never sees the credentials.
"""

from __future__ import annotations

import errno
import os
import posixpath
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from .drops import (
    AuthenticationFailed,
    DropConfigError,
    DropFolderMissing,
    DropTransientError,
    Entry,
    FetchedDrop,
    HostKeyRejected,
    IncompleteDrop,
    RequiredFiles,
    fetch_drop,
)
from .hostkeys import HostKeyPin, describe_key, parse_pins, preferred_host_key_types
from sync.faults import checkpoint

_CHUNK = 64 * 1024
# Errors that mean the connection itself broke (dropped, reset, timed out), whatever the operation.
_CONNECTION_LOST = (EOFError, paramiko.SSHException, TimeoutError, ConnectionError)


@dataclass(frozen=True, kw_only=True)
class SftpSettings:
    """How to reach one district's SFTP drop folder.

    The password and passphrase come from the caller (the district config names an environment
    variable, resolved elsewhere) and are left out of repr() so a logged settings object leaks nothing.
    """

    host: str
    port: int = 22
    user: str
    password: str | None = field(default=None, repr=False)
    key_path: str | Path | None = None
    key_passphrase: str | None = field(default=None, repr=False)
    remote_path: str = "."
    host_key: str | None = None  # public key line(s) or SHA256 fingerprint(s); see hostkeys.py
    connect_timeout: float = 15.0  # TCP connect, and again for the key exchange
    banner_timeout: float = 15.0  # waiting for the server's "SSH-2.0-..." line
    auth_timeout: float = 30.0  # waiting for the server to answer a login attempt
    io_timeout: float = 60.0  # waiting for any one SFTP reply (listing, a chunk of a file)

    def __post_init__(self) -> None:
        problems = []
        if not self.host or any(ch.isspace() for ch in self.host):
            problems.append("host is empty or contains spaces")
        if not self.user:
            problems.append("user is empty")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not between 1 and 65535")
        if self.password is None and self.key_path is None:
            problems.append("neither a password nor a key_path is set")
        if not self.remote_path:
            problems.append("remote_path is empty (use '.' for the login folder)")
        if min(self.connect_timeout, self.banner_timeout, self.auth_timeout, self.io_timeout) <= 0:
            problems.append("timeouts must be positive")
        try:
            parse_pins(self.host_key)
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise DropConfigError(self.describe(), "invalid SFTP settings: " + "; ".join(problems))

    def describe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"sftp://{self.user}@{host}:{self.port} folder {self.remote_path!r}"


class SftpSource:
    """A district's SFTP drop folder."""

    def __init__(self, settings: SftpSettings):
        self.settings = settings
        self.description = settings.describe()

    def fetch(self, required_files: RequiredFiles = None, *,
              workdir: str | Path | None = None) -> AbstractContextManager[FetchedDrop]:
        """Context manager yielding the whole drop in a temporary folder (under ``workdir``, if given)."""
        return fetch_drop(lambda: _sftp_folder(self.settings, self.description),
                          required_files, self.description, workdir)


class LocalFolderSource:
    """A drop folder on this machine (tests, the demo, a district that mounts its share locally).

    Files are copied before use, so a file rewritten during a run does not change what is parsed,
    and the same completeness rules and fingerprint apply as for SFTP.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.description = f"local folder {str(self.path)!r}"

    def fetch(self, required_files: RequiredFiles = None, *,
              workdir: str | Path | None = None) -> AbstractContextManager[FetchedDrop]:
        return fetch_drop(lambda: nullcontext(_LocalFolder(self.path, self.description)),
                          required_files, self.description, workdir)


# -------------------------------------------------------------------------------------- local folder
class _LocalFolder:
    def __init__(self, path: Path, source: str):
        self._path = path
        self._source = source

    def list(self) -> list[Entry]:
        try:
            with os.scandir(self._path) as listing:
                entries = []
                for item in listing:
                    info = item.stat(follow_symlinks=False)  # a symlink is not a plain file of the drop
                    entries.append(Entry(item.name, info.st_size, info.st_mtime_ns, stat.S_ISREG(info.st_mode)))
                return entries
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise DropFolderMissing(self._source, "the folder does not exist") from exc
        except PermissionError as exc:
            raise DropFolderMissing(self._source, "this account may not read the folder") from exc

    def read_chunks(self, entry: Entry) -> Iterator[bytes]:
        # O_NOFOLLOW: the name was a regular file when listed; if it was swapped for a link since,
        # refuse rather than copy whatever the link points at.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self._path / entry.name, flags)
        except FileNotFoundError as exc:
            raise IncompleteDrop(self._source, f"{entry.name!r} disappeared while the drop was being "
                                 "copied; nothing was taken, try again later") from exc
        except PermissionError as exc:
            raise DropConfigError(self._source, f"this account may not read {entry.name!r}") from exc
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise IncompleteDrop(self._source, f"{entry.name!r} was replaced by a link while the drop was "
                                 "being copied; nothing was taken") from exc
        with os.fdopen(fd, "rb") as src:
            while chunk := src.read(_CHUNK):
                yield chunk


# ---------------------------------------------------------------------------------------------- SFTP
class _SftpFolder:
    def __init__(self, sftp: paramiko.SFTPClient, remote_path: str, source: str):
        self._sftp = sftp
        self._path = remote_path
        self._source = source

    def list(self) -> list[Entry]:
        try:
            listing = self._sftp.listdir_attr(self._path)
        except UnicodeDecodeError as exc:
            raise DropConfigError(self._source, "a file name in the folder is not valid UTF-8, so the "
                                  "folder cannot be listed; rename that file on the server") from exc
        except _CONNECTION_LOST as exc:
            raise _lost(self._source, "listing the folder", exc) from exc
        except OSError as exc:
            if exc.errno == errno.EACCES:
                raise DropFolderMissing(self._source, "this account may not read the folder") from exc
            if exc.errno == errno.ENOENT:
                raise DropFolderMissing(self._source, "the folder does not exist on the server") from exc
            raise DropFolderMissing(self._source, f"the folder could not be listed ({exc})") from exc
        checkpoint("sftp_listed")
        return [Entry(a.filename, a.st_size, a.st_mtime,
                      # a server that omits permissions gets the benefit of the doubt: reading a
                      # folder as a file fails loudly anyway
                      a.st_mode is None or stat.S_ISREG(a.st_mode))
                for a in listing]

    def read_chunks(self, entry: Entry) -> Iterator[bytes]:
        remote = posixpath.join(self._path, entry.name)
        try:
            with self._sftp.open(remote, "rb") as src:
                if entry.size:
                    # Ask for the whole file at once instead of one 32 KiB round trip at a time;
                    # bytes beyond the listed size (a file still growing) are still read after it.
                    src.prefetch(entry.size)
                while chunk := src.read(_CHUNK):
                    yield chunk
                    checkpoint("sftp_mid_file")
                checkpoint("sftp_file_fetched")
        except _CONNECTION_LOST as exc:
            raise _lost(self._source, f"downloading {entry.name!r}", exc) from exc
        except paramiko.SFTPError as exc:
            raise DropTransientError(self._source, f"the server sent an unexpected reply for "
                                     f"{entry.name!r} ({_short(exc)})") from exc
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise IncompleteDrop(self._source, f"{entry.name!r} disappeared while the drop was being "
                                     "copied; nothing was taken, try again later") from exc
            if exc.errno == errno.EACCES:
                raise DropConfigError(self._source, f"this account may not read {entry.name!r}") from exc
            if not self._connected():  # paramiko's OSError("Socket is closed"): the connection went away
                raise _lost(self._source, f"downloading {entry.name!r}", exc) from exc
            raise DropTransientError(self._source, f"the server failed to send {entry.name!r} ({exc})") from exc

    def _connected(self) -> bool:
        try:
            channel = self._sftp.get_channel()
            return bool(channel is not None and not channel.closed and channel.get_transport().is_active())
        except Exception:  # noqa: BLE001 - a half-torn-down connection is not connected
            return False


@contextmanager
def _sftp_folder(settings: SftpSettings, source: str) -> Iterator[_SftpFolder]:
    pins = parse_pins(settings.host_key)
    pkey = _load_key(settings, source) if settings.key_path is not None else None
    sock = _connect(settings, source)
    try:
        transport = paramiko.Transport(sock)
        try:
            _negotiate(transport, settings, pins, source)
            _check_host_key(transport, pins, source)
            _login(transport, settings, pkey, source)
            sftp = _open_sftp(transport, settings, source)
            try:
                yield _SftpFolder(sftp, settings.remote_path, source)
            finally:
                sftp.close()
        finally:
            transport.close()
    finally:
        # Transport.close() does nothing once the transport has failed, so the socket is closed too.
        sock.close()


def _connect(settings: SftpSettings, source: str) -> socket.socket:
    try:
        return socket.create_connection((settings.host, settings.port), timeout=settings.connect_timeout)
    except socket.gaierror as exc:
        if exc.errno == getattr(socket, "EAI_AGAIN", None):
            raise DropTransientError(source, "the host name could not be resolved right now (DNS)") from exc
        raise DropConfigError(source, f"the host name {settings.host!r} does not resolve") from exc
    except ConnectionRefusedError as exc:
        raise DropTransientError(source, "connection refused (is the SFTP server running?)") from exc
    except TimeoutError as exc:
        raise DropTransientError(source, f"no answer within {settings.connect_timeout:g} s") from exc
    except OSError as exc:
        raise DropTransientError(source, f"could not connect ({exc.strerror or exc})") from exc


def _negotiate(transport: paramiko.Transport, settings: SftpSettings,
               pins: tuple[HostKeyPin, ...], source: str) -> None:
    transport.banner_timeout = settings.banner_timeout
    transport.handshake_timeout = settings.connect_timeout
    transport.auth_timeout = settings.auth_timeout
    preferred = preferred_host_key_types(pins)
    if preferred:
        options = transport.get_security_options()
        offered = list(options.key_types)
        options.key_types = [k for k in preferred if k in offered] + [k for k in offered if k not in preferred]
    try:
        # start_client returns quietly when its timeout passes; get_remote_server_key below then
        # finds no session and we report the timeout.
        transport.start_client(timeout=settings.banner_timeout + settings.connect_timeout)
    except paramiko.IncompatiblePeer as exc:
        raise DropConfigError(source, f"the server offers no SSH algorithms we accept ({exc})") from exc
    except (paramiko.SSHException, EOFError, OSError) as exc:
        if "banner" in str(exc).lower():
            raise DropTransientError(source, f"no SSH greeting from the server within "
                                     f"{settings.banner_timeout:g} s (is this the SFTP port?)") from exc
        raise DropTransientError(source, f"the SSH handshake failed ({_short(exc)})") from exc
    if not transport.is_active():
        raise DropTransientError(source, "the server closed the connection during the SSH handshake")


def _check_host_key(transport: paramiko.Transport, pins: tuple[HostKeyPin, ...], source: str) -> None:
    try:
        key = transport.get_remote_server_key()
    except paramiko.SSHException as exc:
        raise DropTransientError(source, "the SSH handshake did not finish in time") from exc
    key_type, blob = key.get_name(), key.asbytes()
    presented = describe_key(key_type, blob)
    expected = tuple(pin.describe() for pin in pins)
    if not pins:
        raise HostKeyRejected(source, f"no host key is pinned, so the connection was refused; the server "
                              f"presented {presented}. Confirm that fingerprint with the district "
                              "(ssh-keygen -lf on the server's host key) and set host_key.",
                              expected, presented)
    if not any(pin.matches(key_type, blob) for pin in pins):
        raise HostKeyRejected(source, f"host key mismatch: expected {' or '.join(expected)}, the server "
                              f"presented {presented}. Nothing was sent to the server. If the district "
                              "changed its server key, confirm the new fingerprint with them and update "
                              "host_key; otherwise the connection may be intercepted.",
                              expected, presented)


def _load_key(settings: SftpSettings, source: str) -> paramiko.PKey:
    where = f"private key {str(settings.key_path)!r}"
    passphrase = settings.key_passphrase.encode() if settings.key_passphrase is not None else None
    try:
        return paramiko.PKey.from_path(settings.key_path, passphrase)
    except FileNotFoundError as exc:
        raise DropConfigError(source, f"{where} does not exist") from exc
    except PermissionError as exc:
        raise DropConfigError(source, f"{where} is not readable by this service") from exc
    except TypeError as exc:  # cryptography: the key is encrypted and no passphrase was given
        raise DropConfigError(source, f"{where} is encrypted; set key_passphrase") from exc
    except (ValueError, OSError, paramiko.SSHException) as exc:
        # The library's own message is left out: it can be misleading (a wrong passphrase reads as
        # "not a PEM file") and we never want key bytes in an error.
        raise DropConfigError(source, f"{where} could not be loaded: wrong passphrase, not a private "
                              "key, or an unsupported key type") from exc


def _login(transport: paramiko.Transport, settings: SftpSettings, pkey: paramiko.PKey | None,
           source: str) -> None:
    started = time.monotonic()
    try:
        if pkey is not None:
            try:
                transport.auth_publickey(settings.user, pkey)
            except paramiko.AuthenticationException:
                if settings.password is None:
                    raise
        if not transport.is_authenticated() and settings.password is not None:
            transport.auth_password(settings.user, settings.password)
    except paramiko.BadAuthenticationType as exc:
        allowed = ", ".join(exc.allowed_types) or "none"
        raise AuthenticationFailed(source, f"the server does not accept this way of logging in "
                                   f"(it allows: {allowed})") from exc
    except paramiko.AuthenticationException as exc:
        # paramiko reports its own auth_timeout as an authentication failure; a slow server is
        # not a wrong password, so tell them apart by the clock.
        if time.monotonic() - started >= settings.auth_timeout:
            raise DropTransientError(source, f"the server did not answer the login within "
                                     f"{settings.auth_timeout:g} s") from exc
        raise AuthenticationFailed(source, f"login as {settings.user!r} was refused: wrong password or "
                                   "key, or the account may not log in") from exc
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise _lost(source, "logging in", exc) from exc
    if not transport.is_authenticated():
        raise AuthenticationFailed(source, "the server wants more login steps than a password or one key")


def _open_sftp(transport: paramiko.Transport, settings: SftpSettings, source: str) -> paramiko.SFTPClient:
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        if transport.is_active():
            raise DropConfigError(source, "the server accepted the login but refused to start SFTP") from exc
        raise _lost(source, "starting SFTP", exc) from exc
    if sftp is None:
        raise DropConfigError(source, "the server accepted the login but refused to start SFTP")
    # Without this a server that stops answering mid-download would hang the run forever.
    sftp.get_channel().settimeout(settings.io_timeout)
    return sftp


def _lost(source: str, doing: str, exc: BaseException) -> DropTransientError:
    if isinstance(exc, TimeoutError):
        return DropTransientError(source, f"the server stopped answering while {doing}")
    return DropTransientError(source, f"the connection was lost while {doing} ({_short(exc)})")


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
