"""Citizens' requests to see or delete their personal data (Law 91/2025 on personal data
protection, Decree 356/2025): recorded with their legal deadline (acknowledge within 2 working
days), then handled by staff.

- The citizen proves the data is theirs with the secret tracking codes of their tickets (never
  shown anywhere public) and the phone number or e-mail given on them. A wrong pair is refused
  with the same answer as an unknown code, so the form cannot be used to learn who wrote what.
- A request covers what its proof covers: the tickets whose codes were presented. A portal phone
  number is never verified (anyone can file a ticket with someone else's), so a request for every
  ticket of a phone (scope "phone") is handled only once staff (operator or admin) have recorded
  an identity check: who, when, how.
- Access: staff export the data (decrypted) to answer the citizen; the export is not stored.
- Deletion: contact data, look-up hashes, attachments, the call's number and its recording (also
  one not fetched yet) are erased; every free text of the tickets that can hold the citizen's
  words (title, description, messages, answer, rating comment, history notes, replies to the
  citizen and their errors, published question and answer, Open311 attributes) is anonymized
  and sealed again; replies not sent yet are never sent. Category, unit, dates, status,
  on-time flag and rating score stay, so the reports and the SIPAS index do not change.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from services.feedback.domain import workdays
from services.feedback.domain.pii import normalize_phone
from services.feedback.domain.tickets import Actor, Desk, anonymize
from services.feedback.domain.tickets import _aware as aware
from services.feedback.models import (
    attachments,
    calls,
    data_requests,
    email_messages,
    messages,
    notifications,
    recordings,
    ticket_history,
    tickets,
)
from shared.errors import Conflict, InvalidInput, NotFound
from shared.ids import new_id

ACK_WORKING_DAYS = 2
KINDS = ("access", "delete")
SCOPES = ("tickets", "phone")
HANDLER_ROLES = ("admin",)
"""Who acknowledges, exports, erases and rejects."""
VERIFY_ROLES = ("operator", "admin")
"""Who records an identity check (the hotline desk or the counter) and so sees the requests."""
MAX_CODES = 20
ERASED = "[đã xoá theo yêu cầu / erased on request]"


def _matches(contact: dict[str, str], phone: str | None, email: str | None) -> bool:
    ok = False
    if phone and contact.get("phone"):
        given, kept = normalize_phone(phone), normalize_phone(contact["phone"])
        ok = bool(given) and hmac.compare_digest(given, kept)
    if not ok and email and contact.get("email"):
        ok = hmac.compare_digest(email.strip().lower(), contact["email"].strip().lower())
    return ok


def file_request(
    desk: Desk,
    session: Session,
    kind: str,
    codes: list[str] | str,
    phone: str | None = None,
    email: str | None = None,
    scope: str = "tickets",
) -> dict[str, Any]:
    """Record a citizen's request for the tickets whose codes they give (each with that phone
    or e-mail); returns its id and the acknowledgement deadline."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", "kind")
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}", "scope")
    codes = [codes] if isinstance(codes, str) else list(dict.fromkeys(c for c in codes if c))
    if not codes or len(codes) > MAX_CODES:
        raise InvalidInput(f"give 1 to {MAX_CODES} tracking codes", "code")
    if not (phone or email):
        raise InvalidInput(
            "Cần số điện thoại hoặc email đã ghi trong phản ánh / give the phone or e-mail "
            "written on the ticket",
            "phone",
        )
    refused = NotFound(
        "Mã tra cứu và thông tin liên hệ không khớp / the code and contact do not match", "code"
    )
    proven: list[dict[str, Any]] = []
    for code in codes:
        try:
            ticket = desk._by_code(session, code)
        except NotFound:
            raise refused from None
        if not _matches(desk.vault.open(ticket["contact_enc"]), phone, email):
            raise refused
        proven.append(ticket)
    ticket = proven[0]
    now = desk.now()
    subject = ticket["caller_hash"] or desk.vault.lookup_hash("ticket", ticket["id"]) or ""
    row = dict(
        id=new_id(),
        kind=kind,
        subject_hash=subject,
        contact_enc=desk.vault.seal({k: v for k, v in (("phone", phone), ("email", email)) if v}),
        received_at=now,
        ack_deadline_at=workdays.deadline_after(now, ACK_WORKING_DAYS),
        status="received",
        ticket_id=ticket["id"],
        scope=scope,
        ticket_ids=[t["id"] for t in proven],
    )
    session.execute(insert(data_requests).values(**row))
    return {
        "request_id": row["id"],
        "kind": kind,
        "status": "received",
        "scope": scope,
        "tickets": len(proven),
        "identity_check_needed": scope == "phone",
        "received_at": now,
        "ack_deadline_at": row["ack_deadline_at"],
    }


def _view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("contact_enc", "subject_hash")}
    out["ack_overdue"] = row["acknowledged_at"] is None and now > aware(row["ack_deadline_at"])
    return out


def list_requests(
    desk: Desk, session: Session, actor: Actor, open_only: bool = False
) -> list[dict[str, Any]]:
    desk._require(actor, *VERIFY_ROLES)
    q = select(data_requests).order_by(data_requests.c.received_at)
    if open_only:
        q = q.where(data_requests.c.status.in_(("received", "acknowledged")))
    now = desk.now()
    return [_view(dict(r._mapping), now) for r in session.execute(q)]


def _request(session: Session, request_id: str) -> dict[str, Any]:
    row = session.execute(select(data_requests).where(data_requests.c.id == request_id)).first()
    if row is None:
        raise NotFound(f"no data request {request_id}", "request_id")
    return dict(row._mapping)


def _subject_tickets(session: Session, req: dict[str, Any]) -> list[dict[str, Any]]:
    """The tickets the request's proof covers; all of the phone's once identity was checked."""
    cond = [tickets.c.id.in_(req["ticket_ids"] or [req["ticket_id"]])]
    if req["scope"] == "phone" and req["identity_checked_at"] and req["subject_hash"]:
        cond.append(tickets.c.caller_hash == req["subject_hash"])
    rows = session.execute(select(tickets).where(or_(*cond)).order_by(tickets.c.created_at))
    return [dict(r._mapping) for r in rows]


def acknowledge(
    desk: Desk, session: Session, request_id: str, actor: Actor, note: str = ""
) -> dict[str, Any]:
    desk._require(actor, *HANDLER_ROLES)
    req = _request(session, request_id)
    if req["status"] != "received":
        raise Conflict(f"the request is {req['status']}", "status")
    now = desk.now()
    session.execute(
        update(data_requests)
        .where(data_requests.c.id == request_id)
        .values(status="acknowledged", acknowledged_at=now, handled_by=actor.id[:100], note=note)
    )
    return _view(_request(session, request_id), now)


def _open_for_handling(desk: Desk, session: Session, request_id: str, kind: str) -> dict[str, Any]:
    req = _request(session, request_id)
    if req["kind"] != kind:
        raise Conflict(f"this is a {req['kind']} request", "kind")
    if req["status"] in ("completed", "rejected"):
        raise Conflict(f"the request is already {req['status']}", "status")
    if req["scope"] == "phone" and req["identity_checked_at"] is None:
        raise Conflict(
            "Yêu cầu cho mọi phản ánh của số điện thoại cần xác minh danh tính trước / a request "
            "for every ticket of a phone waits for staff to record an identity check (verify)",
            "identity_checked_at",
        )
    return req


def verify_identity(
    desk: Desk, session: Session, request_id: str, actor: Actor, note: str
) -> dict[str, Any]:
    """Staff record that they checked the requester's identity (ID card at the counter, a call
    back to the number): who, when and how. Only then does a "phone" request cover every ticket
    of that phone."""
    desk._require(actor, *VERIFY_ROLES)
    req = _request(session, request_id)
    if req["status"] in ("completed", "rejected"):
        raise Conflict(f"the request is already {req['status']}", "status")
    if not note.strip():
        raise InvalidInput(
            "Ghi rõ cách xác minh / say how the identity was checked", "note"
        )
    now = desk.now()
    session.execute(
        update(data_requests)
        .where(data_requests.c.id == request_id)
        .values(
            identity_checked_by=actor.id[:100],
            identity_checked_at=now,
            identity_note=note[:2000],
        )
    )
    return _view(_request(session, request_id), now)


def _finish(
    desk: Desk, session: Session, req: dict[str, Any], actor: Actor, status: str, **values: Any
) -> None:
    now = desk.now()
    session.execute(
        update(data_requests)
        .where(data_requests.c.id == req["id"])
        .values(
            status=status,
            completed_at=now,
            acknowledged_at=req["acknowledged_at"] or now,
            handled_by=actor.id[:100],
            **values,
        )
    )


def export(desk: Desk, session: Session, request_id: str, actor: Actor) -> dict[str, Any]:
    """Everything kept about the subject, decrypted, to send to them; completes the request."""
    desk._require(actor, *HANDLER_ROLES)
    req = _open_for_handling(desk, session, request_id, "access")
    out = []
    for t in map(desk._opened, _subject_tickets(session, req)):
        tid = t["id"]
        out.append(
            {
                "code": t["code"],
                "channel": t["channel"],
                "category": t["category"],
                "status": t["status"],
                "received_at": t["created_at"],
                "title": t["title"],
                "description": t["description"],
                "contact": desk.vault.open(t["contact_enc"]),
                "answer": t["answer"],
                "rating": t["rating"],
                "rating_comment": t["rating_comment"],
                "messages": [
                    {"at": m.at, "direction": m.direction, "body": desk.vault.open_text(m.body)}
                    for m in session.execute(
                        select(messages).where(messages.c.ticket_id == tid).order_by(messages.c.id)
                    )
                ],
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                    for a in session.execute(
                        select(attachments).where(attachments.c.ticket_id == tid)
                    )
                ],
            }
        )
    _finish(desk, session, req, actor, "completed", tickets_affected=len(out))
    return {"request_id": request_id, "tickets": out}


def erase(desk: Desk, session: Session, request_id: str, actor: Actor) -> dict[str, Any]:
    """Erase the subject's personal data and anonymize their tickets, keeping the statistics.

    Returns the object keys of their attachments under "object_keys": the caller deletes them
    once this unit of work has committed (a rollback must not leave rows without objects)."""
    desk._require(actor, *HANDLER_ROLES)
    req = _open_for_handling(desk, session, request_id, "delete")
    rows = [desk._opened(t) for t in _subject_tickets(session, req)]
    keys: list[str] = []
    # Whatever one ticket knew about the person (a name given once) is removed from all.
    contacts = [c for c in (desk.vault.open(t["contact_enc"]) for t in rows) if c]

    def plain(text: str | None) -> str | None:
        """Text anonymized (what one ticket knew about the person removed, then any phone,
        e-mail, ID number or street address)."""
        if not text:
            return text
        for contact in contacts or [{}]:
            text = anonymize(text, contact)
        return text

    def anon(text: str | None) -> str | None:
        """Stored text (sealed, or opened) anonymized, sealed again."""
        return desk.vault.seal_text(plain(desk.vault.open_text(text)))

    def anon_values(value: Any) -> Any:
        """Every string inside a JSON value (Open311 attributes) anonymized."""
        if isinstance(value, str):
            return plain(value)
        if isinstance(value, list):
            return [anon_values(v) for v in value]
        if isinstance(value, dict):
            return {k: anon_values(v) for k, v in value.items()}
        return value

    for t in rows:
        tid = t["id"]
        session.execute(
            update(tickets)
            .where(tickets.c.id == tid)
            .values(
                contact_enc=None,
                caller_hash=None,
                title=anon(t["title"]) or "",
                description=anon(t["description"]) or ERASED,
                answer=anon(t["answer"]),
                rating_comment=anon(t["rating_comment"]),
                published_question=plain(t["published_question"]),
                published_answer=plain(t["published_answer"]),
                attributes=anon_values(t["attributes"]),
                lat=None,
                long=None,
            )
        )
        for m in session.execute(select(messages).where(messages.c.ticket_id == tid)).all():
            session.execute(
                update(messages).where(messages.c.id == m.id).values(body=anon(m.body) or "")
            )
        # History notes: the citizen's reopen reasons and replies, questions asked to them,
        # file names of what they sent.
        for h in session.execute(
            select(ticket_history.c.id, ticket_history.c.note).where(
                ticket_history.c.ticket_id == tid, ticket_history.c.note.is_not(None)
            )
        ).all():
            session.execute(
                update(ticket_history).where(ticket_history.c.id == h.id).values(note=anon(h.note))
            )
        # Replies to the citizen: anonymized; those not yet sent are never sent (the address
        # is erased).
        for n in session.execute(
            select(
                notifications.c.id,
                notifications.c.body,
                notifications.c.status,
                notifications.c.last_error,
            ).where(notifications.c.ticket_id == tid)
        ).all():
            values: dict[str, Any] = {"body": anon(n.body) or "", "last_error": plain(n.last_error)}
            if n.status == "pending":
                values.update(status="failed", last_error=ERASED)
            session.execute(
                update(notifications).where(notifications.c.id == n.id).values(**values)
            )
        found = session.execute(select(calls.c.call_id).where(calls.c.ticket_id == tid))
        call_ids = [c.call_id for c in found]
        owned = [attachments.c.ticket_id == tid]
        if call_ids:
            owned.append(attachments.c.call_id.in_(call_ids))
            session.execute(
                update(calls)
                .where(calls.c.call_id.in_(call_ids))
                .values(caller_enc=None, caller_hash=None)
            )
            # A recording not fetched yet would come back as an attachment; its URL may name
            # the caller's number.
            session.execute(delete(recordings).where(recordings.c.call_id.in_(call_ids)))
        keys += [a.key for a in session.execute(select(attachments.c.key).where(or_(*owned)))]
        session.execute(delete(attachments).where(or_(*owned)))
        session.execute(delete(email_messages).where(email_messages.c.ticket_id == tid))
        session.execute(
            insert(ticket_history).values(
                ticket_id=tid,
                at=desk.now(),
                actor=actor.id[:100],
                action="personal_data_erased",
                from_status=None,
                to_status=None,
                unit_id=t["unit_id"],
                note=f"data request {request_id}",
            )
        )
    _finish(
        desk,
        session,
        req,
        actor,
        "completed",
        tickets_affected=len(rows),
        contact_enc=None,
    )
    return {
        "request_id": request_id,
        "tickets_anonymized": len(rows),
        "attachments_deleted": len(keys),
        "object_keys": keys,
    }


def reject(
    desk: Desk, session: Session, request_id: str, actor: Actor, reason: str
) -> dict[str, Any]:
    desk._require(actor, *HANDLER_ROLES)
    req = _request(session, request_id)
    if req["status"] in ("completed", "rejected"):
        raise Conflict(f"the request is already {req['status']}", "status")
    if not reason.strip():
        raise InvalidInput("a reason is required", "reason")
    _finish(desk, session, req, actor, "rejected", note=reason[:2000])
    return _view(_request(session, request_id), desk.now())
