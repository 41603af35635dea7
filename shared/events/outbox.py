"""Writing events in the same transaction as the change they describe (the outbox pattern).

If the transaction rolls back, the event never existed; if it commits, the relay will publish it
even if the process dies right after.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, MetaData, Table, insert
from sqlalchemy.orm import Session

from shared.events.envelope import Envelope
from shared.events.tables import get_event_tables

_INSERTS: dict[Table, Insert] = {}


def record_event(
    session: Session,
    metadata: MetaData,
    event_type: str,
    payload: Any,
    *,
    version: int | None = None,
) -> Envelope:
    """Validate the event and add it to this unit of work's outbox."""
    envelope = Envelope.new(
        event_type,
        payload,
        producer=session.info.get("producer", "unknown"),
        version=version,
        correlation_id=session.info.get("correlation_id"),
    )
    outbox, _ = get_event_tables(metadata)
    statement = _INSERTS.get(outbox)
    if statement is None:  # built once per table: building it per event costs more than the row
        statement = _INSERTS[outbox] = insert(outbox)
    session.execute(
        statement,
        {
            "event_id": envelope.id,
            "type": envelope.type,
            "version": envelope.version,
            "body": envelope.to_json(),
            "created_at": datetime.now(UTC),
        },
    )
    session.info["events_added"] = True
    return envelope


def record_events(
    session: Session, metadata: MetaData, events: list[tuple[str, Any]]
) -> list[Envelope]:
    """record_event for many (type, payload) pairs with one insert statement (batches)."""
    if not events:
        return []
    producer = session.info.get("producer", "unknown")
    cid = session.info.get("correlation_id")
    envelopes = [Envelope.new(t, p, producer=producer, correlation_id=cid) for t, p in events]
    outbox, _ = get_event_tables(metadata)
    statement = _INSERTS.get(outbox)
    if statement is None:
        statement = _INSERTS[outbox] = insert(outbox)
    now = datetime.now(UTC)
    session.execute(
        statement,
        [
            {
                "event_id": e.id,
                "type": e.type,
                "version": e.version,
                "body": e.to_json(),
                "created_at": now,
            }
            for e in envelopes
        ],
    )
    session.info["events_added"] = True
    return envelopes
