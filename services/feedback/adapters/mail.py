"""The feedback mailbox over SMTP: an intake server (aiosmtpd) that hands each message to the
domain, and a sender that answers citizens through the center's SMTP relay, threaded so that the
citizen's next reply finds its ticket (Message-ID, In-Reply-To, References, code in the subject).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

from aiosmtpd.controller import Controller

from services.feedback.adapters.replies import ReplyFailed
from shared.logging import register_secrets
from shared.smtp import InsecureSmtp, secure_smtp, untrusted

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class Rejected(Exception):
    """The message can never be accepted (5xx); other exceptions answer 451 (try again)."""


class _Handler:
    def __init__(self, mailbox: str, deliver: Callable[[bytes, str], None]) -> None:
        self.mailbox = mailbox.lower()
        self.deliver = deliver

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() != self.mailbox:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        try:
            self.deliver(bytes(envelope.original_content or envelope.content), envelope.mail_from)
        except Rejected as exc:
            return f"550 5.6.0 {exc}"
        except Exception:  # noqa: BLE001 - the sender keeps the message and retries
            log.exception("feedback mailbox: message not accepted, sender will retry")
            return "451 4.3.0 temporary failure, try again later"
        return "250 OK: received"


class SmtpIntake:
    """An SMTP server on (host, port) accepting mail for one mailbox."""

    def __init__(
        self, host: str, port: int, mailbox: str, deliver: Callable[[bytes, str], None]
    ) -> None:
        self.controller = Controller(
            _Handler(mailbox, deliver),
            hostname=host,
            port=port,
            data_size_limit=MAX_MESSAGE_BYTES,
            ready_timeout=10.0,
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class EmailSender:
    """Replies by e-mail through an SMTP relay: smtp://[user:pass@]host:port (STARTTLS required),
    smtps://… (implicit TLS), both with the certificate verified (ca_file: LOA_TLS_CA_FILE), or
    smtp+plain://host:port for a relay on this host that takes mail without a login."""

    def __init__(
        self, relay_url: str, mailbox: str, timeout: float = 20.0, ca_file: str | None = None
    ) -> None:
        parts = urlsplit(relay_url)
        if parts.scheme not in ("smtp", "smtps", "smtp+plain") or not parts.hostname:
            raise ValueError("the SMTP relay must look like smtp://host:port or smtps://host:port")
        self.tls = {"smtp": "starttls", "smtps": "smtps", "smtp+plain": "none"}[parts.scheme]
        if self.tls == "none" and (parts.username or parts.password):
            raise ValueError("smtp+plain:// never carries a login: the password would be in clear")
        self.ssl = self.tls == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        register_secrets([self.password, parts.password])
        self.mailbox = mailbox
        self.timeout = timeout
        self.ca_file = ca_file

    def send(self, user_id: str, text: str) -> str:
        return self.send_reply(user_id, text, "", [])

    def send_reply(self, to: str, text: str, code: str, thread: list[str]) -> str:
        """Send; returns the Message-ID (kept so the citizen's reply threads back)."""
        msg = EmailMessage()
        msg["From"] = formataddr(("Trung tâm Phục vụ hành chính công", self.mailbox))
        msg["To"] = to
        msg["Subject"] = (
            f"[{code}] Trả lời phản ánh / Reply to your feedback"
            if code
            else ("Trả lời phản ánh / Reply to your feedback")
        )
        domain = self.mailbox.rpartition("@")[2] or "localhost"
        message_id = make_msgid(domain=domain)
        msg["Message-ID"] = message_id
        if thread:
            msg["In-Reply-To"] = thread[-1]
            msg["References"] = " ".join(thread[-10:])
        msg.set_content(text)
        try:
            with secure_smtp(self.host, self.port, self.tls, self.timeout, self.ca_file) as smtp:
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
        except InsecureSmtp as exc:
            raise ReplyFailed(str(exc), retry=False) from None
        except ssl.SSLCertVerificationError as exc:
            raise ReplyFailed(untrusted(exc), retry=False) from None
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise ReplyFailed(reason, retry=400 <= exc.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise ReplyFailed(f"recipient refused: {exc.recipients}", retry=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ReplyFailed(f"SMTP relay unreachable: {type(exc).__name__}", retry=True) from None
        return message_id
