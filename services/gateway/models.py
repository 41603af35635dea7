"""Tables owned by the gateway (its own database; no other service reads them)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

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

# --- accounts and access (issue 7) -------------------------------------------------------------
# Credentials are never stored in the clear: passwords as argon2 hashes, session cookies and API
# tokens as SHA-256 of a 256-bit random secret (a stolen backup cannot be replayed).
users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("unit_id", String(64), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("password_hash", String(200), nullable=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("must_change_password", Boolean, nullable=False, default=False, server_default=false()),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(300), nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor_id", String(36), nullable=True),
    Column("actor", String(64), nullable=True),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("detail", Text, nullable=True),
    Column("correlation_id", String(100), nullable=True),
    Index("ix_audit_log_ip_action_at", "ip", "action", "at"),
)
