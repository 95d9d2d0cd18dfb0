"""From a district's configuration to its connector: a plain mapping, no plugin registry.

File sources (SFTP or a local folder) fetch a whole drop, then a format reader turns it into a
RosterBatch. Secrets are never stored: the configuration names the environment variable that holds a
password, and it is read here, at the moment of connecting.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from connectors.records import RosterBatch
from connectors.sftp import drops
from directory.errors import ConfigError

FILE_FORMATS = ("oneroster-csv", "clever-csv")


def _reader(source: str) -> tuple[tuple[str, ...], Callable]:
    """(files a drop needs, reader); imported on use, since pandas and paramiko are slow to load."""
    if source == "oneroster-csv":
        from connectors.sftp.oneroster_csv import read_oneroster_drop

        return drops.ONEROSTER_CSV_REQUIRED, read_oneroster_drop
    from connectors.sftp.clever_csv import read_clever_drop

    return drops.CLEVER_CSV_REQUIRED, read_clever_drop

# Keys of District.source_config for file sources, as `district add` / `district set` name them.
FILE_SOURCE_KEYS = ("path", "sftp_host", "sftp_port", "sftp_user", "sftp_key", "sftp_password_env", "sftp_path",
                    "sftp_host_key")


@dataclass
class Pulled:
    batch: RosterBatch
    fingerprint: str | None
    description: str
    files: dict[str, int]
    ignored: list[str]


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
    try:
        settings = SftpSettings(host=cfg["sftp_host"], port=int(cfg.get("sftp_port") or 22),
                                user=cfg.get("sftp_user") or "", password=password, key_path=cfg.get("sftp_key"),
                                remote_path=cfg.get("sftp_path") or ".", host_key=cfg.get("sftp_host_key"))
    except drops.DropConfigError as exc:
        raise ConfigError(str(exc)) from None
    return SftpSource(settings)


@contextmanager
def pull_files(source: str, source_config: dict) -> Iterator[Pulled]:
    """Fetch the drop whole (or raise), read it, yield the batch; the temporary copy goes afterwards."""
    if source not in FILE_FORMATS:
        raise ConfigError(f"source {source!r} is not a file source")
    required, read = _reader(source)
    with file_source(source_config).fetch(required) as drop:
        batch = read(drop.path)
        yield Pulled(batch, drop.fingerprint, drop.source_description, dict(drop.files),
                     [str(i) for i in drop.ignored])


def validate_file_source(source: str, cfg: dict) -> dict:
    """Check a file source's settings when they are saved, not at 2 a.m. when the sync runs."""
    cfg = {k: v for k, v in cfg.items() if v not in (None, "")}
    if source not in FILE_FORMATS:
        raise ConfigError(f"unknown source {source!r}; file sources: {', '.join(FILE_FORMATS)}")
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
