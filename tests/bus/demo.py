"""A small service used only by the bus tests: it writes notes and emits system.probe events,
and consumes them idempotently, failing on demand."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, insert, select

from shared.events.envelope import Envelope
from shared.events.tables import add_event_tables
from shared.events.topology import Subscription
from shared.runtime.dependencies import Correlation, DatabaseProvider, OutboxRelayProvider
from shared.runtime.events import event_handler
from shared.runtime.rpc import rpc

metadata = MetaData()
add_event_tables(metadata)
notes = Table(
    "notes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
received = Table(
    "received",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("correlation_id", String(100)),
)

SUBSCRIPTION = Subscription("demo.probe", ("system.probe",))

# Failure injection, keyed by the payload's note.
attempts: Counter[str] = Counter()
effects: Counter[int] = Counter()  # side effects performed (must equal applied, never more)
fixed: set[str] = set()  # events whose failure was "fixed" before a replay
_lock = threading.Lock()


class DemoService:
    name = "demo"
    correlation = Correlation()
    db = DatabaseProvider("demo", metadata)
    relay = OutboxRelayProvider("demo", metadata)

    @rpc
    def emit(self, first: int, count: int, note: str = "") -> list[str]:
        ids = []
        with self.db.session() as session:
            for seq in range(first, first + count):
                session.execute(insert(notes).values(seq=seq, created_at=datetime.now(UTC)))
                env = self.db.record_event(session, "system.probe", {"seq": seq, "note": note})
                ids.append(env.id)
        return ids

    @rpc
    def emit_then_fail(self, seq: int) -> None:
        with self.db.session() as session:
            session.execute(insert(notes).values(seq=seq, created_at=datetime.now(UTC)))
            self.db.record_event(session, "system.probe", {"seq": seq})
            raise RuntimeError("the change fails after the event was recorded")

    @rpc
    def received_count(self) -> int:
        with self.db.session() as session:
            return int(session.execute(select(func.count()).select_from(received)).scalar_one())

    @event_handler(SUBSCRIPTION)
    def on_probe(self, event: Envelope) -> None:
        note = event.payload["note"]
        with _lock:
            attempts[event.id] += 1
            n = attempts[event.id]
        if note == "fail-once" and n == 1:
            raise RuntimeError("simulated failure on first attempt")
        if note == "always-fail" and event.id not in fixed:
            raise ValueError("this handler cannot process the event")

        def effect(session: Any) -> None:
            session.execute(
                insert(received).values(
                    event_id=event.id,
                    seq=event.payload["seq"],
                    correlation_id=event.correlation_id,
                )
            )
            effects[event.payload["seq"]] += 1

        self.db.apply_once(SUBSCRIPTION.name, event, effect)
