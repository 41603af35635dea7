"""The TV station's package: the TV rendition of the clip plus a metadata sidecar."""

from __future__ import annotations

import json
from typing import Any

from services.publishing.formatters import RenderContext, press_basename, variant
from services.publishing.transmitters.base import RenderedFile


def render(item: dict[str, Any], ctx: RenderContext) -> list[RenderedFile]:
    v = variant(item, "tv")
    asset = ctx.asset or {}
    renditions = asset.get("renditions") or {}
    key = renditions.get("tv") or renditions.get("hd") or next(iter(renditions.values()), None)
    base = press_basename(item)
    sidecar = {
        "id": item["id"],
        "version": item["version"],
        "title": v["title"],
        "summary": item["summary"],
        "duration_s": asset.get("duration_s"),
        "suggested_air_time": ctx.options.get("air_time"),
        "video_file": f"{base}.mp4",
        "language": "vi",
        "source": "Trung tâm Hành chính công tỉnh Bình Dương",
    }
    files = []
    if key:
        files.append(RenderedFile(f"{base}.mp4", "video/mp4", store_key=str(key)))
    # The sidecar goes last: a watch folder that reacts to it finds the clip already there.
    files.append(
        RenderedFile(
            f"{base}.json", "application/json", text=json.dumps(sidecar, ensure_ascii=False)
        )
    )
    return files
