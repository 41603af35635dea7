"""What media tells search about its assets, page by page, for a rebuild of the search index.

Each item is what media's own events carry (`media.asset_ready` for a ready asset,
`media.asset_deleted` for a deleted one), validated against the event catalog, in asset id order.
Read-only: nothing is written, no event recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.media.models import assets, renditions
from shared.events.export import check_page, export_item, page


def ready_payload(row: Any, files: dict[str, str]) -> dict[str, Any]:
    """The media.asset_ready payload of an asset row and its renditions ({profile/name: key})."""
    return {
        "asset_id": row.id,
        "title": row.title,
        "description": row.description or "",
        "tags": list(row.tags or []),
        "unit_id": row.unit_id,
        "duration_s": row.duration_s,
        "renditions": files,
        "subtitles_text": row.subtitles_text or "",
        "version": row.version,
    }


def search_documents(session: Session, after: str | None, limit: int) -> dict[str, Any]:
    """{"items": [{key, type, version, occurred_at, payload}], "next": key or None}."""
    check_page(after, limit)
    query = select(assets).where(assets.c.status.in_(("ready", "deleted")))
    if after:
        query = query.where(assets.c.id > after)
    rows = session.execute(query.order_by(assets.c.id).limit(limit)).all()
    ready = [r.id for r in rows if r.status == "ready"]
    files: dict[str, dict[str, str]] = {}
    if ready:
        for r in session.execute(
            select(renditions.c.asset_id, renditions.c.profile, renditions.c.name, renditions.c.key)
            .where(renditions.c.asset_id.in_(ready))
            .order_by(renditions.c.profile, renditions.c.name)
        ):
            files.setdefault(r.asset_id, {})[f"{r.profile}/{r.name}"] = r.key
    items = []
    for row in rows:
        if row.status == "ready":
            payload = ready_payload(row, files.get(row.id, {}))
            items.append(export_item("media.asset_ready", row.id, payload, row.updated_at))
        else:
            payload = {"asset_id": row.id, "version": row.version}
            items.append(export_item("media.asset_deleted", row.id, payload, row.deleted_at))
    return page(items, rows, limit)
