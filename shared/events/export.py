"""Pages of "what an owner's events would say now", for consumers that rebuild a read model
(search) from the owning services instead of trusting their own copy.

Each owner answers `export_search_documents(after, limit)` with `page(...)`; the items carry the
same (type, payload) its events carry, validated against the catalog, so a consumer applies them
exactly as it applies events (versions decide; late or repeated items change nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.errors import InvalidInput
from shared.events.catalog import validate_payload

MAX_LIMIT = 1000


def check_page(after: str | None, limit: int) -> None:
    """`after`: the key the previous page ended with; `limit`: 1..MAX_LIMIT rows of the owner."""
    if after is not None and not isinstance(after, str):
        raise InvalidInput("after must be a key from the previous page", "after")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}", "limit")


def export_item(event_type: str, key: str, payload: dict[str, Any], at: Any) -> dict[str, Any]:
    """One item: {key, type, version (the payload's, 0 when it has none), occurred_at, payload}."""
    data = validate_payload(event_type, 1, payload)
    return {
        "key": key,
        "type": event_type,
        "version": data.get("version") or 0,
        "occurred_at": at.isoformat() if at is not None else None,
        "payload": data,
    }


def page(items: list[dict[str, Any]], rows: Sequence[Any], limit: int) -> dict[str, Any]:
    """{"items", "next"}: next is the last row's id when the page was full (there may be more)."""
    return {"items": items, "next": rows[-1].id if len(rows) == limit else None}
