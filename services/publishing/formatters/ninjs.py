"""IPTC ninjs 2.1 (JSON news item) for the newspaper."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from services.publishing.formatters import RenderContext, press_basename, variant
from services.publishing.transmitters.base import RenderedFile

NINJS_SCHEMA = "http://www.iptc.org/std/ninjs/ninjs-schema_2.1.json"
_TYPES = {"article": "text", "bulletin": "text", "document": "text", "video_post": "video"}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ext(content_type: str) -> str:
    return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(
        content_type, content_type.split("/")[-1]
    )


def image_name(item: dict[str, Any], index: int, content_type: str) -> str:
    return f"{press_basename(item)}.img{index + 1}.{_ext(content_type)}"


def image_files(item: dict[str, Any]) -> list[RenderedFile]:
    return [
        RenderedFile(image_name(item, i, img["content_type"]), img["content_type"],
                     store_key=img["key"])
        for i, img in enumerate(item.get("images") or [])
    ]  # fmt: skip


def document(item: dict[str, Any], ctx: RenderContext) -> dict[str, Any]:
    v = variant(item, "press")
    doc: dict[str, Any] = {
        "$schema": NINJS_SCHEMA,
        "uri": f"urn:loa:item:{item['id']}",
        "standard": {"name": "ninjs", "version": "2.1", "schema": NINJS_SCHEMA},
        "type": _TYPES[item["kind"]],
        "version": str(item["version"]),
        "firstcreated": _iso(item["created_at"]),
        "versioncreated": _iso(item["updated_at"]),
        "contentcreated": _iso(item["created_at"]),
        "pubstatus": "usable",
        "language": "vi",
        "headlines": [{"role": "main", "value": v["title"], "contenttype": "text/plain"}],
        "descriptions": [
            {"role": "summary", "value": item["summary"], "contenttype": "text/plain"}
        ],
        "bodies": [{"role": "main", "contenttype": "text/html", "value": item["body_html"]}],
        "keywords": list(item.get("tags") or []),
        "subjects": [{"name": t, "uri": f"urn:loa:topic:{t}"} for t in item.get("topics") or []],
        "copyrightnotice": "Trung tâm Hành chính công tỉnh Bình Dương",
        "associations": [
            {
                "name": f"image{i + 1}",
                "type": "picture",
                "uri": f"urn:loa:item:{item['id']}:image{i + 1}",
                "descriptions": [{"role": "caption", "value": img.get("alt", "")}],
                "renditions": [
                    {
                        "name": "original",
                        "href": image_name(item, i, img["content_type"]),
                        "contenttype": img["content_type"],
                        "sizeinbytes": img["size"],
                    }
                ],
            }
            for i, img in enumerate(item.get("images") or [])
        ],
    }
    if item.get("embargo_until"):
        doc["embargoed"] = _iso(item["embargo_until"])
    return doc


def render(item: dict[str, Any], ctx: RenderContext) -> RenderedFile:
    text = json.dumps(document(item, ctx), ensure_ascii=False, indent=2)
    return RenderedFile(f"{press_basename(item)}.ninjs.json", "application/json", text=text)
