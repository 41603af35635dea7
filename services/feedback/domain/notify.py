"""Delivering replies to citizens: due notifications are sent outside any transaction, then
marked sent, rescheduled with backoff (rate limits, outages) or failed for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from services.feedback.adapters.mail import EmailSender
from services.feedback.adapters.replies import ReplyFailed, ReplySender
from services.feedback.domain import mailbox
from services.feedback.domain.channels import reply_address
from services.feedback.domain.tickets import Desk
from services.feedback.models import notifications, tickets

BACKOFF_S = (10, 60, 300, 1800, 7200)


def deliver_due(
    db: Any, desk: Desk, senders: dict[str, ReplySender], limit: int = 50
) -> dict[str, int]:
    """Send what is due; returns counts by outcome."""
    now = desk.now()
    with db.session() as session:
        due = session.execute(
            select(notifications, tickets.c.contact_enc, tickets.c.code)
            .join(tickets, tickets.c.id == notifications.c.ticket_id)
            .where(notifications.c.status == "pending", notifications.c.next_attempt_at <= now)
            .order_by(notifications.c.id)
            .limit(limit)
        ).all()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row in due:
        sender = senders.get(row.channel)
        changes: dict[str, Any] = {"attempts": row.attempts + 1}
        try:
            if sender is None:
                raise ReplyFailed(f"no sender configured for {row.channel}", retry=False)
            with db.session() as session:
                user_id = reply_address(desk, row.contact_enc, row.channel)
                thread = mailbox.thread_of(session, row.ticket_id) if row.channel == "email" else []
            body = desk.vault.open_text(row.body) or ""
            if isinstance(sender, EmailSender):
                remote = sender.send_reply(user_id, body, row.code, thread)
            else:
                remote = sender.send(user_id, body)
            changes.update(status="sent", remote_id=remote[:200], last_error=None)
            counts["sent"] += 1
        except ReplyFailed as exc:
            if exc.retry and row.attempts < len(BACKOFF_S):
                changes.update(
                    last_error=exc.reason[:2000],
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=BACKOFF_S[row.attempts]),
                )
                counts["retry"] += 1
            else:
                changes.update(status="failed", last_error=exc.reason[:2000])
                counts["failed"] += 1
        except Exception as exc:  # noqa: BLE001 - one bad row must not block the others
            changes.update(status="failed", last_error=f"{type(exc).__name__}: {exc}"[:2000])
            counts["failed"] += 1
        with db.session() as session:
            session.execute(
                update(notifications).where(notifications.c.id == row.id).values(**changes)
            )
            if row.channel == "email" and changes.get("status") == "sent":
                mailbox.remember(session, changes["remote_id"], row.ticket_id, "out")
    return counts


def list_for(session: Any, ticket_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(notifications)
        .where(notifications.c.ticket_id == ticket_id)
        .order_by(notifications.c.id)
    )
    return [dict(r._mapping) for r in rows]
