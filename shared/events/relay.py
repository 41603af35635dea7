"""The outbox relay: publishes committed events, marks them sent, never loses one.

A row is marked published only after the broker confirmed it. If the relay dies between confirm
and mark, the event goes out again: delivery is at-least-once and consumers are idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, MetaData, delete, select, update

from shared.db import Database
from shared.events.publisher import ConfirmingPublisher, OutgoingMessage, PublishFailed
from shared.events.tables import get_event_tables
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        metadata: MetaData,
        publisher: ConfirmingPublisher,
        *,
        batch: int = 500,
        interval: float = 0.2,
        keep_published: timedelta = timedelta(days=1),
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.batch = batch
        self.interval = interval
        self.keep_published = keep_published
        self.outbox, _ = get_event_tables(metadata)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_prune = 0.0
        db.on_commit_with_events(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def publish_pending(self) -> int:
        """Publish one batch of unsent events; return how many went out."""
        o = self.outbox
        query = (
            select(o.c.seq, o.c.event_id, o.c.type, o.c.version, o.c.body)
            .where(o.c.published_at.is_(None))
            .order_by(o.c.seq)
            .limit(self.batch)
        )
        if not self.db.is_sqlite:
            # Several relays (replicas) may run: each takes rows no other one holds.
            query = query.with_for_update(skip_locked=True)
        if self.db.is_sqlite:
            # SQLite: read, publish, then mark in a short write transaction of its own (a read
            # transaction upgraded to a write one can fail on a busy database).
            with self.db.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return 0
            self._send(rows)
            with self.db.serialized(), self.db.engine.begin() as conn:
                self._mark(conn, rows)
        else:
            with self.db.engine.begin() as conn:
                rows = conn.execute(query).all()
                if not rows:
                    return 0
                self._send(rows)
                self._mark(conn, rows)
        EVENTS_PUBLISHED.labels(self.db.service).inc(len(rows))
        return len(rows)

    def _send(self, rows: list) -> None:  # type: ignore[type-arg]
        self.publisher.publish(
            [
                OutgoingMessage(
                    routing_key=r.type,
                    body=r.body.encode("utf-8"),
                    message_id=r.event_id,
                    headers={"loa-type": r.type, "loa-version": r.version},
                )
                for r in rows
            ]
        )

    def _mark(self, conn: Connection, rows: list) -> None:  # type: ignore[type-arg]
        conn.execute(
            update(self.outbox)
            .where(self.outbox.c.seq.in_([r.seq for r in rows]))
            .values(published_at=datetime.now(UTC))
        )

    def prune(self) -> None:
        cutoff = datetime.now(UTC) - self.keep_published
        with self.db.serialized(), self.db.engine.begin() as conn:
            conn.execute(delete(self.outbox).where(self.outbox.c.published_at < cutoff))

    def backlog(self) -> int:
        from sqlalchemy import func

        with self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(self.outbox.c.published_at.is_(None))
                ).scalar_one()
            )

    def run(self) -> None:
        """Loop until stopped: publish, back off while the broker is away, sleep when idle."""
        backoff = 0.5
        while not self._stop.is_set():
            try:
                sent = self.publish_pending()
                backoff = 0.5
            except PublishFailed as exc:
                log.warning(
                    "outbox relay of %s: broker unavailable (%s); retrying in %.1fs",
                    self.db.service,
                    exc.__cause__ or exc,
                    backoff,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            except Exception:
                log.exception(
                    "outbox relay of %s failed; retrying in %.1fs", self.db.service, backoff
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if sent >= self.batch:
                continue
            now = time.monotonic()
            if now - self._last_prune > 300:
                self._last_prune = now
                try:
                    self.prune()
                    OUTBOX_BACKLOG.labels(self.db.service).set(self.backlog())
                except Exception:  # noqa: BLE001 - pruning is housekeeping only
                    log.warning("outbox prune of %s failed", self.db.service, exc_info=True)
            self._wake.wait(self.interval)
            self._wake.clear()
        self.publisher.close()
