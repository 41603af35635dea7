"""Database access: one engine and session factory per service, SQLite or PostgreSQL by URL.

Why a pool sized from the worker count: every nameko worker may hold one connection, plus the
outbox relay and health checks; a pool smaller than that would make workers wait on each other.
PostgreSQL calls are made cooperative (psycogreen) so a slow query in one worker never stalls the
other green threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from shared.logging import correlation_id

if TYPE_CHECKING:
    from shared.events.envelope import Envelope

T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, pool_size: int = 14, pool_timeout: float = 10.0) -> Engine:
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=pool_timeout,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def make_cooperative() -> None:
    """Let psycopg2 yield to other green threads while it waits on the server.

    eventlet.monkey_patch() does this already (its psycopg patch); this makes sure of it for
    processes that patched only some modules.
    """
    import eventlet.patcher

    if eventlet.patcher.is_monkey_patched("socket") and not eventlet.patcher.is_monkey_patched(
        "psycopg"
    ):
        from eventlet.support.psycopg2_patcher import make_psycopg_green

        make_psycopg_green()


class Database:
    """A service's database: sessions that commit or roll back as one unit of work."""

    def __init__(
        self,
        service: str,
        url: str,
        metadata: MetaData,
        pool_size: int = 14,
        pool_timeout: float = 10.0,
    ) -> None:
        self.service = service
        self.metadata = metadata
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self._commit_listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        # SQLite has one writer at a time, and its busy handler sleeps without yielding to other
        # green threads; so units of work in this process take turns instead of colliding.
        self.write_lock: threading.RLock | None = threading.RLock() if is_sqlite(url) else None
        event.listen(self._factory, "after_commit", self._after_commit)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def on_commit_with_events(self, listener: Callable[[], None]) -> None:
        """Call listener after any commit that wrote outgoing events (wakes the relay)."""
        with self._lock:
            self._commit_listeners.append(listener)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("events_added", False):
            for listener in list(self._commit_listeners):
                listener()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        with self.serialized():
            session = self._factory()
            session.info["producer"] = self.service
            session.info["correlation_id"] = correlation_id.get()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def serialized(self) -> Iterator[None]:
        """Hold the in-process write turn (SQLite only; PostgreSQL needs none)."""
        if self.write_lock is None:
            yield
            return
        with self.write_lock:
            yield

    def record_event(self, session: Session, event_type: str, payload: Any) -> Envelope:
        """Add an outgoing event to this unit of work (published by the relay after commit)."""
        from shared.events.outbox import record_event

        return record_event(session, self.metadata, event_type, payload)

    def record_events(self, session: Session, events: list[tuple[str, Any]]) -> list[Envelope]:
        """record_event for many (type, payload) pairs, inserted with one statement."""
        from shared.events.outbox import record_events

        return record_events(session, self.metadata, events)

    def apply_once(
        self, subscription: str, envelope: Envelope, effect: Callable[[Session], T]
    ) -> tuple[bool, T | None]:
        """Apply a received event's effect unless this subscription already applied it."""
        from shared.events.inbox import apply_once

        return apply_once(self, self.metadata, subscription, envelope, effect)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
