"""The portal's entry for an item: what the listing and the feeds show."""

from __future__ import annotations

import json
from typing import Any

from services.publishing.formatters import RenderContext, variant
from services.publishing.transmitters.base import RenderedFile


def render(item: dict[str, Any], ctx: RenderContext) -> list[RenderedFile]:
    v = variant(item, "portal")
    entry = {
        "item_id": item["id"],
        "title": v["title"],
        "summary": item["summary"],
        "body_html": item["body_html"],
        "tags": list(item.get("tags") or []),
        "version": item["version"],
        "url": ctx.item_url(item["id"]),
    }
    return [
        RenderedFile("entry.json", "application/json", text=json.dumps(entry, ensure_ascii=False))
    ]
