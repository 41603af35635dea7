"""Rebuilding the index from the owning services: the index is never a source of truth.

Each owner (media, publishing, feedback) answers `export_search_documents(after, limit)` with
pages of `{"key", "type", "version", "occurred_at", "payload"}`: what its events would say about
each searchable thing *now*, in the events' own payload shapes, ordered by a stable key.

A rebuild runs in two phases:
1. refresh: every page of every owner is folded into the search projection exactly as events are
   (`change_from_event` + `apply_change`: versioned, so a page older than an event that already
   arrived changes nothing, and an event arriving later than a page wins if newer). Changed rows
   are written to the live index at once, like an event. An owner that does not answer stops the
   rebuild here with `OwnerUnavailable`: the live index is untouched by the switch (it only got
   the same versioned writes an event would have made).
2. switch: `SearchIndex.rebuild` fills a new versioned index from the projection while live events
   are written to both, points the alias at it atomically, then replays (catch-up) every row that
   changed since the phase began.

Nothing here knows nameko: the service passes `fetch` (an RPC call with a deadline).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.search.domain import change_from_event
from services.search.index.base import IndexOp, SearchIndex
from services.search.projection import ConcurrentChange, all_ops, apply_change
from shared.db import Database
from shared.errors import InvalidInput, Unavailable
from shared.events.catalog import validate_payload

log = logging.getLogger(__name__)

EXPORT_METHOD = "export_search_documents"
# Which event types each owner may export (anything else in a page is refused, not guessed at).
OWNERS: dict[str, frozenset[str]] = {
    "media": frozenset({"media.asset_ready", "media.asset_deleted"}),
    "publishing": frozenset(
        {
            "publishing.item_published",
            "publishing.item_withdrawn",
            "publishing.delivery_succeeded",
        }
    ),
    "feedback": frozenset({"feedback.answer_published"}),
}
PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
CATCH_UP_MARGIN = timedelta(seconds=30)  # clock skew and transactions in flight at the start
PAGE_RETRIES = 5

Fetch = Callable[[str, "str | None", int], dict[str, Any]]
"""fetch(owner, after, limit) -> {"items": [...], "next": str | None}; raises on no answer."""


class OwnerUnavailable(Unavailable):
    """An owning service did not answer an export page: the rebuild stops, the old index stays."""


class BadExport(InvalidInput):
    """An owner's page does not hold what the export contract says."""


@dataclass
class RebuildReport:
    index: str = ""
    documents: int = 0
    owners: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "documents": self.documents,
            "owners": dict(self.owners),
            "changed": self.changed,
            "seconds": round(self.seconds, 2),
        }


def pages(fetch: Fetch, owner: str, page_size: int = PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
    """Every page of one owner's export, in key order, until it says there is no next page."""
    after: str | None = None
    while True:
        try:
            page = fetch(owner, after, page_size)
        except Unavailable as exc:
            raise OwnerUnavailable(
                f"the {owner} service did not answer its export (after {after!r}): {exc}; "
                "the rebuild stopped and the current index stays live"
            ) from None
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise BadExport(f"the {owner} export page is not {{items, next}}", owner)
        yield page["items"]
        nxt = page.get("next")
        if not nxt:
            return
        if after is not None and str(nxt) <= after:
            raise BadExport(f"the {owner} export went backwards ({nxt!r} after {after!r})", owner)
        after = str(nxt)


def _occurred(value: Any) -> datetime:
    if not value:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _changes(owner: str, items: list[dict[str, Any]]) -> list[Any]:
    allowed = OWNERS[owner]
    out = []
    for item in items:
        event_type = item.get("type") if isinstance(item, dict) else None
        if event_type not in allowed:
            raise BadExport(f"the {owner} export holds an item of type {event_type!r}", owner)
        payload = validate_payload(event_type, 1, item.get("payload"))
        change = change_from_event(event_type, payload, _occurred(item.get("occurred_at")))
        if change is not None:
            out.append(change)
    return out


def refresh_projection(
    db: Database,
    index: SearchIndex,
    fetch: Fetch,
    owners: list[str] | None = None,
    page_size: int = PAGE_SIZE,
    writer_lock: Callable[[], AbstractContextManager[Any]] = nullcontext,
    report: RebuildReport | None = None,
) -> RebuildReport:
    """Phase 1: fold every owner's export into the projection (and the live index), page by
    page, each page one unit of work written to the index before it commits, like an event."""
    report = report or RebuildReport()
    for owner in owners or list(OWNERS):
        if owner not in OWNERS:
            raise InvalidInput(f"unknown owner {owner!r}; owners are {list(OWNERS)}", "owners")
        report.owners[owner] = 0
        for items in pages(fetch, owner, page_size):
            changes = _changes(owner, items)
            report.owners[owner] += len(items)
            report.changed += _apply_page(db, index, changes, writer_lock)
    return report


def _apply_page(
    db: Database,
    index: SearchIndex,
    changes: list[Any],
    writer_lock: Callable[[], AbstractContextManager[Any]],
) -> int:
    for attempt in range(1, PAGE_RETRIES + 1):
        try:
            with writer_lock(), db.session() as session:
                ops: list[IndexOp] = []
                for change in changes:
                    op = apply_change(session, change)
                    if op is not None:
                        ops.append(op)
                if ops:
                    index.write(ops)  # before commit: a failed write rolls the page back
            return len(ops)
        except ConcurrentChange:
            if attempt == PAGE_RETRIES:
                raise
            time.sleep(0.05 * attempt)  # a live event changed one of these rows: read again
    return 0


def switch(db: Database, index: SearchIndex, report: RebuildReport | None = None) -> RebuildReport:
    """Phase 2: a new versioned index from the projection, the alias switched, then catch-up."""
    report = report or RebuildReport()
    started = datetime.now(UTC)

    def source() -> Iterator[IndexOp]:
        for op in all_ops(db):
            report.documents += 1
            yield op

    catch_up = all_ops(db, since=started - CATCH_UP_MARGIN)  # lazy: read after the switch
    report.index = index.rebuild(source(), catch_up=catch_up)
    return report


def rebuild(
    db: Database,
    index: SearchIndex,
    fetch: Fetch | None,
    owners: list[str] | None = None,
    page_size: int = PAGE_SIZE,
    writer_lock: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> RebuildReport:
    """Both phases; without `fetch`, only the switch (from the projection as it is)."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page_size must be from 1 to {MAX_PAGE_SIZE}", "page_size")
    t0 = time.monotonic()
    report = RebuildReport()
    if fetch is not None:
        refresh_projection(db, index, fetch, owners, page_size, writer_lock, report)
        log.info("search rebuild: owners exported %s; %d changed", report.owners, report.changed)
    switch(db, index, report)
    report.seconds = time.monotonic() - t0
    log.info(
        "search rebuild: %s now holds %d documents (%.1fs)",
        report.index,
        report.documents,
        report.seconds,
    )
    return report
