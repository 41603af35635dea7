"""Tables owned by the feedback service (its own database; no other service reads them).

Personal data lives only in the *_enc columns and the SEALED columns (Fernet tokens under the
key ring, services/feedback/domain/pii.py), in attachments' objects (encrypted too) and in keyed
hashes used for equality look-ups; every other column is safe to show, log or publish.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
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

units = Table(
    "units",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("parent_id", String(64), ForeignKey("units.id"), nullable=True),
    Column("valid_from", Date, nullable=True),
    Column("valid_to", Date, nullable=True),
    Column("successor_id", String(64), ForeignKey("units.id"), nullable=True),
)

categories = Table(
    "categories",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("forward_days", Integer, nullable=False, default=5),
    Column("answer_days", Integer, nullable=False, default=15),
    Column("active", Boolean, nullable=False, default=True),
)

routing_rules = Table(
    "routing_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("category", String(64), ForeignKey("categories.code"), nullable=False),
    Column("keyword", String(200), nullable=True),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=False),
    Column("priority", Integer, nullable=False, default=100),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(64), primary_key=True),
    # The secret tracking code (only whoever filed the ticket gets it) and the public reference
    # (Open311's service_request_id, links, events): see domain/codes.py.
    Column("code", String(24), nullable=False, unique=True),
    Column("public_id", String(24), nullable=False, unique=True),
    Column("channel", String(20), nullable=False),
    Column("external_ref", String(200), nullable=True, unique=True),
    Column("category", String(64), ForeignKey("categories.code"), nullable=False),
    Column("unit_id", String(64), ForeignKey("units.id"), nullable=True),
    Column("status", String(30), nullable=False),
    Column("status_before_merge", String(30), nullable=True),
    Column("merged_into", String(64), nullable=True),
    Column("title", Text, nullable=False, default=""),  # sealed: a token of up to 300 characters
    Column("description", Text, nullable=False),
    Column("is_public", Boolean, nullable=False, default=False),
    Column("contact_enc", Text, nullable=True),
    Column("caller_hash", String(64), nullable=True),
    Column("lat", Float, nullable=True),
    Column("long", Float, nullable=True),
    Column("attributes", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=True),
    Column("forward_deadline_at", DateTime(timezone=True), nullable=True),
    Column("deadline_at", DateTime(timezone=True), nullable=True),
    Column("paused_at", DateTime(timezone=True), nullable=True),
    Column("answer", Text, nullable=True),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("answered_on_time", Boolean, nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("published_question", Text, nullable=True),
    Column("published_answer", Text, nullable=True),
    Column("published_version", Integer, nullable=False, default=0),
    Column("rating", Integer, nullable=True),
    Column("rating_comment", Text, nullable=True),
    Column("reminded_at", DateTime(timezone=True), nullable=True),
    Column("overdue_at", DateTime(timezone=True), nullable=True),
    Index("ix_tickets_status_deadline", "status", "deadline_at"),
    Index("ix_tickets_unit_status", "unit_id", "status"),
    Index("ix_tickets_caller_hash", "caller_hash"),
    Index("ix_tickets_category_created", "category", "created_at"),
)

ticket_history = Table(
    "ticket_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(64), ForeignKey("tickets.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("from_status", String(30), nullable=True),
    Column("to_status", String(30), nullable=True),
    Column("unit_id", String(64), nullable=True),
    Column("note", Text, nullable=True),
)

messages = Table(
    "ticket_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(64), ForeignKey("tickets.id"), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("direction", String(10), nullable=False),  # in | out
    Column("body", Text, nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ticket_id", String(64), ForeignKey("tickets.id"), nullable=True, index=True),
    Column("call_id", String(100), nullable=True, index=True),
    Column("key", String(500), nullable=False),
    Column("filename", String(300), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("call_id", String(100), primary_key=True),
    Column("caller_hash", String(64), nullable=True, index=True),
    Column("caller_enc", Text, nullable=True),
    Column("line", String(50), nullable=False, default=""),
    Column("direction", String(20), nullable=False, default="inbound"),
    Column("operator", String(100), nullable=True),
    Column("queue", String(100), nullable=True),
    Column("state", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("ticket_id", String(64), nullable=True),
)

webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("source", String(20), nullable=False),
    Column("delivery_id", String(200), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("ticket_id", String(64), nullable=True),
    UniqueConstraint("source", "delivery_id", name="uq_webhook_receipts"),
    Index("ix_webhook_receipts_pk", "source", "delivery_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(64), ForeignKey("tickets.id"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("remote_id", String(200), nullable=True),
    Index("ix_notifications_due", "status", "next_attempt_at"),
)

data_requests = Table(
    "data_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),  # access | delete
    Column("subject_hash", String(64), nullable=False, index=True),
    Column("contact_enc", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("ack_deadline_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("note", Text, nullable=True),
    # received | acknowledged | completed | rejected
    Column("status", String(20), nullable=False, server_default="received"),
    Column("ticket_id", String(64), nullable=True),
    Column("handled_by", String(100), nullable=True),
    Column("tickets_affected", Integer, nullable=True),
    # What the proof covers: "tickets" = the tickets whose secret codes were presented (ticket_ids);
    # "phone" = every ticket of the phone/chat user, only once staff recorded an identity check.
    Column("scope", String(10), nullable=False, server_default="tickets"),
    Column("ticket_ids", JSON, nullable=True),
    Column("identity_checked_by", String(100), nullable=True),
    Column("identity_checked_at", DateTime(timezone=True), nullable=True),
    Column("identity_note", Text, nullable=True),
)

# Message-IDs of the feedback mailbox's threads, both ways: a reply's In-Reply-To or References
# finds its ticket here.
email_messages = Table(
    "email_messages",
    metadata,
    Column("message_id", String(300), primary_key=True),
    Column("ticket_id", String(64), ForeignKey("tickets.id"), nullable=False, index=True),
    Column("direction", String(10), nullable=False),  # in | out
    Column("at", DateTime(timezone=True), nullable=False),
)

# Call recordings the call center announced: fetched by the clock, not inside the webhook.
recordings = Table(
    "call_recordings",
    metadata,
    Column("call_id", String(100), primary_key=True),
    Column("url", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | stored | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("attachment_id", String(64), nullable=True),
    Index("ix_call_recordings_due", "status", "next_attempt_at"),
)

SEALED: dict[str, tuple[str, ...]] = {
    "tickets": ("contact_enc", "title", "description", "answer", "rating_comment"),
    "ticket_messages": ("body",),
    "ticket_history": ("note",),
    "notifications": ("body",),
    "calls": ("caller_enc",),
    "data_requests": ("contact_enc",),
}
"""The columns holding Fernet tokens (what citizens wrote, and what staff wrote to or about them):
written through Vault.seal/seal_text, read through Vault.open/open_text, re-encrypted under the
newest key by `loa keys rotate`. Published questions and answers stay in clear: they are
anonymized and public by the citizen's consent."""
