"""nameko entrypoints of the search service: parse, call the domain and the index, return.

The index is never a source of truth: events fill it (through the projection, idempotently),
and `rebuild` recreates it from the owning services' exports behind its alias without downtime
(services/search/rebuild.py).
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import eventlet
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider

from services.search import rebuild as rebuilding
from services.search import rebuilds
from services.search.domain import change_from_event, parse_query
from services.search.index.base import SearchIndex
from services.search.index.factory import make_index
from services.search.models import metadata
from services.search.projection import apply_change
from shared.errors import Conflict, LoaError, Unavailable
from shared.events.envelope import Envelope
from shared.health import search_check
from shared.runtime.config import settings_of
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
)
from shared.runtime.events import event_handler
from shared.runtime.health import service_health
from shared.runtime.rpc import RpcProxy, rpc

log = logging.getLogger(__name__)

SUBSCRIPTION = "search.index"
REBUILD_QUEUE = "search.rebuild"
_SQLITE_WRITER = threading.Lock()  # green-aware once eventlet has patched threading
MAX_WAIT_STEP = 30.0
OWNER_TIMEOUT = 60.0  # seconds one export page may take before the owner counts as unreachable
_REBUILDING = threading.Lock()  # one rebuild at a time in this process


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
    relay = OutboxRelayProvider("search", metadata)  # its only event: a rebuild to run
    media_rpc = RpcProxy("media")  # the owners, asked only by a rebuild
    publishing_rpc = RpcProxy("publishing")
    feedback_rpc = RpcProxy("feedback")

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
    def rebuild(
        self,
        from_owners: bool = True,
        page_size: int = rebuilding.PAGE_SIZE,
        owner_timeout: float = OWNER_TIMEOUT,
    ) -> dict[str, Any]:
        """For admins: refill the projection from every owning service's export (media,
        publishing, feedback), then fill a new versioned index and switch the alias to it.
        `from_owners=False` only refills the index from the projection. An owner that does not
        answer within `owner_timeout` seconds stops the rebuild (503) before any switch."""
        if not _REBUILDING.acquire(blocking=False):
            raise Conflict("a search rebuild is already running in this service", "rebuild")
        try:
            index = self.indexes.ready()
            fetch = self._fetcher(float(owner_timeout)) if from_owners else None
            report = rebuilding.rebuild(
                self.db, index, fetch, page_size=int(page_size), writer_lock=self._writer_lock
            )
            return report.to_json()
        finally:
            _REBUILDING.release()

    @rpc
    def request_rebuild(self, requested_by: str, from_owners: bool = True) -> dict[str, Any]:
        """The admin API's rebuild: recorded and queued now, run by a search worker (the HTTP
        request does not wait); follow it with get_rebuild."""
        with self.db.session() as s:
            record = rebuilds.request(s, requested_by, bool(from_owners))
            self.db.record_event(
                s,
                "search.rebuild_requested",
                {"rebuild_id": record["id"], "from_owners": record["from_owners"]},
            )
        return record

    @rpc
    def get_rebuild(self, rebuild_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            return rebuilds.get(s, rebuild_id)

    @rpc
    def list_rebuilds(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return rebuilds.recent(s)

    @event_handler(REBUILD_QUEUE, prefetch=1)
    def on_rebuild_requested(self, event: Envelope) -> None:
        """Runs one requested rebuild; its end (report or reason) is recorded, never retried by
        the bus. A worker that dies here leaves the message unacked: another runs it again."""
        rebuild_id = event.payload["rebuild_id"]
        with self.db.session() as s:
            if not rebuilds.start(s, rebuild_id):
                return  # already done or failed (a redelivered message)
        try:
            report = self.rebuild(from_owners=event.payload.get("from_owners", True))
        except Exception as exc:  # noqa: BLE001 - every failure is the rebuild's outcome
            reason = exc.detail if isinstance(exc, LoaError) else repr(exc)
            log.warning("search rebuild %s failed: %s", rebuild_id, reason)
            with self.db.session() as s:
                rebuilds.fail(s, rebuild_id, reason)
            return
        with self.db.session() as s:
            rebuilds.finish(s, rebuild_id, report)

    def _writer_lock(self) -> AbstractContextManager[Any]:
        return _SQLITE_WRITER if self.db.is_sqlite else nullcontext()

    def _fetcher(self, timeout: float) -> rebuilding.Fetch:
        proxies = {"media": self.media_rpc, "publishing": self.publishing_rpc,
                   "feedback": self.feedback_rpc}  # fmt: skip

        def fetch(owner: str, after: str | None, limit: int) -> dict[str, Any]:
            method = getattr(proxies[owner], rebuilding.EXPORT_METHOD)
            try:
                reply = method.call_async(after=after, limit=limit)
                with eventlet.Timeout(timeout):
                    return reply.result()  # type: ignore[no-any-return]
            except UnknownService:
                raise Unavailable(f"no {owner} service is running") from None
            except eventlet.Timeout:
                raise Unavailable(f"no answer within {timeout:.0f}s") from None

        return fetch

    @rpc
    def health(self) -> dict[str, Any]:
        def index_check() -> None:
            search_check(self.indexes.ready())()

        return service_health(
            self.name, self.db, self.settings.amqp_uri, extra={"index": index_check}
        )
