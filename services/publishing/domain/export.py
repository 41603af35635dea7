"""What publishing tells search about its items, page by page, for a rebuild of the search index.

Per item, in item id order, what publishing's own events would carry now:
- a published item: `publishing.item_published` (as `items.mark_published_many` builds it, with
  the channels its succeeded deliveries reached);
- a withdrawn item: `publishing.item_withdrawn` at its version (a tombstone);
- every succeeded delivery of an exported item: `publishing.delivery_succeeded`.
An item that was published and is now being corrected (a newer version in review) exports its
deliveries only: the row holds the unpublished correction, never shown before it is published,
and search keeps the version it has until the correction's own `item_published`.
Read-only: nothing is written, no event recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.publishing.domain.items import published_payload
from services.publishing.models import deliveries, items
from shared.events.export import check_page, export_item, page


def search_documents(session: Session, after: str | None, limit: int) -> dict[str, Any]:
    """{"items": [{key, type, version, occurred_at, payload}], "next": key or None}."""
    check_page(after, limit)
    query = select(items).where(
        or_(items.c.published_at.is_not(None), items.c.status == "withdrawn")
    )
    if after:
        query = query.where(items.c.id > after)
    rows = session.execute(query.order_by(items.c.id).limit(limit)).all()
    sent: dict[str, list[Any]] = {}
    if rows:
        for d in session.execute(
            select(deliveries)
            .where(
                deliveries.c.item_id.in_([r.id for r in rows]),
                deliveries.c.status == "succeeded",
            )
            .order_by(deliveries.c.sent_at, deliveries.c.id)
        ):
            sent.setdefault(d.item_id, []).append(d)
    out = []
    for row in rows:
        done = sent.get(row.id, [])
        if row.status == "published":
            payload = published_payload(row._mapping, [d.channel for d in done], row.published_at)
            out.append(export_item("publishing.item_published", row.id, payload, row.updated_at))
        elif row.status == "withdrawn":
            payload = {"item_id": row.id, "version": row.version}
            out.append(export_item("publishing.item_withdrawn", row.id, payload, row.updated_at))
        for d in done:
            payload = {
                "delivery_id": d.id,
                "item_id": row.id,
                "channel": d.channel,
                "remote_id": d.remote_id,
                "url": d.url,
            }
            out.append(export_item("publishing.delivery_succeeded", row.id, payload, d.sent_at))
    return page(out, rows, limit)
