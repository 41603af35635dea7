"""nameko entrypoints of the search service: parse, call the domain and the index, return.

The index is never a source of truth: events fill it (through the projection, idempotently),
and `rebuild` recreates it behind its alias without downtime.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import eventlet
from nameko.extensions import DependencyProvider

from services.search.domain import change_from_event, parse_query
from services.search.index.base import SearchIndex
from services.search.index.factory import make_index
from services.search.models import metadata
from services.search.projection import all_ops, apply_change
from shared.events.envelope import Envelope
from shared.health import search_check
from shared.runtime.config import settings_of
from shared.runtime.dependencies import Correlation, DatabaseProvider, SettingsProvider
from shared.runtime.events import event_handler
from shared.runtime.health import service_health
from shared.runtime.rpc import rpc

log = logging.getLogger(__name__)

SUBSCRIPTION = "search.index"
_SQLITE_WRITER = threading.Lock()  # green-aware once eventlet has patched threading
MAX_WAIT_STEP = 30.0


class IndexProvider(DependencyProvider):
    """The search index chosen by settings; created (ensure) the first time it answers."""

    def setup(self) -> None:
        self.index: SearchIndex = make_index(settings_of(self.container.config))
        self._ensured = False

    def stop(self) -> None:
        self.index.close()

    def kill(self) -> None:
        self.index.close()

    def ready(self) -> SearchIndex:
        if not self._ensured:
            self.index.ensure()
            self._ensured = True
        return self.index

    def wait_ready(self) -> SearchIndex:
        """Block this worker (its message stays unacked in the queue) until the index answers,
        so an outage delays indexing instead of parking events: nothing is lost."""
        delay = 1.0
        while True:
            try:
                index = self.ready()
                index.ping()
                return index
            except Exception as exc:  # noqa: BLE001 - any failure means: not yet
                log.warning("search index unavailable (%s); retrying in %.0fs", exc, delay)
                eventlet.sleep(delay)
                delay = min(delay * 2, MAX_WAIT_STEP)

    def get_dependency(self, worker_ctx: Any) -> IndexProvider:
        return self


class SearchService:
    name = "search"

    correlation = Correlation()
    settings = SettingsProvider()
    db = DatabaseProvider("search", metadata)
    indexes = IndexProvider()

    @event_handler(SUBSCRIPTION)
    def on_event(self, event: Envelope) -> None:
        change = change_from_event(event.type, event.payload, event.occurred_at)
        if change is None:
            return
        index = self.indexes.wait_ready()

        def effect(session: Any) -> None:
            op = apply_change(session, change)
            if op is not None:
                index.write([op])  # before commit: a failed write rolls the projection back

        if self.db.is_sqlite:
            # SQLite waits for its write lock without yielding to other green threads; a second
            # writer would freeze the process while the first awaits the index. One at a time.
            with _SQLITE_WRITER:
                self.db.apply_once(SUBSCRIPTION, event, effect)
        else:
            self.db.apply_once(SUBSCRIPTION, event, effect)

    @rpc
    def search(self, query: dict[str, Any] | None = None, visibility: str = "public") -> dict:
        """`visibility`: "staff" for signed-in staff (internal items too), else "public"."""
        parsed = parse_query(query, visibility)
        return self.indexes.ready().search(parsed).to_json()

    @rpc
    def rebuild(self) -> dict[str, Any]:
        """For admins: refill a new versioned index from the projection and switch to it."""
        index = self.indexes.ready()
        started = datetime.now(UTC)
        t0 = time.monotonic()
        count = 0

        def source() -> Any:
            nonlocal count
            for op in all_ops(self.db):
                count += 1
                yield op

        # Catch-up covers changes committed while the rebuild read (margin for clock and
        # in-flight transactions); version checks make re-applying them harmless.
        catch_up = all_ops(self.db, since=started - timedelta(seconds=30))
        name = index.rebuild(source(), catch_up=catch_up)
        return {"index": name, "documents": count, "seconds": round(time.monotonic() - t0, 2)}

    @rpc
    def health(self) -> dict[str, Any]:
        def index_check() -> None:
            search_check(self.indexes.ready())()

        return service_health(
            self.name, self.db, self.settings.amqp_uri, extra={"index": index_check}
        )
