"""Who receives the e-bulletin: units as a tree that changes over time, and their subscribers.

Since 1 July 2025 Bình Dương is part of Hồ Chí Minh City and districts no longer exist: a unit has
validity dates and a successor, and a list addressed to a unit that ended goes to its successor.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from services.publishing.domain.text import nfc
from services.publishing.models import mail_sends, subscribers, units
from services.publishing.transmitters.base import Job
from services.publishing.transmitters.smtp import Recipient
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound
from shared.ids import new_id


class UnitInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=300)
    level: str = Field(pattern=r"^(province|city|department|district|commune|ward|agency)$")
    parent_id: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    successor_id: str | None = None


class SubscriberInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320, pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[A-Za-z]{2,}$")
    unit_id: str = Field(min_length=1, max_length=64)


def upsert_unit(session: Any, data: UnitInput) -> dict[str, Any]:
    for field in ("parent_id", "successor_id"):
        ref = getattr(data, field)
        if ref and ref != data.id:
            found = session.execute(select(units.c.id).where(units.c.id == ref)).scalar()
            if found is None:
                raise InvalidInput(f"{field}: không có đơn vị '{ref}' / no such unit", field)
    if data.valid_from and data.valid_to and data.valid_to < data.valid_from:
        raise InvalidInput("valid_to: trước ngày bắt đầu / before valid_from", "valid_to")
    values = {**data.model_dump(), "name": nfc(data.name)}
    done = session.execute(update(units).where(units.c.id == data.id).values(**values))
    if done.rowcount == 0:
        session.execute(insert(units).values(**values))
    return values


def _all_units(session: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(select(units)).mappings()]


def current_unit(session: Any, unit_id: str, on: date) -> str:
    """Follow successors until a unit valid on the given day."""
    table = {u["id"]: u for u in _all_units(session)}
    seen: set[str] = set()
    current = unit_id
    while current in table and current not in seen:
        seen.add(current)
        u = table[current]
        if u["valid_to"] is not None and u["valid_to"] < on and u["successor_id"]:
            current = u["successor_id"]
            continue
        return current
    if current not in table:
        raise NotFound(f"Không có đơn vị '{unit_id}' / no such unit", "unit_id")
    return current


def subtree(session: Any, unit_id: str, on: date) -> list[str]:
    """The unit and every unit below it that is valid on the day (province → its communes)."""
    everything = _all_units(session)
    children: dict[str | None, list[dict[str, Any]]] = {}
    for u in everything:
        children.setdefault(u["parent_id"], []).append(u)
    out: list[str] = []
    stack = [unit_id]
    while stack:
        uid = stack.pop()
        out.append(uid)
        for child in children.get(uid, []):
            if child["valid_to"] is None or child["valid_to"] >= on:
                stack.append(child["id"])
    return out


def tree(session: Any, on: date) -> list[dict[str, Any]]:
    return [
        {**u, "valid": (u["valid_from"] is None or u["valid_from"] <= on)
         and (u["valid_to"] is None or u["valid_to"] >= on)}
        for u in sorted(_all_units(session), key=lambda u: u["id"])
    ]  # fmt: skip


def subscribe(session: Any, data: SubscriberInput) -> dict[str, Any]:
    unit_id = current_unit(session, data.unit_id, date.today())
    row = {
        "id": new_id(),
        "email": data.email.lower(),
        "unit_id": unit_id,
        "token": secrets.token_urlsafe(24),
        "active": True,
        "created_at": datetime.now(UTC),
    }
    try:
        with session.begin_nested():
            session.execute(insert(subscribers).values(**row))
    except IntegrityError:
        raise Conflict(
            "email: địa chỉ này đã đăng ký cho đơn vị / already subscribed", "email"
        ) from None
    return {k: row[k] for k in ("id", "unit_id", "active")}


def unsubscribe(session: Any, token: str) -> bool:
    done = session.execute(
        update(subscribers)
        .where(subscribers.c.token == token)
        .values(active=False, unsubscribed_at=datetime.now(UTC))
    )
    if done.rowcount == 0:
        raise NotFound("Liên kết hủy đăng ký không hợp lệ / unknown unsubscribe link", "token")
    return True


class DbMailingList:
    """The MailingList of the SMTP transmitter, over this service's tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def pending(self, job: Job) -> list[Recipient]:
        root = job.options.get("unit_id") or "binh-duong"
        with self.db.session() as s:
            today = job.due_at.date()
            unit_ids = subtree(s, current_unit(s, root, today), today)
            sent = select(mail_sends.c.subscriber_id).where(
                mail_sends.c.delivery_id == job.delivery_id
            )
            rows = s.execute(
                select(subscribers.c.id, subscribers.c.email, subscribers.c.token)
                .where(
                    subscribers.c.unit_id.in_(unit_ids),
                    subscribers.c.active.is_(True),
                    subscribers.c.id.notin_(sent),
                )
                .order_by(subscribers.c.email)
            ).all()
        seen: set[str] = set()
        out = []
        for r in rows:  # one message per address even if it follows two units
            if r.email not in seen:
                seen.add(r.email)
                out.append(Recipient(r.id, r.email, r.token))
        return out

    def mark_sent(self, job: Job, recipient: Recipient, message_id: str) -> None:
        with self.db.session() as s:
            s.execute(
                insert(mail_sends).values(
                    delivery_id=job.delivery_id,
                    subscriber_id=recipient.id,
                    message_id=message_id,
                    sent_at=datetime.now(UTC),
                )
            )

    def sent_count(self, job: Job) -> int:
        from sqlalchemy import func

        with self.db.session() as s:
            return int(
                s.execute(
                    select(func.count()).where(mail_sends.c.delivery_id == job.delivery_id)
                ).scalar_one()
            )
