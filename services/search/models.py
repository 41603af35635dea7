"""Tables owned by the search service (its own database; no other service reads them)."""

from sqlalchemy import MetaData

from shared.events.tables import add_event_tables

metadata = MetaData()
outbox, applied_events = add_event_tables(metadata)

# --- the search projection ----------------------------------------------------------------
# What the events said about each document, kept so the index can be rebuilt without asking the
# owning services, and so deliveries (events without a version) can be merged into their item.
# `revision` orders every change of a row; it is the version the index compares.
from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Table, Text  # noqa: E402

documents = Table(
    "search_documents",
    metadata,
    Column("doc_id", String(200), primary_key=True),
    Column("source_version", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("doc", Text, nullable=True),  # SearchDoc JSON; NULL for a tombstone
    Column("updated_at", DateTime(timezone=True), nullable=False, index=True),
)
deliveries = Table(
    "search_deliveries",
    metadata,
    Column("doc_id", String(200), primary_key=True),
    Column("channel", String(100), primary_key=True),
    Column("url", String(2000), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=False),
)

# --- rebuilds asked for by admins (the API answers at once; a worker runs them) -------------
rebuilds = Table(
    "search_rebuilds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("state", String(20), nullable=False, index=True),  # queued running done failed
    Column("from_owners", Boolean, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("report", JSON, nullable=True),
    Column("error", Text, nullable=True),
)
