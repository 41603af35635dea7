"""The e-bulletin by e-mail (SMTP), one message per subscriber, each with its own unsubscribe link.

Who already received a delivery is recorded per recipient, so a send interrupted halfway resumes
with the rest instead of mailing everyone again. Each message carries RFC 8058 one-click
unsubscribe headers besides the link in the body.

Credentials and mail never travel in clear: STARTTLS (required, not "if offered") or implicit TLS
(smtps), the server's certificate verified against the system's CAs or LOA_TLS_CA_FILE, before
any login. Plain SMTP ("none") is only for a relay that takes mail without a login.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from typing import Protocol

from services.publishing.formatters.bulletin import UNSUBSCRIBE_PLACEHOLDER
from services.publishing.transmitters.base import (
    Job,
    PermanentError,
    SendResult,
    TransientError,
    Transmitter,
)
from shared.logging import register_secrets
from shared.smtp import InsecureSmtp, secure_smtp, untrusted


@dataclass(frozen=True)
class Recipient:
    id: str
    email: str
    token: str


class MailingList(Protocol):
    def pending(self, job: Job) -> list[Recipient]:
        """Subscribers of the delivery's units who have not received it yet."""

    def mark_sent(self, job: Job, recipient: Recipient, message_id: str) -> None: ...

    def sent_count(self, job: Job) -> int: ...


class SmtpTransmitter(Transmitter):
    channel = "ebulletin"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        mailing_list: MailingList,
        unsubscribe_url: str,
        user: str | None = None,
        password: str | None = None,
        tls: str = "starttls",
        timeout: float = 30.0,
        ca_file: str | None = None,
    ) -> None:
        if tls not in ("starttls", "smtps", "none"):
            raise ValueError("LOA_PUB_SMTP_TLS must be starttls, smtps or none")
        self.host, self.port, self.sender = host, port, sender
        self.mailing_list = mailing_list
        self.unsubscribe_url = unsubscribe_url.rstrip("/")
        self.user, self.password, self.tls, self.timeout = user, password, tls, timeout
        register_secrets([password])  # whoever holds a credential keeps it out of texts
        self.ca_file = ca_file

    def _message(self, job: Job, r: Recipient) -> EmailMessage:
        link = f"{self.unsubscribe_url}/{r.token}"
        msg = EmailMessage()
        msg["Subject"] = (job.file("subject.txt").text or "").strip()
        name, addr = parseaddr(self.sender)
        msg["From"] = formataddr((name, addr))
        msg["To"] = r.email
        domain = addr.rsplit("@", 1)[-1] or "loa.example"
        msg["Message-ID"] = make_msgid(idstring=f"{job.idempotency_key}.{r.id}", domain=domain)
        msg["List-Unsubscribe"] = f"<{link}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["X-Loa-Delivery"] = job.idempotency_key
        msg.set_content(
            (job.file("bulletin.txt").text or "").replace(UNSUBSCRIBE_PLACEHOLDER, link)
        )
        msg.add_alternative(
            (job.file("bulletin.html").text or "").replace(UNSUBSCRIBE_PLACEHOLDER, link),
            subtype="html",
        )
        return msg

    def send(self, job: Job) -> SendResult:
        if self.user and self.tls == "none":
            raise PermanentError(
                "Không gửi mật khẩu SMTP không mã hoá / the SMTP password is never sent in "
                "clear: set LOA_PUB_SMTP_TLS=starttls or smtps"
            )
        pending = self.mailing_list.pending(job)
        if pending:
            where = (self.host, self.port, self.tls, self.timeout, self.ca_file)
            try:
                with secure_smtp(*where) as smtp:
                    if self.user:
                        smtp.login(self.user, self.password or "")
                    for r in pending:
                        msg = self._message(job, r)
                        try:
                            smtp.send_message(msg)
                        except smtplib.SMTPRecipientsRefused:
                            continue  # a bad address must not block the others
                        self.mailing_list.mark_sent(job, r, str(msg["Message-ID"]))
            except InsecureSmtp as exc:
                raise PermanentError(str(exc)) from exc
            except ssl.SSLCertVerificationError as exc:
                raise PermanentError(untrusted(exc)) from exc
            except smtplib.SMTPAuthenticationError as exc:
                raise PermanentError(
                    f"SMTP đăng nhập thất bại / SMTP login refused: {exc.smtp_code} "
                    f"{exc.smtp_error!r}; check LOA_PUB_SMTP_USER/PASSWORD"
                ) from exc
            except smtplib.SMTPResponseException as exc:
                err = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
                if 400 <= exc.smtp_code < 500:
                    raise TransientError(err) from exc
                raise PermanentError(err) from exc
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                raise TransientError(f"SMTP server unreachable: {exc}") from exc
        count = self.mailing_list.sent_count(job)
        return SendResult(remote_id=f"{count} recipients")

    def find(self, job: Job) -> SendResult | None:
        # Recipients are recorded one by one; send() continues with those not yet mailed.
        return None
