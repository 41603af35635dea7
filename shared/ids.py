"""Identifiers: time-ordered UUIDv7 so ids sort by creation and index well in every database."""

from __future__ import annotations

import uuid

from uuid6 import uuid7


def new_id() -> str:
    """A new UUIDv7 as text (time-ordered, unique across processes)."""
    return str(uuid7())


def is_id(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
