"""Messages to the feedback mailbox become tickets; a reply keeps its ticket.

A message belongs to an existing ticket when its In-Reply-To or References name a message of
that ticket's thread (ours or the citizen's), or when its subject carries the ticket's tracking
code and it comes from the e-mail address written on that ticket. Anything else opens a new
ticket. A message delivered twice (same Message-ID) is applied once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.feedback.domain.attachments import ALLOWED_TYPES
from services.feedback.domain.channels import first_delivery
from services.feedback.domain.codes import CODE_PATTERN, normalize_code
from services.feedback.domain.tickets import Desk, Intake
from services.feedback.models import email_messages, tickets

_CODE = CODE_PATTERN
_TAGS = re.compile(r"<[^>]+>")
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass
class Mail:
    message_id: str
    refs: list[str]
    sender: str
    name: str
    subject: str
    body: str
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    """Attachments of accepted types and size: (filename, content type, bytes)."""
    skipped: list[str] = field(default_factory=list)


class BadMail(ValueError):
    """A message that can never become a ticket (no sender, no text)."""


def parse(raw: bytes, envelope_from: str = "", max_file_bytes: int = 10 * 1024 * 1024) -> Mail:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    name, sender = parseaddr(str(msg.get("From", "")))
    sender = (sender or envelope_from or "").strip().lower()
    if "@" not in sender:
        raise BadMail("no sender address")
    message_id = str(msg.get("Message-ID", "")).strip()
    if not message_id:
        message_id = "<sha256-" + hashlib.sha256(raw).hexdigest() + "@loa>"
    refs = _MSGID.findall(f"{msg.get('In-Reply-To', '')} {msg.get('References', '')}")
    body = _text_of(msg)
    subject = str(msg.get("Subject", "")).strip()
    if not body.strip() and not subject:
        raise BadMail("the message has no text")
    mail = Mail(message_id[:300], refs, sender, name.strip(), subject, body)
    for part in msg.iter_attachments():
        assert isinstance(part, EmailMessage)
        filename = str(part.get_filename() or "attachment")[:200]
        ctype = part.get_content_type().lower()
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        if ctype not in ALLOWED_TYPES or len(data) > max_file_bytes or len(mail.files) >= 5:
            mail.skipped.append(f"{filename} ({ctype}, {len(data)} bytes)")
        else:
            mail.files.append((filename, ctype, data))
    return mail


def _text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    text = str(content) if not isinstance(content, bytes) else content.decode("utf-8", "replace")
    if part.get_content_subtype() == "html":
        text = _TAGS.sub(" ", text)
    return _strip_quoted(text).strip()


def _strip_quoted(text: str) -> str:
    """Drop the quoted earlier message of a reply ("> ..." lines and what follows "On … wrote:")."""
    out = []
    for line in text.splitlines():
        if re.match(r"^\s*(On .+wrote:|Vào .+đã viết:)\s*$", line):
            break
        if line.startswith(">"):
            continue
        out.append(line)
    return "\n".join(out)


def receive(desk: Desk, session: Session, mail: Mail) -> dict[str, Any]:
    """Apply one message: continue its ticket or open one. Returns code and what happened."""
    if not first_delivery(session, "email", mail.message_id[:200]):
        return {"duplicate": True}
    ticket_id = _thread_ticket(session, mail.refs) or _coded_ticket(desk, session, mail)
    text = mail.body or mail.subject
    if ticket_id:
        row = desk.add_message(session, ticket_id, text)
        outcome = "threaded"
    else:
        row = desk.submit(
            session,
            Intake(
                channel="email",
                category="khac",
                title=mail.subject[:300],
                description=text,
                contact={k: v for k, v in (("email", mail.sender), ("name", mail.name)) if v},
                external_ref="email:" + hashlib.sha256(mail.message_id.encode()).hexdigest(),
            ),
        )
        outcome = "new"
    remember(session, mail.message_id, row["id"], "in")
    if mail.skipped:  # the desk sees what was not kept, and why
        desk.note(session, row["id"], "email attachments not kept: " + "; ".join(mail.skipped))
    return {"duplicate": False, "code": row["code"], "ticket_id": row["id"], "outcome": outcome}


def remember(session: Session, message_id: str, ticket_id: str, direction: str) -> None:
    exists = session.execute(
        select(email_messages.c.message_id).where(email_messages.c.message_id == message_id)
    ).first()
    if not exists:
        session.execute(
            insert(email_messages).values(
                message_id=message_id[:300],
                ticket_id=ticket_id,
                direction=direction,
                at=datetime.now(UTC),
            )
        )


def thread_of(session: Session, ticket_id: str) -> list[str]:
    """The ticket's Message-IDs, oldest first (In-Reply-To/References of our reply)."""
    rows = session.execute(
        select(email_messages.c.message_id)
        .where(email_messages.c.ticket_id == ticket_id)
        .order_by(email_messages.c.at)
    )
    return [r.message_id for r in rows]


def _thread_ticket(session: Session, refs: list[str]) -> str | None:
    if not refs:
        return None
    row = session.execute(
        select(email_messages.c.ticket_id).where(email_messages.c.message_id.in_(refs)).limit(1)
    ).first()
    return row.ticket_id if row else None


def _coded_ticket(desk: Desk, session: Session, mail: Mail) -> str | None:
    for candidate in _CODE.findall(mail.subject.upper()):
        code = normalize_code(candidate)
        if not code:
            continue
        row = session.execute(
            select(tickets.c.id, tickets.c.contact_enc).where(tickets.c.code == code)
        ).first()
        if row is None:
            continue
        # Only the person who wrote the ticket continues it by its code.
        if desk.vault.open(row.contact_enc).get("email", "").lower() == mail.sender:
            return str(row.id)
    return None
