"""The portal's published entries and their feeds: RSS 2.0, Atom 1.0 and a JSON listing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from feedgen.feed import FeedGenerator
from sqlalchemy import insert, select, update

from services.publishing.models import portal_entries
from shared.db import Database
from shared.errors import NotFound

FEED_TITLE = "Trung tâm Hành chính công tỉnh Bình Dương"
FEED_SUBTITLE = "Tin tức về cơ chế một cửa, một cửa liên thông và hành chính công"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class PortalEntries:
    """The PortalStore the portal transmitter writes to (this service's own table)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, entry: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        values = {
            "title": entry["title"],
            "summary": entry["summary"],
            "body_html": entry["body_html"],
            "tags": entry["tags"],
            "version": entry["version"],
            "updated_at": now,
            "withdrawn": False,
        }
        with self.db.session() as s:
            done = s.execute(
                update(portal_entries)
                .where(portal_entries.c.item_id == entry["item_id"])
                .values(**values)
            )
            if done.rowcount == 0:
                s.execute(
                    insert(portal_entries).values(
                        item_id=entry["item_id"], published_at=now, **values
                    )
                )

    def version_of(self, item_id: str) -> int | None:
        with self.db.session() as s:
            return s.execute(
                select(portal_entries.c.version).where(portal_entries.c.item_id == item_id)
            ).scalar()


def listing(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.execute(
            select(portal_entries)
            .where(portal_entries.c.withdrawn.is_(False))
            .order_by(portal_entries.c.published_at.desc())
            .limit(limit)
        ).mappings()
        return [dict(r) for r in rows]


def entry(db: Database, item_id: str) -> dict[str, Any]:
    with db.session() as s:
        row = (
            s.execute(
                select(portal_entries).where(
                    portal_entries.c.item_id == item_id, portal_entries.c.withdrawn.is_(False)
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("Không có bài này trên cổng / no such entry on the portal", "item_id")
    return dict(row)


def feed(db: Database, fmt: str, base_url: str, item_url: str, limit: int = 50) -> str:
    """The feed document in fmt ('rss' or 'atom'), newest first, in NFC Vietnamese."""
    entries = listing(db, limit)
    fg = FeedGenerator()
    fg.id(f"{base_url.rstrip('/')}/api/publishing/feeds/atom.xml")
    fg.title(FEED_TITLE)
    fg.subtitle(FEED_SUBTITLE)
    fg.language("vi")
    fg.author({"name": FEED_TITLE})
    fg.link(href=item_url, rel="alternate")
    fg.link(href=f"{base_url.rstrip('/')}/api/publishing/feeds/{fmt}.xml", rel="self")
    fg.updated(_utc(entries[0]["updated_at"]) if entries else datetime(2019, 2, 20, tzinfo=UTC))
    for e in reversed(entries):  # feedgen prepends: add oldest first
        fe = fg.add_entry()
        link = f"{item_url.rstrip('/')}/{e['item_id']}"
        fe.id(link)
        fe.guid(link, permalink=True)
        fe.title(e["title"])
        fe.link(href=link)
        fe.summary(e["summary"] or e["title"])
        fe.content(e["body_html"], type="html")
        fe.published(_utc(e["published_at"]))
        fe.updated(_utc(e["updated_at"]))
        for tag in e["tags"] or []:
            fe.category(term=tag)
    data = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
    return data.decode("utf-8")
