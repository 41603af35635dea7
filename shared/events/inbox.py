"""Applying an event at most once per subscription, in the same transaction as its effect.

The event id is recorded with the change; a redelivered event finds its id and is skipped, and two
concurrent deliveries of the same event race on the primary key so only one commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import MetaData, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.db import Database
from shared.events.envelope import Envelope
from shared.events.tables import get_event_tables

T = TypeVar("T")


def apply_once(
    db: Database,
    metadata: MetaData,
    subscription: str,
    envelope: Envelope,
    effect: Callable[[Session], T],
) -> tuple[bool, T | None]:
    """Run effect(session) and record the event in one unit of work, unless already applied.

    Returns (applied, result): applied is False when the event had been applied before.
    """
    _, applied = get_event_tables(metadata)
    try:
        with db.session() as session:
            seen = session.execute(
                select(applied.c.event_id).where(
                    applied.c.subscription == subscription, applied.c.event_id == envelope.id
                )
            ).first()
            if seen:
                return False, None
            session.execute(
                insert(applied).values(
                    subscription=subscription, event_id=envelope.id, applied_at=datetime.now(UTC)
                )
            )
            result = effect(session)
        return True, result
    except IntegrityError:
        # A concurrent delivery of the same event committed first.
        with db.session() as session:
            seen = session.execute(
                select(applied.c.event_id).where(
                    applied.c.subscription == subscription, applied.c.event_id == envelope.id
                )
            ).first()
        if seen:
            return False, None
        raise
