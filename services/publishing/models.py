"""Tables owned by the publishing service (its own database; no other service reads them).

Times are stored in UTC (timezone-aware columns) next to the IANA zone and the wall-clock time the
publisher chose, so a schedule keeps its meaning across daylight-saving or zone-rule changes.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.events.tables import add_event_tables

metadata = MetaData()
outbox, applied_events = add_event_tables(metadata)

items = Table(
    "items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("title", String(500), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("body_html", Text, nullable=False, default=""),
    Column("body_text", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False, default=list),
    Column("topics", JSON, nullable=False, default=list),
    Column("images", JSON, nullable=False, default=list),
    Column("variants", JSON, nullable=False, default=dict),
    Column("unit_id", String(64), nullable=True),
    Column("asset_id", String(64), nullable=True),
    Column("plan_task", Integer, nullable=True),
    Column("embargo_until", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True, index=True),
    # a document item's file (a leaflet's PDF): {key, filename, size, sha256, pages, text_status,
    # text_reason}; and the text read from it, which search indexes (empty when it had none)
    Column("document", JSON, nullable=True),
    Column("document_text", Text, nullable=True),
)

transitions = Table(
    "item_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(36), ForeignKey("items.id"), nullable=False, index=True),
    Column("action", String(30), nullable=False),
    Column("from_status", String(20), nullable=True),
    Column("to_status", String(20), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("role", String(30), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("changes", JSON, nullable=False, default=dict),
    Column("note", Text, nullable=False, default=""),
)

series = Table(
    "series",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("channel", String(30), nullable=False),
    Column("rrule", String(500), nullable=False),
    Column("dtstart_local", String(19), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("plan_task", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("item_id", String(36), ForeignKey("items.id"), nullable=False, index=True),
    Column("channel", String(30), nullable=False),
    Column("status", String(20), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("local_time", String(19), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("series_id", String(36), ForeignKey("series.id"), nullable=True),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("options", JSON, nullable=False, default=dict),
    Column("progress", JSON, nullable=False, default=dict),
    Column("remote_id", String(300), nullable=True),
    Column("url", String(1000), nullable=True),
    Column("reason", Text, nullable=True),
    Column("rendition_seq", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    UniqueConstraint("series_id", "due_at", name="uq_series_slot"),
)

renditions = Table(
    "renditions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(36), ForeignKey("items.id"), nullable=False, index=True),
    Column("channel", String(30), nullable=False),
    Column("item_version", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("files", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("channel", "sequence", name="uq_rendition_seq"),
    UniqueConstraint("item_id", "channel", "item_version", name="uq_rendition_version"),
)

channel_sequences = Table(
    "channel_sequences",
    metadata,
    Column("channel", String(30), primary_key=True),
    Column("last", Integer, nullable=False),
)

channel_state = Table(
    "channel_state",
    metadata,
    Column("channel", String(30), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("reason", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

media_assets = Table(
    "media_assets",
    metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("title", String(500), nullable=False, default=""),
    Column("duration_s", Integer, nullable=True),
    Column("renditions", JSON, nullable=False, default=dict),
    Column("reason", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

units = Table(
    "units",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("level", String(20), nullable=False),
    Column("parent_id", String(64), ForeignKey("units.id"), nullable=True),
    Column("valid_from", Date, nullable=True),
    Column("valid_to", Date, nullable=True),
    Column("successor_id", String(64), ForeignKey("units.id"), nullable=True),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("unsubscribed_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("email", "unit_id", name="uq_subscriber_unit"),
)

mail_sends = Table(
    "mail_sends",
    metadata,
    Column("delivery_id", String(36), ForeignKey("deliveries.id"), primary_key=True),
    Column("subscriber_id", String(36), ForeignKey("subscribers.id"), primary_key=True),
    Column("message_id", String(300), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

portal_entries = Table(
    "portal_entries",
    metadata,
    Column("item_id", String(36), primary_key=True),
    Column("title", String(500), nullable=False),
    Column("summary", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("tags", JSON, nullable=False, default=list),
    Column("version", Integer, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn", Boolean, nullable=False, default=False),
)
