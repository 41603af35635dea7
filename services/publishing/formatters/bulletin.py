"""The monthly e-bulletin: the bulletin's own text plus a digest of the month's items.

Rendered once (HTML and plain text); each recipient's unsubscribe link replaces a placeholder at
send time, so the stored rendition is the same for every recipient and can be audited.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.publishing.formatters import RenderContext, variant
from services.publishing.transmitters.base import RenderedFile

UNSUBSCRIBE_PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(item: dict[str, Any], ctx: RenderContext) -> list[RenderedFile]:
    v = variant(item, "ebulletin")
    values = {
        "title": v["title"],
        "summary": item["summary"],
        "body_html": item["body_html"],
        "body_text": v["text"] or item["body_text"],
        "entries": ctx.digest,
        "unsubscribe": UNSUBSCRIBE_PLACEHOLDER,
    }
    html = _env().get_template("bulletin.html").render(**values)
    text = _env().get_template("bulletin.txt").render(**values)
    return [
        RenderedFile("subject.txt", "text/plain", text=v["title"]),
        RenderedFile("bulletin.html", "text/html", text=html),
        RenderedFile("bulletin.txt", "text/plain", text=text),
    ]
