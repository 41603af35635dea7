"""Tickets: intake, the workflow between units, deadlines, answers, ratings and merging.

Every change writes a history row and, in the same transaction, its event (no personal data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.feedback.domain import catalog, workdays
from services.feedback.domain.codes import new_code, new_public_id, normalize_code
from services.feedback.domain.pii import PII_ROLES, Vault, contact_for
from services.feedback.domain.redaction import redact_text
from services.feedback.domain.states import CLOCK_RUNNING, LABELS_VI, OPEN, Status
from services.feedback.domain.states import check_transition as _check
from services.feedback.domain.text import clean, similarity
from services.feedback.models import (
    categories,
    messages,
    notifications,
    ticket_history,
    tickets,
    units,
)
from shared.errors import Conflict, Forbidden, InvalidInput, LoaError, NotFound
from shared.ids import new_id

CHANNELS = ("portal", "app", "hotline", "zalo", "facebook", "email", "open311")
REPLY_CHANNELS = ("zalo", "facebook", "email")
STAFF_ROLES = ("operator", "officer", "admin", "viewer")
"""The gateway's roles that reach the desk (editor and publisher never do)."""
CONTENT_ROLES = ("operator", "officer", "admin")
"""Roles that read tickets' content: viewers see reports (aggregates) only."""
LIST_FIELDS = (
    "id",
    "public_id",
    "channel",
    "category",
    "unit_id",
    "status",
    "merged_into",
    "title",
    "is_public",
    "created_at",
    "updated_at",
    "assigned_at",
    "forward_deadline_at",
    "deadline_at",
    "answered_at",
    "answered_on_time",
    "closed_at",
    "published_version",
    "rating",
    "overdue_at",
)
"""What a list shows of each ticket: no description, no thread, the title redacted."""
SEALED_TEXT = ("title", "description", "answer", "rating_comment")
"""The ticket's free text, encrypted at rest (models.SEALED): sealed on write, opened on read."""
DUPLICATE_WINDOW = timedelta(days=7)
_RATING_REPLY = re.compile(r"[1-5]")


class EventSink(Protocol):
    def record_event(self, session: Session, event_type: str, payload: Any) -> Any: ...

    def record_events(self, session: Session, events: list[tuple[str, Any]]) -> Any: ...


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member (role, unit) or the citizen holding the tracking code."""

    id: str
    role: str
    unit_id: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Actor:
        data = data or {}
        role = str(data.get("role") or "")
        if role not in STAFF_ROLES and role != "citizen" and role != "system":
            raise Forbidden(f"Vai trò '{role}' không hợp lệ / unknown role '{role}'", "role")
        return cls(
            id=str(data.get("id") or data.get("sub") or role),
            role=role,
            unit_id=data.get("unit_id"),
        )


CITIZEN = Actor("citizen", "citizen")
# Built once: a statement without .values() has a constant cache key, so each execution skips
# building and hashing a fresh expression (the parameters come as a dict).
_INSERT_TICKET = insert(tickets)
_INSERT_HISTORY = insert(ticket_history)
_FIND_REF = select(tickets.c.id).where(tickets.c.external_ref == bindparam("ref"))
_FIND_REFS = select(tickets).where(tickets.c.external_ref.in_(bindparam("refs", expanding=True)))
SYSTEM = Actor("system", "system")


@dataclass
class _NewTicket:
    """A validated intake, ready to insert: the ticket row, its history rows, its events."""

    row: dict[str, Any]
    history: list[dict[str, Any]]
    events: list[tuple[str, dict[str, Any]]]


@dataclass
class Intake:
    """A new question or report, whichever channel it came through."""

    channel: str
    category: str
    description: str
    title: str = ""
    contact: dict[str, str] = field(default_factory=dict)
    is_public: bool = False
    external_ref: str | None = None
    unit_id: str | None = None
    lat: float | None = None
    long: float | None = None
    attributes: dict[str, Any] | None = None


@dataclass
class Desk:
    """The feedback desk: where tickets are handled. Holds the event sink, vault and clock."""

    events: EventSink
    vault: Vault
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # --- intake -------------------------------------------------------------------------
    def submit(self, session: Session, intake: Intake, actor: Actor = CITIZEN) -> dict[str, Any]:
        """A ticket for the intake; the same external reference twice gives the same ticket."""
        if intake.external_ref:
            found = session.execute(_FIND_REF, {"ref": intake.external_ref}).first()
            if found:
                return {**self._row(session, found.id), "duplicate": True}
        new = self._new_ticket(catalog.snapshot(session), intake, actor, self.now())
        session.execute(_INSERT_TICKET, self._sealed(new.row))
        session.execute(_INSERT_HISTORY, new.history)
        for event_type, payload in new.events:
            self.events.record_event(session, event_type, payload)
        return self._public_fields(new.row)

    def submit_many(
        self, session: Session, intakes: list[Intake], actor: Actor = CITIZEN
    ) -> list[dict[str, Any] | LoaError]:
        """Many intakes in this one unit of work (group commit): one answer per intake, in
        order, either the ticket or the LoaError that refused it (the others still go in).

        The same external reference twice, already stored or twice in this batch (a double
        click), gives one ticket; the later ones come back marked duplicate. Tickets, history
        and events are inserted with one statement each.
        """
        refs = [i.external_ref for i in intakes if i.external_ref]
        known_refs: dict[str, dict[str, Any]] = {}
        if refs:
            for found in session.execute(_FIND_REFS, {"refs": refs}):
                known_refs[found.external_ref] = self._public_fields(dict(found._mapping))
        snap = catalog.snapshot(session)
        now = self.now()
        out: list[dict[str, Any] | LoaError] = []
        rows: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        events: list[tuple[str, dict[str, Any]]] = []
        for intake in intakes:
            ref = intake.external_ref
            if ref and ref in known_refs:
                out.append({**known_refs[ref], "duplicate": True})
                continue
            try:
                new = self._new_ticket(snap, intake, actor, now)
            except LoaError as exc:
                out.append(exc)
                continue
            rows.append(self._sealed(new.row))
            history.extend(new.history)
            events.extend(new.events)
            public = self._public_fields(new.row)
            if ref:
                known_refs[ref] = public
            out.append(public)
        if rows:
            session.execute(_INSERT_TICKET, rows)
            session.execute(_INSERT_HISTORY, history)
            self.events.record_events(session, events)
        return out

    def _new_ticket(
        self, known: catalog.Snapshot, intake: Intake, actor: Actor, now: datetime
    ) -> _NewTicket:
        """Validate an intake and build its ticket row, history rows and events (no I/O)."""
        if intake.channel not in CHANNELS:
            raise InvalidInput(f"unknown channel '{intake.channel}'", "channel")
        category = known.category(intake.category)
        description = clean(intake.description, "description", 20000, required=True)
        title = clean(intake.title, "title", 300) or description[:120]
        contact = {k: clean(v, k, 500) for k, v in (intake.contact or {}).items() if v is not None}
        if contact.get("email") and "@" not in contact["email"]:
            raise InvalidInput("Email không hợp lệ / email address is invalid", "contact.email")
        today = workdays.local_date(now)
        ticket_id = new_id()
        caller_hash = self.vault.lookup_hash("phone", contact.get("phone", "")) or (
            self.vault.lookup_hash("channel_user", contact.get("channel_user", ""))
        )
        if intake.unit_id:
            unit: str | None = known.current_unit(intake.unit_id, today)
        else:
            unit = known.route(category["code"], description, today)
        status = Status.ASSIGNED if unit else Status.RECEIVED
        # One insert in the final state: the code's uniqueness is the table's unique key (a
        # collision, about 1 in 10^11, fails the transaction and the caller's retry draws anew).
        row = dict(
            id=ticket_id,
            code=new_code(),
            public_id=new_public_id(),
            channel=intake.channel,
            external_ref=intake.external_ref,
            category=category["code"],
            unit_id=unit,
            status=status.value,
            status_before_merge=None,
            merged_into=None,
            title=title,
            description=description,
            is_public=intake.is_public,
            contact_enc=self.vault.seal(contact),
            caller_hash=caller_hash,
            lat=intake.lat,
            long=intake.long,
            attributes=intake.attributes,
            created_at=now,
            updated_at=now,
            assigned_at=now if unit else None,
            forward_deadline_at=workdays.deadline_after(now, category["forward_days"])
            if unit
            else None,
            deadline_at=workdays.deadline_after(now, category["answer_days"]),
            published_version=0,
        )
        history = [
            dict(
                ticket_id=ticket_id,
                at=now,
                actor=actor.id[:100],
                action="received",
                from_status=None,
                to_status=Status.RECEIVED.value,
                unit_id=None,
                note=None,
            )
        ]
        events = [("feedback.ticket_received", self._event_payload({**row, "status": "received"}))]
        if unit:
            history.append(
                dict(
                    ticket_id=ticket_id,
                    at=now,
                    actor=actor.id[:100],
                    action="assigned",
                    from_status=Status.RECEIVED.value,
                    to_status=status.value,
                    unit_id=unit,
                    note="routing rule" if not intake.unit_id else "chosen at intake",
                )
            )
            events.append(("feedback.ticket_assigned", self._event_payload(row)))
        return _NewTicket(row, history, events)

    def add_message(self, session: Session, ticket_id: str, text: str) -> dict[str, Any]:
        """A further message from the citizen (same chat or mail thread).

        It resumes a ticket waiting for them, and reopens an answered or closed one (back to its
        unit with a new answer clock, as reopen by the tracking code does), except a bare 1–5,
        which answers our "please rate from 1 to 5" and is recorded as the rating.
        """
        body = clean(text, "text", 20000, required=True)
        row = self._get(session, ticket_id)
        if row["status"] in (Status.ANSWERED, Status.CLOSED) and _RATING_REPLY.fullmatch(body):
            return self.rate(session, row["code"], int(body))
        session.execute(
            insert(messages).values(
                ticket_id=ticket_id, at=self.now(), direction="in", body=self.vault.seal_text(body)
            )
        )
        if row["status"] == Status.WAITING:
            self._resume(session, row, CITIZEN, "citizen replied")
        elif row["status"] in (Status.ANSWERED, Status.CLOSED):
            self._reopen(session, row, CITIZEN, "citizen replied")
        return self._row(session, ticket_id)

    def note(self, session: Session, ticket_id: str, text: str) -> None:
        """A line in the ticket's history from the system (what an intake could not keep)."""
        row = self._get(session, ticket_id)
        self._history(session, ticket_id, SYSTEM, "note", None, None, row["unit_id"], text[:2000])

    # --- look-ups -----------------------------------------------------------------------
    def public_view(self, session: Session, code: str) -> dict[str, Any]:
        """What anyone holding the code may see: status and the public answer, nothing personal."""
        row = self._by_code(session, code)
        if row["status"] == Status.MERGED and row["merged_into"]:
            # The other ticket's public id: its secret code belongs to whoever filed it.
            merged_into = self._get(session, row["merged_into"])["public_id"]
        else:
            merged_into = None
        answer = row["published_answer"] or (row["answer"] if row["is_public"] else None)
        return {
            "code": row["code"],
            "public_id": row["public_id"],
            "status": row["status"],
            "status_label": LABELS_VI[Status(row["status"])],
            "category": row["category"],
            "unit": self._unit_name(session, row["unit_id"]),
            "received_at": row["created_at"],
            "deadline_at": row["deadline_at"],
            "answered_at": row["answered_at"],
            "answer": answer,
            "merged_into": merged_into,
            "rating": row["rating"],
        }

    def staff_view(self, session: Session, ticket_id_or_code: str, actor: Actor) -> dict[str, Any]:
        """The whole ticket, for its handlers only (operators, admins, the officers of its
        unit): the gateway writes each of these reads to the audit log."""
        row = self._find(session, ticket_id_or_code)
        self._may_read(actor, row)
        view = self.shown_to(actor, self._public_fields(row))
        view["contact"] = contact_for(actor.role, self.vault.open(row["contact_enc"]))
        view["history"] = [
            {
                k: self.vault.open_text(v) if k == "note" else v
                for k, v in dict(h._mapping).items()
                if k not in ("id", "ticket_id")
            }
            for h in session.execute(
                select(ticket_history)
                .where(ticket_history.c.ticket_id == row["id"])
                .order_by(ticket_history.c.id)
            )
        ]
        view["messages"] = [
            {"at": m.at, "direction": m.direction, "body": self.vault.open_text(m.body)}
            for m in session.execute(
                select(messages).where(messages.c.ticket_id == row["id"]).order_by(messages.c.id)
            )
        ]
        return view

    def search(
        self,
        session: Session,
        actor: Actor,
        *,
        status: list[str] | None = None,
        unit_id: str | None = None,
        category: str | None = None,
        channel: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        codes: list[str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Tickets as a list (LIST_FIELDS): officers get their unit's only, viewers none."""
        self._require(actor, *CONTENT_ROLES)
        q = select(tickets).order_by(tickets.c.created_at.desc()).limit(min(max(limit, 1), 1000))
        if actor.role == "officer":
            unit_id = actor.unit_id
        if status:
            q = q.where(tickets.c.status.in_(status))
        if unit_id:
            q = q.where(tickets.c.unit_id == unit_id)
        if category:
            q = q.where(tickets.c.category == category)
        if channel:
            q = q.where(tickets.c.channel == channel)
        if since:
            q = q.where(tickets.c.created_at >= since)
        if until:
            q = q.where(tickets.c.created_at <= until)
        if codes:
            normalized = [c for c in (normalize_code(x) for x in codes) if c]
            q = q.where(or_(tickets.c.code.in_(normalized), tickets.c.public_id.in_(codes)))
        return [self.list_item(actor, self._opened(dict(r._mapping))) for r in session.execute(q)]

    @staticmethod
    def list_item(actor: Actor, row: dict[str, Any]) -> dict[str, Any]:
        """One line of a list: no free text but a redacted title; the code for the desk only."""
        item = {k: row.get(k) for k in LIST_FIELDS}
        item["title"] = redact_text(row.get("title") or "")
        if actor.role in PII_ROLES:
            item["code"] = row["code"]
        return item

    @staticmethod
    def shown_to(actor: Actor, data: Any) -> Any:
        """What an action returns to staff: the secret tracking code only to the intake desk
        (operators, admins), who read it to a caller; an officer holding it could rate their
        own answers."""
        if actor.role in PII_ROLES:
            return data
        if isinstance(data, list):
            return [Desk.shown_to(actor, d) for d in data]
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "code"}
        return data

    def earlier_tickets(self, session: Session, caller_hash: str | None) -> list[dict[str, Any]]:
        """A caller's earlier tickets (the operator sees them while the call is live)."""
        if not caller_hash:
            return []
        rows = session.execute(
            select(tickets)
            .where(tickets.c.caller_hash == caller_hash)
            .order_by(tickets.c.created_at.desc())
            .limit(20)
        )
        return [self._public_fields(self._opened(dict(r._mapping))) for r in rows]

    # --- workflow -----------------------------------------------------------------------
    def assign(
        self, session: Session, ticket_id: str, unit_id: str, actor: Actor, note: str = ""
    ) -> dict[str, Any]:
        """An operator (re)assigns a ticket to a unit."""
        self._require(actor, "operator", "admin")
        row = self._get(session, ticket_id)
        _check(row["status"], Status.ASSIGNED)
        self._assign(session, ticket_id, unit_id, actor, clean(note, "note", 2000), "assigned")
        return self._row(session, ticket_id)

    def forward(
        self, session: Session, ticket_id: str, unit_id: str, reason: str, actor: Actor
    ) -> dict[str, Any]:
        """A unit that is not responsible hands the ticket on, saying why."""
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        reason = clean(reason, "reason", 2000, required=True)
        _check(row["status"], Status.ASSIGNED)
        if unit_id == row["unit_id"]:
            raise InvalidInput(
                "Đơn vị nhận phải khác đơn vị hiện tại / forward to a different unit", "unit_id"
            )
        late = row["forward_deadline_at"] is not None and self.now() > _aware(
            row["forward_deadline_at"]
        )
        self._assign(
            session, ticket_id, unit_id, actor, reason + (" (late)" if late else ""), "forwarded"
        )
        return self._row(session, ticket_id)

    def start(self, session: Session, ticket_id: str, actor: Actor) -> dict[str, Any]:
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        self._move(session, row, Status.IN_PROGRESS, actor, "started")
        return self._row(session, ticket_id)

    def ask_citizen(
        self, session: Session, ticket_id: str, question: str, actor: Actor
    ) -> dict[str, Any]:
        """Ask the citizen for more; the answer clock pauses until they reply."""
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        question = clean(question, "question", 5000, required=True)
        self._move(session, row, Status.WAITING, actor, "asked citizen", question)
        session.execute(
            update(tickets).where(tickets.c.id == ticket_id).values(paused_at=self.now())
        )
        session.execute(
            insert(messages).values(
                ticket_id=ticket_id,
                at=self.now(),
                direction="out",
                body=self.vault.seal_text(question),
            )
        )
        self._notify(session, row, question)
        return self._row(session, ticket_id)

    def resume(self, session: Session, ticket_id: str, actor: Actor) -> dict[str, Any]:
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        self._resume(session, row, actor, "resumed")
        return self._row(session, ticket_id)

    def answer(self, session: Session, ticket_id: str, text: str, actor: Actor) -> dict[str, Any]:
        """The unit's answer; the citizen is told on the channel they came from."""
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        text = clean(text, "answer", 50000, required=True)
        if row["status"] == Status.WAITING:
            self._resume(session, row, actor, "answered while waiting")
            row = self._get(session, ticket_id)
        now = self.now()
        on_time = row["deadline_at"] is None or now <= _aware(row["deadline_at"])
        self._move(session, row, Status.ANSWERED, actor, "answered", None, emit=False)
        session.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(answer=self.vault.seal_text(text), answered_at=now, answered_on_time=on_time)
        )
        session.execute(
            insert(messages).values(
                ticket_id=ticket_id, at=now, direction="out", body=self.vault.seal_text(text)
            )
        )
        self._emit(session, "feedback.ticket_answered", ticket_id)
        self._notify(session, row, f"[{row['code']}] {text}")
        return self._row(session, ticket_id)

    def publish_answer(
        self,
        session: Session,
        ticket_id: str,
        actor: Actor,
        question: str | None = None,
        answer: str | None = None,
    ) -> dict[str, Any]:
        """Publish an anonymized question and answer to the portal (citizen's consent needed)."""
        self._require(actor, "admin", "officer")
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        if not row["is_public"]:
            raise Conflict(
                "Người dân không đồng ý công khai / the citizen did not agree to publication",
                "is_public",
            )
        if row["answered_at"] is None:
            raise Conflict("Phản ánh chưa được trả lời / the ticket has no answer yet", "answer")
        contact = self.vault.open(row["contact_enc"])
        q = anonymize(clean(question or row["description"], "question", 20000), contact)
        a = anonymize(clean(answer or row["answer"], "answer", 50000), contact)
        version = int(row["published_version"] or 0) + 1
        session.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(published_question=q, published_answer=a, published_version=version)
        )
        self._history(session, ticket_id, actor, "published", None, None, row["unit_id"])
        self.events.record_event(
            session,
            "feedback.answer_published",
            {
                "ticket_id": ticket_id,
                "code": row["public_id"],  # events never carry the secret code
                "category": row["category"],
                "unit_id": row["unit_id"],
                "question": q,
                "answer": a,
                "answered_at": row["answered_at"],
                "version": version,
            },
        )
        return {"ticket_id": ticket_id, "question": q, "answer": a, "version": version}

    def close(
        self, session: Session, ticket_id: str, actor: Actor, note: str = ""
    ) -> dict[str, Any]:
        row = self._get(session, ticket_id)
        if actor.role != "citizen":
            self._may_handle(actor, row)
        self._move(
            session, row, Status.CLOSED, actor, "closed", clean(note, "note", 2000), emit=False
        )
        session.execute(
            update(tickets).where(tickets.c.id == ticket_id).values(closed_at=self.now())
        )
        self._emit(session, "feedback.ticket_closed", ticket_id)
        self._notify(
            session,
            row,
            f"[{row['code']}] Phản ánh đã đóng. Xin đánh giá mức độ hài lòng từ 1 đến 5 / "
            "Please rate our answer from 1 to 5.",
        )
        return self._row(session, ticket_id)

    def reopen(
        self, session: Session, code: str, reason: str, actor: Actor = CITIZEN
    ) -> dict[str, Any]:
        """The citizen says it was not resolved: the ticket goes back to its unit, new clock."""
        row = self._by_code(session, code)
        reason = clean(reason, "reason", 5000, required=True)
        self._reopen(session, row, actor, reason)
        session.execute(
            insert(messages).values(
                ticket_id=row["id"],
                at=self.now(),
                direction="in",
                body=self.vault.seal_text(reason),
            )
        )
        return self._row(session, row["id"])

    def _reopen(self, session: Session, row: dict[str, Any], actor: Actor, note: str) -> None:
        """Back to its unit, unanswered, with the answer clock started afresh."""
        self._move(session, row, Status.REOPENED, actor, "reopened", note, emit=False)
        category = catalog.get_category(session, row["category"])
        session.execute(
            update(tickets)
            .where(tickets.c.id == row["id"])
            .values(
                closed_at=None,
                answered_at=None,
                answered_on_time=None,
                reminded_at=None,
                overdue_at=None,
                deadline_at=workdays.deadline_after(self.now(), category["answer_days"]),
            )
        )
        self._emit(session, "feedback.ticket_reopened", row["id"])

    def rate(self, session: Session, code: str, score: int, comment: str = "") -> dict[str, Any]:
        row = self._by_code(session, code)
        if not 1 <= int(score) <= 5:
            raise InvalidInput("Điểm từ 1 đến 5 / score must be 1 to 5", "score")
        if row["status"] not in (Status.ANSWERED, Status.CLOSED):
            raise Conflict(
                "Chỉ đánh giá được khi đã có trả lời / a ticket can be rated once it is answered",
                "score",
            )
        if row["rating"] is not None:
            raise Conflict("Phản ánh đã được đánh giá / this ticket was already rated", "score")
        session.execute(
            update(tickets)
            .where(tickets.c.id == row["id"])
            .values(
                rating=int(score),
                rating_comment=self.vault.seal_text(clean(comment, "comment", 2000)),
            )
        )
        self._history(session, row["id"], CITIZEN, "rated", None, None, row["unit_id"], str(score))
        self.events.record_event(
            session,
            "feedback.ticket_rated",
            {
                "ticket_id": row["id"],
                "code": row["public_id"],
                "unit_id": row["unit_id"],
                "score": int(score),
            },
        )
        return self._row(session, row["id"])

    def merge(self, session: Session, ticket_id: str, into_id: str, actor: Actor) -> dict[str, Any]:
        """Mark a duplicate; its status is remembered so unmerge can restore it. An officer
        merges only within their unit (the target too: merging shows it the other ticket)."""
        self._require(actor, "operator", "admin", "officer")
        row = self._get(session, ticket_id)
        target = self._find(session, into_id)
        self._may_handle(actor, row)
        self._may_handle(actor, target)
        if target["id"] == row["id"] or target["status"] == Status.MERGED:
            raise InvalidInput(
                "Không gộp được vào chính nó hoặc vào phản ánh đã gộp / cannot merge into itself "
                "or into a merged ticket",
                "into",
            )
        self._move(session, row, Status.MERGED, actor, "merged", target["public_id"], emit=False)
        session.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(status_before_merge=row["status"], merged_into=target["id"])
        )
        self._emit(session, "feedback.ticket_closed", ticket_id)
        return self._row(session, ticket_id)

    def unmerge(self, session: Session, ticket_id: str, actor: Actor) -> dict[str, Any]:
        self._require(actor, "operator", "admin", "officer")
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        if row["status"] != Status.MERGED:
            raise Conflict("Phản ánh chưa bị gộp / the ticket is not merged", "status")
        restored = Status(row["status_before_merge"] or Status.RECEIVED)
        session.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(
                status=restored.value,
                merged_into=None,
                status_before_merge=None,
                updated_at=self.now(),
            )
        )
        self._history(
            session, ticket_id, actor, "unmerged", Status.MERGED, restored, row["unit_id"]
        )
        self._emit(session, "feedback.ticket_reopened", ticket_id)
        return self._row(session, ticket_id)

    def duplicates(
        self, session: Session, ticket_id: str, actor: Actor, threshold: float = 0.35
    ) -> list[dict[str, Any]]:
        """Likely duplicates: same caller, or similar text in the same category, within days.
        An officer asks only about, and is shown only, their unit's tickets."""
        row = self._get(session, ticket_id)
        self._may_handle(actor, row)
        created = _aware(row["created_at"])
        window = and_(
            tickets.c.id != ticket_id,
            tickets.c.status != Status.MERGED.value,
            tickets.c.created_at >= created - DUPLICATE_WINDOW,
            tickets.c.created_at <= created + DUPLICATE_WINDOW,
        )
        who = [tickets.c.category == row["category"]]
        if row["caller_hash"]:
            who.append(tickets.c.caller_hash == row["caller_hash"])
        q = select(tickets).where(window, or_(*who))
        if actor.role == "officer":
            q = q.where(tickets.c.unit_id == actor.unit_id)
        candidates = session.execute(q.limit(500)).all()
        out = []
        for cand in candidates:
            same_caller = bool(row["caller_hash"]) and cand.caller_hash == row["caller_hash"]
            score = similarity(row["description"], self.vault.open_text(cand.description) or "")
            if same_caller or score >= threshold:
                out.append(
                    {
                        "ticket_id": cand.id,
                        "public_id": cand.public_id,
                        "status": cand.status,
                        "same_caller": same_caller,
                        "similarity": round(score, 3),
                    }
                )
        out.sort(key=lambda d: (not d["same_caller"], -d["similarity"]))
        return out[:20]

    # --- units changing -----------------------------------------------------------------
    def dissolve_unit(
        self, session: Session, unit_id: str, valid_to: Any, successor_id: str | None, actor: Actor
    ) -> int:
        """End a unit; its open tickets move to the successor now. Returns how many moved."""
        self._require(actor, "admin")
        catalog.dissolve(session, unit_id, valid_to, successor_id)
        if not successor_id:
            return 0
        target = catalog.current_unit(session, successor_id, valid_to)
        open_rows = session.execute(
            select(tickets.c.id, tickets.c.status).where(
                tickets.c.unit_id == unit_id, tickets.c.status.in_([s.value for s in OPEN])
            )
        ).all()
        for ticket in open_rows:
            self._assign(
                session,
                ticket.id,
                target,
                actor,
                f"unit {unit_id} dissolved",
                "assigned",
                keep_status=ticket.status == Status.WAITING,
            )
        return len(open_rows)

    # --- the clock ----------------------------------------------------------------------
    def tick(self, session: Session, remind_days: int = 2) -> dict[str, int]:
        """Reminders before the deadline, one overdue event when it passes."""
        now = self.now()
        today = workdays.local_date(now)
        running = [s.value for s in CLOCK_RUNNING]
        overdue = session.execute(
            select(tickets.c.id, tickets.c.unit_id)
            .where(
                tickets.c.status.in_(running),
                tickets.c.deadline_at < now,
                tickets.c.overdue_at.is_(None),
            )
            .limit(1000)
        ).all()
        for row in overdue:
            session.execute(update(tickets).where(tickets.c.id == row.id).values(overdue_at=now))
            self._history(session, row.id, SYSTEM, "overdue", None, None, row.unit_id)
            self._emit(session, "feedback.ticket_overdue", row.id)
        soon = workdays.end_of_day(workdays.add_working_days(today, remind_days))
        due = session.execute(
            select(tickets.c.id, tickets.c.unit_id)
            .where(
                tickets.c.status.in_(running),
                tickets.c.deadline_at <= soon,
                tickets.c.deadline_at >= now,
                tickets.c.reminded_at.is_(None),
            )
            .limit(1000)
        ).all()
        for row in due:
            session.execute(update(tickets).where(tickets.c.id == row.id).values(reminded_at=now))
            self._history(
                session,
                row.id,
                SYSTEM,
                "reminder",
                None,
                None,
                row.unit_id,
                "deadline within 2 working days",
            )
        return {"overdue": len(overdue), "reminded": len(due)}

    # --- internals ----------------------------------------------------------------------
    def _assign(
        self,
        session: Session,
        ticket_id: str,
        unit_id: str,
        actor: Actor,
        note: str,
        action: str,
        keep_status: bool = False,
    ) -> None:
        now = self.now()
        unit_id = catalog.check_assignable(session, unit_id, workdays.local_date(now))
        row = self._get(session, ticket_id)
        category = catalog.get_category(session, row["category"])
        target = Status(row["status"]) if keep_status else Status.ASSIGNED
        session.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(
                unit_id=unit_id,
                status=target.value,
                assigned_at=now,
                updated_at=now,
                forward_deadline_at=workdays.deadline_after(now, category["forward_days"]),
            )
        )
        self._history(session, ticket_id, actor, action, row["status"], target, unit_id, note)
        kind = "feedback.ticket_forwarded" if action == "forwarded" else "feedback.ticket_assigned"
        self._emit(session, kind, ticket_id)

    def _resume(self, session: Session, row: dict[str, Any], actor: Actor, note: str) -> None:
        now = self.now()
        deadline = row["deadline_at"]
        if row["paused_at"] is not None and deadline is not None:
            deadline = workdays.extend(_aware(deadline), _aware(row["paused_at"]), now)
        self._move(session, row, Status.IN_PROGRESS, actor, "resumed", note)
        session.execute(
            update(tickets)
            .where(tickets.c.id == row["id"])
            .values(paused_at=None, deadline_at=deadline)
        )

    def _move(
        self,
        session: Session,
        row: dict[str, Any],
        target: Status,
        actor: Actor,
        action: str,
        note: str | None = None,
        emit: bool = False,
    ) -> None:
        _check(row["status"], target)
        session.execute(
            update(tickets)
            .where(tickets.c.id == row["id"], tickets.c.status == row["status"])
            .values(status=target.value, updated_at=self.now())
        )
        self._history(
            session, row["id"], actor, action, row["status"], target, row["unit_id"], note
        )

    def _notify(self, session: Session, row: dict[str, Any], body: str) -> None:
        if row["channel"] not in REPLY_CHANNELS:
            return
        session.execute(
            insert(notifications).values(
                ticket_id=row["id"],
                channel=row["channel"],
                body=self.vault.seal_text(body),
                status="pending",
                attempts=0,
                next_attempt_at=self.now(),
            )
        )

    def _history(
        self,
        session: Session,
        ticket_id: str,
        actor: Actor,
        action: str,
        from_status: str | None,
        to_status: str | None,
        unit_id: str | None,
        note: str | None = None,
    ) -> None:
        session.execute(
            insert(ticket_history).values(
                ticket_id=ticket_id,
                at=self.now(),
                actor=actor.id[:100],
                action=action,
                from_status=from_status,
                to_status=to_status,
                unit_id=unit_id,
                note=self.vault.seal_text(note),
            )
        )

    def _emit(self, session: Session, event_type: str, ticket_id: str) -> None:
        self._emit_row(session, event_type, self._get(session, ticket_id))

    def _emit_row(self, session: Session, event_type: str, row: dict[str, Any]) -> None:
        self.events.record_event(session, event_type, self._event_payload(row))

    @staticmethod
    def _event_payload(row: dict[str, Any]) -> dict[str, Any]:
        """A ticket event's payload (never personal data)."""
        return {
            "ticket_id": row["id"],
            "code": row["public_id"],  # the public reference: events never carry the secret code
            "category": row["category"],
            "unit_id": row["unit_id"],
            "channel": row["channel"],
            "status": row["status"],
            "deadline_at": row["deadline_at"],
        }

    def _get(self, session: Session, ticket_id: str) -> dict[str, Any]:
        row = session.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
        if row is None:
            raise NotFound(f"Không có phản ánh {ticket_id} / no ticket {ticket_id}", "ticket_id")
        return self._opened(dict(row._mapping))

    def _by_code(self, session: Session, code: str) -> dict[str, Any]:
        normalized = normalize_code(code or "")
        if normalized is None:
            raise NotFound(
                "Mã tra cứu không đúng; hãy kiểm tra lại / the tracking code is not valid; "
                "check it again",
                "code",
            )
        row = session.execute(select(tickets).where(tickets.c.code == normalized)).first()
        if row is None:
            raise NotFound("Không tìm thấy mã tra cứu / no ticket with this code", "code")
        return self._opened(dict(row._mapping))

    def _find(self, session: Session, ref: str) -> dict[str, Any]:
        """A ticket by staff's reference: its id, public id or tracking code."""
        if normalize_code(ref or ""):
            return self._by_code(session, ref)
        row = session.execute(
            select(tickets).where(or_(tickets.c.id == ref, tickets.c.public_id == ref))
        ).first()
        if row is None:
            raise NotFound(f"Không có phản ánh {ref} / no ticket {ref}", "ticket_id")
        return self._opened(dict(row._mapping))

    def _opened(self, row: dict[str, Any]) -> dict[str, Any]:
        """A ticket row with its sealed free text decrypted (contact_enc stays a token)."""
        for column in SEALED_TEXT:
            if column in row:
                row[column] = self.vault.open_text(row[column])
        return row

    def _sealed(self, row: dict[str, Any]) -> dict[str, Any]:
        """A ticket row to insert: its free text encrypted."""
        return {**row, **{c: self.vault.seal_text(row[c]) for c in SEALED_TEXT if c in row}}

    def _row(self, session: Session, ticket_id: str) -> dict[str, Any]:
        return self._public_fields(self._get(session, ticket_id))

    @staticmethod
    def _public_fields(row: dict[str, Any]) -> dict[str, Any]:
        """A ticket without its personal data (safe for any staff role)."""
        hidden = {"contact_enc", "caller_hash", "status_before_merge"}
        return {k: v for k, v in row.items() if k not in hidden}

    def _unit_name(self, session: Session, unit_id: str | None) -> str | None:
        if not unit_id:
            return None
        return session.execute(select(units.c.name).where(units.c.id == unit_id)).scalar()

    @staticmethod
    def _require(actor: Actor, *roles: str) -> None:
        if actor.role not in roles:
            raise Forbidden(
                f"Vai trò '{actor.role}' không được làm việc này / role '{actor.role}' may not do "
                f"this (needs one of: {', '.join(roles)})"
            )

    @staticmethod
    def _may_read(actor: Actor, row: dict[str, Any]) -> None:
        """A ticket's content is for its handlers: operators, admins, its unit's officers."""
        if actor.role not in CONTENT_ROLES:
            raise Forbidden(
                "Vai trò này chỉ xem báo cáo tổng hợp / this role sees reports only, not tickets"
            )
        if actor.role == "officer" and actor.unit_id != row["unit_id"]:
            raise Forbidden(
                "Phản ánh không thuộc đơn vị của bạn / the ticket belongs to another unit",
                "unit_id",
            )

    def _may_handle(self, actor: Actor, row: dict[str, Any]) -> None:
        self._require(actor, "operator", "officer", "admin")
        self._may_read(actor, row)


HONORIFICS = "anh|chị|ông|bà|em|cô|chú|bác|bạn|cháu"


def anonymize(text: str, contact: dict[str, str]) -> str:
    """Remove the citizen's own name, phone, e-mail and address, then any phone, e-mail, ID
    number or street address (what publishing and Open311 show).

    The name goes in whatever order it was written ("Trần Thị Hoa" when the form said "Hoa
    Trần Thị"): any run of two or more of its words. The given name alone is removed where
    Vietnamese addresses a person by it ("anh Bình", "chị Hoa"), not everywhere: "Bình" is also
    half of "Bình Dương".
    """
    for key in ("name", "address", "email", "phone"):
        value = contact.get(key)
        if value:
            text = text.replace(value, "[…]")
    name = contact.get("name", "").split()
    if name:
        longest_first = sorted(set(name), key=len, reverse=True)
        word = "(?:" + "|".join(re.escape(w) for w in longest_first) + ")"
        if len(name) > 1:
            text = re.sub(rf"(?i)\b{word}(?:\s+{word})+\b", "[…]", text)
        given = "(?:" + "|".join(re.escape(w) for w in {name[0], name[-1]}) + ")"
        text = re.sub(rf"(?i)\b({HONORIFICS})\s+{given}\b", r"\1 […]", text)
    return redact_text(text)


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def category_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(tickets.c.category, func.count()).group_by(tickets.c.category))
    return {r[0]: int(r[1]) for r in rows}


def dumps(data: Any) -> str:
    return json.dumps(data, default=str, ensure_ascii=False)


__all__ = ["Actor", "Desk", "Intake", "categories"]
