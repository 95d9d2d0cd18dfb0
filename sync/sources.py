"""From a district's configuration to its connector: a plain mapping, no plugin registry.

File sources (SFTP or a local folder) fetch a whole drop, then a format reader turns it into a
RosterBatch. Secrets are never stored: the configuration names the environment variable that holds a
password, and it is read here, at the moment of connecting.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from connectors.records import RosterBatch
from connectors.sftp import drops
from connectors.sftp.content_key import combine, file_key, file_keys
from directory.errors import ConfigError
from sync.quiet_night import LastContent

FILE_FORMATS = ("oneroster-csv", "clever-csv")


def _reader(source: str) -> tuple[tuple[str, ...], Callable]:
    """(files a drop needs, reader); imported on use, since pandas and paramiko are slow to load."""
    if source == "oneroster-csv":
        from connectors.sftp.oneroster_csv import read_oneroster_drop

        return drops.ONEROSTER_CSV_REQUIRED, read_oneroster_drop
    from connectors.sftp.clever_csv import read_clever_drop

    return drops.CLEVER_CSV_REQUIRED, read_clever_drop

# Keys of District.source_config for file sources, as `district add` / `district set` name them.
FILE_SOURCE_KEYS = ("path", "sftp_host", "sftp_port", "sftp_user", "sftp_key", "sftp_key_passphrase_env",
                    "sftp_password_env", "sftp_path", "sftp_host_key")


@dataclass
class Pulled:
    batch: RosterBatch
    fingerprint: str | None  # file drops: the content fingerprint (a drop is taken once)
    description: str
    files: dict[str, int] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    cursor: dict | None = None  # API sources: the cursor to save with the data
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    # File drops: each file's content key (connectors/sftp/content_key.py); the drop's key derives from them.
    file_keys: dict[str, bytes] | None = None
    # A file drop holding what the district's last run applied: it was not read (see pull_files).
    unchanged: bool = False

    @property
    def content(self) -> str | None:
        return None if self.file_keys is None else combine(self.file_keys)

    @property
    def content_files(self) -> dict[str, str] | None:
        """The files' keys as the cursor saves them (hex), for the next night's early stop."""
        return None if self.file_keys is None else {name: key.hex() for name, key in self.file_keys.items()}


API_SOURCES = ("clever", "classlink")
ALL_SOURCES = FILE_FORMATS + API_SOURCES
# Keys of District.source_config for API sources. Secrets are named by environment variable only.
API_SOURCE_KEYS = ("clever_token_env", "clever_base_url", "oneroster_url", "oneroster_version", "client_id_env",
                   "client_secret_env", "token_url")


def _secret(config: dict, key: str, what: str) -> str:
    var = config.get(key)
    if not var:
        raise ConfigError(f"no environment variable is configured for {what} ({key})")
    value = os.environ.get(var)
    if not value:
        raise ConfigError(f"{what} is read from ${var}, which is not set")
    return value


@contextmanager
def pull(source: str, config: dict, cursor: dict | None, full: bool,
         last_content: LastContent | None = None) -> Iterator[Pulled]:
    """Pull a district's roster from its source: a file drop, or an API (full, or from ``cursor``).

    ``last_content``: the content key of the drop the last run applied, when nothing else could make the
    same content give a different result (see sync.run); a file drop with that key is fetched, not read.
    """
    if source in FILE_FORMATS:
        with pull_files(source, config, None if full else last_content) as pulled:
            yield pulled
        return
    if source == "clever":
        from connectors.clever.pull import pull_clever

        result = pull_clever(config.get("clever_base_url") or "https://api.clever.com",
                             _secret(config, "clever_token_env", "the Clever district token"),
                             None if full else cursor, full)
    elif source == "classlink":
        from connectors.classlink.pull import pull_oneroster

        result = pull_oneroster(config["oneroster_url"], str(config.get("oneroster_version") or "1.1"),
                                _secret(config, "client_id_env", "the OneRoster client id"),
                                _secret(config, "client_secret_env", "the OneRoster client secret"),
                                None if full else cursor, full, token_url=config.get("token_url"))
    else:
        raise ConfigError(f"unknown source {source!r}; sources: {', '.join(ALL_SOURCES)}")
    yield Pulled(result.batch, None, result.description, cursor=result.cursor, notes=list(result.notes),
                 requests=result.requests)


def file_source(source_config: dict):
    """The transport for a file source: a local folder, or SFTP with a pinned host key."""
    from connectors.sftp.transport import LocalFolderSource, SftpSettings, SftpSource

    cfg = source_config or {}
    if cfg.get("path"):
        return LocalFolderSource(cfg["path"])
    if not cfg.get("sftp_host"):
        raise ConfigError("the district has neither a local --path nor an --sftp-host configured")
    password = None
    if cfg.get("sftp_password_env"):
        password = os.environ.get(cfg["sftp_password_env"])
        if not password:
            raise ConfigError(f"the SFTP password is read from ${cfg['sftp_password_env']}, which is not set")
    passphrase = None
    if cfg.get("sftp_key_passphrase_env"):
        passphrase = os.environ.get(cfg["sftp_key_passphrase_env"])
        if not passphrase:
            raise ConfigError(f"the SFTP key passphrase is read from ${cfg['sftp_key_passphrase_env']}, "
                              "which is not set")
    try:
        settings = SftpSettings(host=cfg["sftp_host"], port=int(cfg.get("sftp_port") or 22),
                                user=cfg.get("sftp_user") or "", password=password, key_path=cfg.get("sftp_key"),
                                key_passphrase=passphrase,
                                remote_path=cfg.get("sftp_path") or ".", host_key=cfg.get("sftp_host_key"))
    except drops.DropConfigError as exc:
        raise ConfigError(str(exc)) from None
    return SftpSource(settings)


@contextmanager
def pull_files(source: str, source_config: dict, last: LastContent | None = None) -> Iterator[Pulled]:
    """Fetch the drop whole (or raise), read it, yield the batch; the temporary copy goes afterwards.

    A drop whose content key is ``last.key`` holds the very records the directory was last synced from:
    reading and comparing them again could only find nothing to do, so a quiet night (the SIS exports the
    same data again, whatever its timestamps) costs the download and a hash, not a read and a diff.
    """
    if source not in FILE_FORMATS:
        raise ConfigError(f"source {source!r} is not a file source")
    required, read = _reader(source)
    with file_source(source_config).fetch(required) as drop:
        keys = _keys_until_changed(drop, last) if last is not None else {}
        if last is not None and len(keys) == len(drop.files) and combine(keys) == last.key:
            yield Pulled(RosterBatch(source), drop.fingerprint, drop.source_description, dict(drop.files),
                         [str(i) for i in drop.ignored], file_keys=keys, unchanged=True)
            return
        # The key of each file the reader parses comes from that same parse (content_key.RowDigest).
        digests: dict[str, bytes] = {}
        batch = read(drop.path, digests)
        keys.update(file_keys(drop.path, [n for n in drop.files if n not in keys], digests, drop.content_sha256))
        yield Pulled(batch, drop.fingerprint, drop.source_description, dict(drop.files),
                     [str(i) for i in drop.ignored], file_keys=keys)


def _keys_until_changed(drop, last: LastContent) -> dict[str, bytes]:
    """The drop's file keys, smallest file first, up to the first file whose key differs from the last
    applied drop's (when the last run saved its files' keys): a night that changed something is then
    told apart after hashing a few small files, not every file twice (once here, once as it is read)."""
    keys: dict[str, bytes] = {}
    for name in sorted(drop.files, key=lambda n: (drop.files[n], n)):
        keys[name] = file_key(drop.path / name, drop.content_sha256.get(name))
        if last.files is not None and last.files.get(name) != keys[name].hex():
            break
    return keys


def _url(value: str, what: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value or ""):
        raise ConfigError(f"{what} must be an http(s):// URL")
    return value.rstrip("/")


def validate_source(source: str, cfg: dict) -> dict:
    """Check a source's settings when they are saved, not at 2 a.m. when the sync runs.

    Only the keys of that kind of source are kept, so a district moved from SFTP to Clever does not
    carry stale SFTP settings."""
    cfg = {k: v for k, v in cfg.items() if v not in (None, "")}
    if source == "clever":
        cfg = {k: v for k, v in cfg.items() if k.startswith("clever_")}
        if not cfg.get("clever_token_env"):
            raise ConfigError("a Clever district needs --clever-token-env VAR (the variable holding its token)")
        if cfg.get("clever_base_url"):
            cfg["clever_base_url"] = _url(cfg["clever_base_url"], "--clever-base-url")
        return cfg
    if source == "classlink":
        cfg = {k: v for k, v in cfg.items() if k in API_SOURCE_KEYS and not k.startswith("clever_")}
        missing = [f"--{k.replace('_', '-')}" for k in ("oneroster_url", "client_id_env", "client_secret_env")
                   if not cfg.get(k)]
        if missing:
            raise ConfigError(f"a ClassLink district needs {', '.join(missing)}")
        cfg["oneroster_url"] = _url(cfg["oneroster_url"], "--oneroster-url")
        cfg["oneroster_version"] = str(cfg.get("oneroster_version") or "1.1")
        if cfg["oneroster_version"] not in ("1.1", "1.2"):
            raise ConfigError("--oneroster-version must be 1.1 or 1.2")
        if cfg.get("token_url"):
            cfg["token_url"] = _url(cfg["token_url"], "--token-url")
        return cfg
    return validate_file_source(source, {k: v for k, v in cfg.items() if k in FILE_SOURCE_KEYS})


def validate_file_source(source: str, cfg: dict) -> dict:
    cfg = {k: v for k, v in cfg.items() if v not in (None, "")}
    if source not in FILE_FORMATS:
        raise ConfigError(f"unknown source {source!r}; sources: {', '.join(ALL_SOURCES)}")
    if cfg.get("path") and cfg.get("sftp_host"):
        raise ConfigError("give either --path (a local folder) or --sftp-host, not both")
    if cfg.get("path"):
        from pathlib import Path

        if not Path(cfg["path"]).is_dir():
            raise ConfigError(f"drop folder {cfg['path']} does not exist")
        cfg["path"] = str(Path(cfg["path"]).resolve())
        return cfg
    if not cfg.get("sftp_host"):
        raise ConfigError(f"source {source} needs --path DIR or --sftp-host HOST")
    missing = [f"--{k.replace('_', '-')}" for k in ("sftp_user", "sftp_host_key") if not cfg.get(k)]
    if not (cfg.get("sftp_key") or cfg.get("sftp_password_env")):
        missing.append("--sftp-key or --sftp-password-env")
    if missing:
        raise ConfigError(f"SFTP source needs {', '.join(missing)} (the host key is pinned: no unknown host is "
                          "trusted)")
    if cfg.get("sftp_port"):
        cfg["sftp_port"] = int(cfg["sftp_port"])
    return cfg
