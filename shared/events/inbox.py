"""Applying an event at most once per subscription, in the same transaction as its effect.

The event id is recorded with the change (INSERT … ON CONFLICT DO NOTHING: one statement, no
read first); a redelivered event finds its id taken and is skipped, and two concurrent deliveries
of the same event race on the primary key so only one commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import MetaData, text
from sqlalchemy.orm import Session

from shared.db import Database
from shared.events.envelope import Envelope
from shared.events.tables import get_event_tables

T = TypeVar("T")

# Plain SQL both SQLite (≥ 3.24) and PostgreSQL understand; compiled once, not per event.
_CLAIM = text(
    "INSERT INTO applied_events (subscription, event_id, applied_at) VALUES (:s, :e, :t) "
    "ON CONFLICT DO NOTHING"
)


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
    get_event_tables(metadata)  # the table must be part of the service's schema
    params = {"s": subscription, "e": envelope.id, "t": datetime.now(UTC)}
    # Two concurrent deliveries: on PostgreSQL the second claim waits for the first transaction
    # and then finds the row (0 rows inserted); on SQLite writes take turns anyway.
    with db.session() as session:
        if session.execute(_CLAIM, params).rowcount == 0:
            return False, None
        result = effect(session)
    return True, result
