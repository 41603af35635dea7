"""Formatters: render an item into the form one channel wants (stored with version + sequence).

Rendering is separate from transmitting (as in Superdesk's publish/formatters vs transmitters):
a rendition can be previewed, audited and re-sent without being rendered again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.publishing.transmitters.base import RenderedFile


@dataclass(frozen=True)
class RenderContext:
    sequence: int
    now: datetime
    portal_url: str
    options: dict[str, Any] = field(default_factory=dict)
    asset: dict[str, Any] | None = None
    digest: list[dict[str, Any]] = field(default_factory=list)

    def item_url(self, item_id: str) -> str:
        return f"{self.portal_url.rstrip('/')}/{item_id}"


Formatter = Callable[[dict[str, Any], RenderContext], list[RenderedFile]]


def formatter_for(channel: str) -> Formatter:
    from services.publishing.formatters import bulletin, newsml, ninjs, portal, social, tv

    table: dict[str, Formatter] = {
        "press": lambda item, ctx: [ninjs.render(item, ctx), newsml.render(item, ctx)]
        + ninjs.image_files(item),
        "tv": tv.render,
        "facebook": social.facebook,
        "zalo": social.zalo,
        "youtube": social.youtube,
        "portal": portal.render,
        "ebulletin": bulletin.render,
    }
    return table[channel]


def variant(item: dict[str, Any], channel: str) -> dict[str, str]:
    """The channel's own title/text, defaulting from the main ones."""
    own = (item.get("variants") or {}).get(channel) or {}
    return {
        "title": own.get("title") or item["title"],
        "text": own.get("text") or "",
    }


def press_basename(item: dict[str, Any]) -> str:
    """Stable file names: the same item and version always land on the same name."""
    return f"loa-{item['id']}-v{item['version']}"
