"""Email over SMTP (smtplib): one connection reused for a batch, STARTTLS or TLS, AUTH when configured.

The hand-over is split into MAIL, RCPT and DATA (rather than ``sendmail``) because the stage a failure
happens at decides what it means: a refusal before DATA means the message was not taken, while a
connection lost during DATA means it may have been, and only then is the attempt in doubt.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from messaging import faults
from messaging.classify import Outcome, classify_smtp_reply
from messaging.config import SmtpSettings
from messaging.delivery_log import ACCEPTED, HANDING, DeliveryLog
from messaging.transport import NOT_SENT, UNKNOWN, OutgoingMessage, Resolution, TransportDown


def build_email(message: OutgoingMessage, mail_from: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = message.to
    msg["Subject"] = message.subject
    msg["Date"] = formatdate(localtime=False)
    domain = mail_from.rpartition("@")[2] or "rostersync.invalid"
    msg["Message-ID"] = f"<{message.key}@{domain}>"
    for name, value in message.headers.items():
        msg[name] = value
    msg.set_content(message.text)
    return msg


class SmtpTransport:
    name = "smtp"
    channel = "email"

    def __init__(self, settings: SmtpSettings, mail_from: str, log: DeliveryLog):
        self.settings = settings
        self.mail_from = mail_from
        self.log = log
        self._conn: smtplib.SMTP | None = None

    # -- the connection, opened on first use and kept for the batch -------------------------------------
    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        try:
            if s.tls == "implicit":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.tls in ("starttls", "auto"):
                if conn.has_extn("starttls"):
                    conn.starttls(context=context)
                    conn.ehlo()
                elif s.tls == "starttls":
                    conn.close()
                    raise TransportDown(f"{s.describe()} does not offer STARTTLS, and the URL requires it "
                                        "(credentials are never sent in clear; add ?starttls=off to allow it)")
            if s.user:
                conn.login(s.user, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportDown(f"{s.describe()} refused the login ({exc.smtp_code})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportDown(f"cannot reach {s.describe()}: {type(exc).__name__}: {exc}") from None
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def _reset(self, conn: smtplib.SMTP) -> None:
        """After a refused recipient, clear the transaction so the connection serves the next message."""
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    # -- one message --------------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> tuple[Outcome, str | None]:
        data = build_email(message, self.mail_from).as_bytes()
        conn = self._connection()
        try:
            code, text = conn.mail(self.mail_from)
            if code != 250:
                self._reset(conn)
                return classify_smtp_reply(code, text.decode(errors="replace")), None
            code, text = conn.rcpt(message.to)
            if code not in (250, 251):
                self._reset(conn)
                return classify_smtp_reply(code, text.decode(errors="replace")), None
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            # Before DATA nothing was handed over: the connection is gone, the message is not.
            self._drop()
            raise TransportDown(f"{self.settings.describe()} dropped the connection: {type(exc).__name__}") from None
        # From here the server may take the message at any moment: say so on disk first.
        self.log.write(HANDING, message.key)
        try:
            code, text = conn.data(data)
        except smtplib.SMTPDataError as exc:  # an answer: the server refused the message
            self._reset(conn)
            return classify_smtp_reply(exc.smtp_code, exc.smtp_error.decode(errors="replace")), None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return Outcome("in_doubt", detail=f"connection lost during DATA: {type(exc).__name__}"), None
        if code != 250:
            self._reset(conn)
            return classify_smtp_reply(code, text.decode(errors="replace")), None
        faults.checkpoint("provider_accepted")
        self.log.write(ACCEPTED, message.key)
        faults.checkpoint("delivery_logged")
        return Outcome("accepted", detail=f"{code} {text.decode(errors='replace')}"[:300]), None

    def resolve(self, key: str, provider_id: str | None) -> Resolution:
        return self.resolve_from_log(self.log, key)

    @staticmethod
    def resolve_from_log(log: DeliveryLog, key: str) -> Resolution:
        state = log.lookup({key}).get(key)
        if state == ACCEPTED:
            return Resolution("accepted", detail="the delivery log records the server's acceptance")
        if state == HANDING:
            return Resolution(UNKNOWN, detail="handed to the SMTP server, acceptance not recorded: check the "
                                              "server's log for the Message-ID before resending")
        return Resolution(NOT_SENT, detail="never handed to the SMTP server")

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._conn = None
        self.log.close()

