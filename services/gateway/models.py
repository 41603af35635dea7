"""Tables owned by the gateway (its own database; no other service reads them)."""

from sqlalchemy import Column, DateTime, Float, MetaData, String, Table

from shared.events.tables import add_event_tables

metadata = MetaData()
outbox, applied_events = add_event_tables(metadata)

# Round trips of system.probe events through outbox, relay, RabbitMQ and back: the status page
# shows the last one as proof that the bus works end to end.
bus_probes = Table(
    "bus_probes",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("round_trip_ms", Float, nullable=True),
)
