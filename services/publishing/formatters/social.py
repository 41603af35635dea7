"""Facebook post, Zalo OA article and YouTube video metadata renditions (JSON)."""

from __future__ import annotations

import json
from typing import Any

from services.publishing.domain.text import shorten
from services.publishing.formatters import RenderContext, variant
from services.publishing.transmitters.base import RenderedFile


def _video_key(ctx: RenderContext, preferred: tuple[str, ...]) -> str | None:
    renditions = (ctx.asset or {}).get("renditions") or {}
    for name in preferred:
        if name in renditions:
            return str(renditions[name])
    return next(iter(renditions.values()), None) if renditions else None


def _json(name: str, data: dict[str, Any]) -> RenderedFile:
    return RenderedFile(name, "application/json", text=json.dumps(data, ensure_ascii=False))


def facebook(item: dict[str, Any], ctx: RenderContext) -> list[RenderedFile]:
    v = variant(item, "facebook")
    text = v["text"] or "\n\n".join(p for p in (v["title"], item["summary"]) if p)
    post: dict[str, Any] = {
        "message": shorten(text, 60000),
        "link": None if item["kind"] == "video_post" else ctx.item_url(item["id"]),
        "photos": [img["key"] for img in item.get("images") or []],
    }
    files = [_json("post.json", post)]
    if item["kind"] == "video_post":
        key = _video_key(ctx, ("social", "web", "hd"))
        post.update(title=shorten(v["title"], 255), description=shorten(text, 5000))
        files = [_json("post.json", post)]
        if key:
            files.append(RenderedFile("video.mp4", "video/mp4", store_key=key))
    return files


def zalo(item: dict[str, Any], ctx: RenderContext) -> list[RenderedFile]:
    """A Zalo OA article (normal, or video for a video post), created hidden; the transmitter
    turns stored image keys into URLs Zalo can fetch at send time."""
    v = variant(item, "zalo")
    body = v["text"] or item["body_text"]
    paragraphs = [p for p in body.split("\n") if p.strip()] or [item["summary"] or v["title"]]
    images = item.get("images") or []
    description = shorten(item["summary"] or body, 300)
    if item["kind"] == "video_post":
        article: dict[str, Any] = {
            "type": "video",
            "title": shorten(v["title"], 150),
            "description": description,
            "avatar_key": images[0]["key"] if images else None,
            "status": "hide",
            "comment": "show",
        }
        files = [_json("article.json", article)]
        key = _video_key(ctx, ("social", "web", "hd"))
        if key:
            files.append(RenderedFile("video.mp4", "video/mp4", store_key=key))
        return files
    article = {
        "type": "normal",
        "title": shorten(v["title"], 150),
        "author": "Trung tâm Hành chính công",
        "description": description,
        "body": [{"type": "text", "content": p} for p in paragraphs],
        "status": "hide",
        "comment": "show",
    }
    if images:
        article["cover"] = {"cover_type": "photo", "photo_key": images[0]["key"], "status": "show"}
    return [_json("article.json", article)]


def youtube(item: dict[str, Any], ctx: RenderContext) -> list[RenderedFile]:
    v = variant(item, "youtube")
    description = v["text"] or "\n\n".join(p for p in (item["summary"], item["body_text"]) if p)
    privacy = ctx.options.get("privacy", "public")
    status: dict[str, Any] = {"privacyStatus": privacy, "selfDeclaredMadeForKids": False}
    if ctx.options.get("publish_at"):
        status = {**status, "privacyStatus": "private", "publishAt": ctx.options["publish_at"]}
    meta = {
        "snippet": {
            "title": shorten(v["title"], 100).replace("<", "").replace(">", ""),
            "description": shorten(description, 5000).replace("<", "").replace(">", ""),
            "tags": list(item.get("tags") or [])[:30],
            "categoryId": "25",
            "defaultLanguage": "vi",
        },
        "status": status,
    }
    files = [_json("video.json", meta)]
    key = _video_key(ctx, ("web", "hd", "social"))
    if key:
        files.append(RenderedFile("video.mp4", "video/mp4", store_key=key))
    return files
