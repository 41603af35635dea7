"""Tables owned by the publishing service (its own database; no other service reads them)."""

from sqlalchemy import MetaData

from shared.events.tables import add_event_tables

metadata = MetaData()
outbox, applied_events = add_event_tables(metadata)
