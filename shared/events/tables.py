"""The outbox and inbox tables every service carries in its own database.

Declared on the service's own MetaData, so each service's alembic migrations create them beside
its other tables and no table is ever shared between services.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)


def add_event_tables(metadata: MetaData) -> tuple[Table, Table]:
    outbox = Table(
        "outbox",
        metadata,
        Column(
            "seq",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("version", Integer, nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True, index=True),
    )
    applied = Table(
        "applied_events",
        metadata,
        Column("subscription", String(150), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("applied_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("subscription", "event_id"),
    )
    return outbox, applied


def get_event_tables(metadata: MetaData) -> tuple[Table, Table]:
    return metadata.tables["outbox"], metadata.tables["applied_events"]
