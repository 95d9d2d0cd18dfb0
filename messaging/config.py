"""Where messages go, per deployment: SMTP for email, an HTTP SMS API for texts, or a local outbox folder.

Read from the environment, else from the ``[messaging]`` table of the deployment's TOML file
(``$ROSTERSYNC_CONFIG``, else ``rostersync.toml`` in the working folder when it exists):

    env                            file key             meaning
    ROSTERSYNC_SMTP_URL            smtp_url             smtp://[user:password@]host:port (STARTTLS), smtps:// (TLS)
    (none)                         smtp_password_env    name of the variable holding the SMTP password
    ROSTERSYNC_MAIL_FROM           mail_from            the From address of every email
    ROSTERSYNC_SMS_URL             sms_url              the SMS provider's base URL (.../2010-04-01)
    ROSTERSYNC_SMS_ACCOUNT         sms_account          the account id (basic auth user)
    ROSTERSYNC_SMS_TOKEN           sms_token_env        the token (in the file: the *name* of its variable)
    ROSTERSYNC_SMS_FROM            sms_from             the sending number
    ROSTERSYNC_SMS_STATUS_CALLBACK sms_status_callback  where the provider posts status callbacks
    ROSTERSYNC_OUTBOX_DIR          outbox_dir           the outbox folder (default ./outbox)
    ROSTERSYNC_DELIVERY_LOG        delivery_log         the SMTP delivery log (default ./rostersync-delivery.log)
    ROSTERSYNC_JOIN_URL            join_url             the page where parents enter their join code

With neither SMTP nor SMS configured, both channels write files to the outbox folder (offline mode: the
demo and a laptop work without servers). With only one configured, the other channel is unavailable and
the delivery policy treats it so (messages fall back, or the guardian is reported).

Secrets stay out of files: the file names the variables that hold them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from directory.errors import ConfigError

DEFAULT_JOIN_URL = "https://join.rostersync.example/"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    tls: str  # "implicit" (smtps), "starttls" (required), "auto" (STARTTLS when offered), "none"
    timeout: float = 30.0

    def describe(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class SmsSettings:
    base_url: str
    account: str
    token: str
    sender: str
    status_callback: str | None = None
    timeout: float = 30.0

    def describe(self) -> str:
        return self.base_url


@dataclass(frozen=True)
class MessagingConfig:
    smtp: SmtpSettings | None
    mail_from: str | None
    sms: SmsSettings | None
    outbox_dir: Path
    delivery_log: Path
    join_url: str

    @property
    def offline(self) -> bool:
        return self.smtp is None and self.sms is None

    @property
    def channels(self) -> frozenset[str]:
        if self.offline:
            return frozenset({"email", "sms"})
        return frozenset(c for c, on in (("email", self.smtp), ("sms", self.sms)) if on)

    def transport_of(self, channel: str) -> str:
        if self.offline:
            return "outbox"
        return "smtp" if channel == "email" else "http"

    def describe(self) -> dict:
        """For command output: where messages go, without credentials."""
        return {"email": "outbox" if self.offline else (self.smtp.describe() if self.smtp else None),
                "sms": "outbox" if self.offline else (self.sms.describe() if self.sms else None),
                "outbox": str(self.outbox_dir.resolve()) if self.offline else None}


def parse_smtp_url(url: str, password_env: str | None = None) -> SmtpSettings:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"ROSTERSYNC_SMTP_URL is not a valid URL ({exc})") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("ROSTERSYNC_SMTP_URL must look like smtp://[user:password@]host:port or smtps://...")
    query = parse_qs(parts.query)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if password is None and password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(f"smtp_password_env names {password_env}, which is not set")
    if parts.scheme == "smtps":
        tls = "implicit"
    else:
        tls = (query.get("starttls") or ["require" if user else "auto"])[0]
        tls = {"require": "starttls", "auto": "auto", "off": "none", "no": "none"}.get(tls)
        if tls is None:
            raise ConfigError("starttls= in ROSTERSYNC_SMTP_URL must be require, auto or off")
    return SmtpSettings(parts.hostname, port or (465 if tls == "implicit" else 587), user, password, tls)


def _file_settings(path: Path | None) -> dict:
    if path is None:
        candidate = Path("rostersync.toml")
        if not candidate.is_file():
            return {}
        path = candidate
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found (ROSTERSYNC_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path}: {exc}") from None
    section = data.get("messaging", {})
    if not isinstance(section, dict):
        raise ConfigError(f"configuration file {path}: [messaging] must be a table")
    return section


def load_config(env: dict | None = None) -> MessagingConfig:
    env = os.environ if env is None else env
    file = _file_settings(Path(env["ROSTERSYNC_CONFIG"]) if env.get("ROSTERSYNC_CONFIG") else None)

    def get(env_name: str, key: str) -> str | None:
        value = env.get(env_name) or file.get(key)
        return str(value).strip() if value else None

    smtp_url = get("ROSTERSYNC_SMTP_URL", "smtp_url")
    smtp = parse_smtp_url(smtp_url, file.get("smtp_password_env")) if smtp_url else None
    mail_from = get("ROSTERSYNC_MAIL_FROM", "mail_from")
    if smtp and not mail_from:
        raise ConfigError("SMTP is configured but ROSTERSYNC_MAIL_FROM (mail_from) is not")

    sms = None
    sms_url = get("ROSTERSYNC_SMS_URL", "sms_url")
    if sms_url:
        token = env.get("ROSTERSYNC_SMS_TOKEN")
        if not token and file.get("sms_token_env"):
            token = env.get(file["sms_token_env"])
        account, sender = get("ROSTERSYNC_SMS_ACCOUNT", "sms_account"), get("ROSTERSYNC_SMS_FROM", "sms_from")
        missing = [n for n, v in (("ROSTERSYNC_SMS_ACCOUNT", account), ("ROSTERSYNC_SMS_TOKEN", token),
                                  ("ROSTERSYNC_SMS_FROM", sender)) if not v]
        if missing:
            raise ConfigError(f"the SMS provider is configured but {', '.join(missing)} is not")
        if not sms_url.startswith(("http://", "https://")):
            raise ConfigError("ROSTERSYNC_SMS_URL must be an http:// or https:// URL")
        sms = SmsSettings(sms_url.rstrip("/"), account, token, sender,
                          get("ROSTERSYNC_SMS_STATUS_CALLBACK", "sms_status_callback"))
    return MessagingConfig(
        smtp=smtp, mail_from=mail_from, sms=sms,
        outbox_dir=Path(get("ROSTERSYNC_OUTBOX_DIR", "outbox_dir") or "outbox"),
        delivery_log=Path(get("ROSTERSYNC_DELIVERY_LOG", "delivery_log") or "rostersync-delivery.log"),
        join_url=get("ROSTERSYNC_JOIN_URL", "join_url") or DEFAULT_JOIN_URL,
    )
