"""Channels into tickets: the 1022 call center, Zalo OA and Facebook page messages.

Each delivery is recorded by its platform id first (webhook_receipts), so a webhook delivered
twice is applied once; chat messages from someone whose ticket is waiting for them continue that
ticket instead of opening a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.feedback.adapters.recording_fetch import allowed
from services.feedback.domain import recordings
from services.feedback.domain.states import Status
from services.feedback.domain.tickets import Actor, Desk, Intake
from services.feedback.models import calls, tickets, webhook_receipts
from shared.errors import BadRequest, Conflict, NotFound

REPLY_WINDOW = timedelta(days=14)
"""How long after our answer (or closing) a chat message still belongs to that ticket."""


class CallEvent(BaseModel):
    """One event of the call center's webhook."""

    event: Literal["call.new", "call.answered", "call.hangup", "call.recording"]
    call_id: str = Field(min_length=1, max_length=100)
    caller: str = Field("", max_length=30)
    called: str = Field("1022", max_length=30)
    direction: Literal["inbound", "outbound"] = "inbound"
    operator: str | None = Field(None, max_length=100)
    queue: str | None = Field(None, max_length=100)
    recording_url: str | None = Field(None, max_length=2000)


def parse_call_event(data: dict[str, Any]) -> CallEvent:
    try:
        return CallEvent.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"call event invalid at {where}: {first['msg']}", where) from None


def first_delivery(session: Session, source: str, delivery_id: str) -> bool:
    """Record a delivery; False if this (source, id) was already seen."""
    seen = session.execute(
        select(webhook_receipts.c.delivery_id).where(
            webhook_receipts.c.source == source, webhook_receipts.c.delivery_id == delivery_id
        )
    ).first()
    if seen:
        return False
    session.execute(
        insert(webhook_receipts).values(
            source=source, delivery_id=delivery_id, received_at=datetime.now(UTC)
        )
    )
    return True


def apply_call_event(
    desk: Desk, session: Session, event: CallEvent, recording_origins: Sequence[str] = ()
) -> dict[str, Any]:
    """Keep the call's state; returns what the operator's screen shows (earlier tickets).
    A recording's URL is remembered here and fetched by the clock (nothing heavy in a webhook)."""
    if event.event == "call.recording":
        if not event.recording_url:
            raise BadRequest("call.recording needs recording_url", "recording_url")
        if not allowed(event.recording_url, recording_origins):
            raise BadRequest(
                "recording_url is not an http(s) URL of the call center's recording server "
                "(LOA_FEEDBACK_RECORDING_ORIGINS)",
                "recording_url",
            )
    if not first_delivery(session, "hotline", f"{event.call_id}:{event.event}"):
        return {"call_id": event.call_id, "duplicate": True}
    now = desk.now()
    row = session.execute(select(calls).where(calls.c.call_id == event.call_id)).first()
    caller_hash = desk.vault.lookup_hash("phone", event.caller)
    if row is None:
        session.execute(
            insert(calls).values(
                call_id=event.call_id,
                caller_hash=caller_hash,
                caller_enc=desk.vault.seal({"phone": event.caller}),
                line=event.called,
                direction=event.direction,
                operator=event.operator,
                queue=event.queue,
                state="ringing",
                started_at=now,
            )
        )
    changes: dict[str, Any] = {}
    if event.operator:
        changes["operator"] = event.operator
    if event.queue:
        changes["queue"] = event.queue
    if event.event == "call.answered":
        changes.update(state="answered", answered_at=now)
    elif event.event == "call.hangup":
        changes.update(state="ended", ended_at=now)
    if changes:
        session.execute(update(calls).where(calls.c.call_id == event.call_id).values(**changes))
    if event.event == "call.recording" and event.recording_url:
        recordings.announce(session, event.call_id, event.recording_url)
    return {
        "call_id": event.call_id,
        "duplicate": False,
        "earlier_tickets": desk.earlier_tickets(session, caller_hash),
    }


def call_view(desk: Desk, session: Session, call_id: str) -> dict[str, Any]:
    row = _call(session, call_id)
    return {
        "call_id": row.call_id,
        "state": row.state,
        "line": row.line,
        "operator": row.operator,
        "queue": row.queue,
        "ticket_id": row.ticket_id,
        "earlier_tickets": desk.earlier_tickets(session, row.caller_hash),
    }


def _call(session: Session, call_id: str) -> Any:
    row = session.execute(select(calls).where(calls.c.call_id == call_id)).first()
    if row is None:
        raise NotFound(f"Không có cuộc gọi {call_id} / no call {call_id}", "call_id")
    return row


def ticket_from_call(
    desk: Desk,
    session: Session,
    call_id: str,
    category: str,
    description: str,
    actor: Actor,
    unit_id: str | None = None,
    name: str | None = None,
    is_public: bool = False,
) -> dict[str, Any]:
    """The operator turns the live call into a ticket; once per call, whatever is retried."""
    desk._require(actor, "operator", "admin")
    row = _call(session, call_id)
    contact = desk.vault.open(row.caller_enc)
    if name:
        contact["name"] = name
    ticket = desk.submit(
        session,
        Intake(
            channel="hotline",
            category=category,
            description=description,
            contact=contact,
            is_public=is_public,
            external_ref=f"hotline:{call_id}",
            unit_id=unit_id,
            attributes={"operator": row.operator, "queue": row.queue},
        ),
        actor,
    )
    session.execute(update(calls).where(calls.c.call_id == call_id).values(ticket_id=ticket["id"]))
    recordings.link_to_ticket(session, call_id, ticket["id"])
    return ticket


def chat_message(
    desk: Desk, session: Session, channel: str, user_id: str, message_id: str, text: str
) -> dict[str, Any] | None:
    """A Zalo/Facebook message: continues this person's conversation, or opens a ticket.

    The conversation is their ticket waiting for them, else the one we answered or closed in
    the last REPLY_WINDOW (the message reopens it, or rates it if it is a bare 1–5: see
    Desk.add_message). Anything later is a new question.
    """
    if not first_delivery(session, channel, message_id):
        return None
    user_hash = desk.vault.lookup_hash("channel_user", f"{channel}:{user_id}")
    mine = (tickets.c.caller_hash == user_hash, tickets.c.channel == channel)
    waiting = session.execute(
        select(tickets.c.id)
        .where(*mine, tickets.c.status == Status.WAITING.value)
        .order_by(tickets.c.created_at.desc())
    ).first()
    if waiting is None:
        waiting = session.execute(
            select(tickets.c.id)
            .where(
                *mine,
                tickets.c.status.in_([Status.ANSWERED.value, Status.CLOSED.value]),
                tickets.c.updated_at >= desk.now() - REPLY_WINDOW,
            )
            .order_by(tickets.c.updated_at.desc())
        ).first()
    if waiting:
        return desk.add_message(session, waiting.id, text)
    return desk.submit(
        session,
        Intake(
            channel=channel,
            category="khac",
            description=text,
            contact={"channel_user": f"{channel}:{user_id}"},
            external_ref=f"{channel}:{message_id}",
        ),
    )


def facebook_messages(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(message id, sender PSID, text) of each text message in a page webhook batch."""
    if data.get("object") != "page":
        raise BadRequest("not a page webhook (object must be 'page')", "object")
    out = []
    for entry in data.get("entry") or []:
        for item in entry.get("messaging") or []:
            message = item.get("message") or {}
            if message.get("is_echo") or not message.get("text") or not message.get("mid"):
                continue
            out.append((str(message["mid"]), str(item["sender"]["id"]), str(message["text"])))
    return out


def zalo_message(data: dict[str, Any]) -> tuple[str, str, str] | None:
    """(message id, sender id, text) of a user_send_text event; other events are ignored."""
    if data.get("event_name") != "user_send_text":
        return None
    message = data.get("message") or {}
    sender = (data.get("sender") or {}).get("id")
    if not sender or not message.get("msg_id"):
        raise BadRequest("Zalo message without sender.id or message.msg_id", "message")
    return str(message["msg_id"]), str(sender), str(message.get("text", ""))


def reply_address(desk: Desk, contact_enc: str | None, channel: str) -> str:
    contact = desk.vault.open(contact_enc)
    if channel == "email":
        if not contact.get("email"):
            raise Conflict("no e-mail address to reply to", "channel")
        return contact["email"]
    user = contact.get("channel_user", "")
    prefix = f"{channel}:"
    if not user.startswith(prefix):
        raise Conflict(f"no {channel} user to reply to", "channel")
    return user[len(prefix) :]
