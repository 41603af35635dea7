"""The scheduler on PostgreSQL: many due deliveries claimed in one statement (SKIP LOCKED, so two
workers never take the same one), sent on a bounded green pool, successes recorded in batches
(with their events and the items' publication), a lost lease never recorded as ours, and a
worker's claims taken over after its lease expires and checked before any resend."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import eventlet
from sqlalchemy import func, select, update

from services.publishing.domain import items, schedule
from services.publishing.domain.dispatch import DispatchConfig, Dispatcher
from services.publishing.models import deliveries, metadata
from services.publishing.models import items as items_table
from services.publishing.transmitters.base import Job, SendResult, Transmitter
from shared.db import Database
from tests.publishing.conftest import PUBLISHER, approved_item, events_of

P = items.Actor(**PUBLISHER)


class Counting(Transmitter):
    """A channel that remembers every send per idempotency key (duplicates show)."""

    channel = "portal"

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: dict[str, int] = {}
        self.delay = delay

    def send(self, job: Job) -> SendResult:
        if self.delay:
            eventlet.sleep(self.delay)
        self.sent[job.idempotency_key] = self.sent.get(job.idempotency_key, 0) + 1
        return SendResult(remote_id=job.idempotency_key, url=f"https://portal/{job.delivery_id}")

    def find(self, job: Job) -> SendResult | None:
        if job.idempotency_key in self.sent:
            return SendResult(remote_id=job.idempotency_key)
        return None


def _dispatcher(db: Database, channel: Transmitter, **cfg: Any) -> Dispatcher:
    config = DispatchConfig(portal_url="http://loa.test/portal", **cfg)
    return Dispatcher(db, lambda _c: channel, config, sleep=eventlet.sleep)


def _due(db: Database, count: int, item_ids: list[str]) -> list[str]:
    from services.publishing.config import ChannelSettings

    cfg = ChannelSettings()
    ids = []
    with db.session() as s:
        for n in range(count):
            item_id = item_ids[n % len(item_ids)]
            row = schedule.schedule_delivery(s, item_id, "portal", P, cfg, db.record_event)
            ids.append(row["id"])
    return ids


def _statuses(db: Database) -> dict[str, int]:
    with db.session() as s:
        query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        return {status: int(n) for status, n in s.execute(query)}


def test_two_workers_share_the_queue_and_record_in_batches(pg_db: Database) -> None:
    item_ids = [approved_item(pg_db, title=f"Tin {n}")["id"] for n in range(5)]
    ids = _due(pg_db, 120, item_ids)
    channel = Counting(delay=0.01)
    workers = [_dispatcher(pg_db, channel, batch=25) for _ in range(2)]
    pools = [eventlet.GreenPool(10) for _ in workers]
    statements: list[str] = []

    from sqlalchemy import event

    @event.listens_for(pg_db.engine, "before_cursor_execute")
    def count(_c: Any, _cur: Any, stmt: str, *_a: Any) -> None:
        statements.append(stmt)

    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while _statuses(pg_db).get("succeeded", 0) < len(ids) and datetime.now(UTC) < deadline:
        for w, pool in zip(workers, pools, strict=True):
            w.feed(pool)
        eventlet.sleep(0.005)
    for w, pool in zip(workers, pools, strict=True):
        pool.waitall()
        w.flush()
    event.remove(pg_db.engine, "before_cursor_execute", count)
    assert _statuses(pg_db) == {"succeeded": 120}
    assert sorted(channel.sent) == sorted(f"loa-{i}" for i in ids)
    assert set(channel.sent.values()) == {1}  # no delivery taken by both workers
    # Few statements per delivery: claims and records are batched.
    claims = [s for s in statements if "FOR UPDATE SKIP LOCKED" in s]
    records = [s for s in statements if "UPDATE deliveries AS d" in s and "succeeded" in s]
    assert len(claims) + len(records) < 120 / 2, (len(claims), len(records))
    ok = events_of(pg_db, "publishing.delivery_succeeded")
    assert sorted(e["delivery_id"] for e in ok) == sorted(ids)
    assert all(e["url"] == f"https://portal/{e['delivery_id']}" for e in ok)
    published = events_of(pg_db, "publishing.item_published")
    assert sorted(e["item_id"] for e in published) == sorted(item_ids)  # once per item
    with pg_db.session() as s:
        states = set(s.execute(select(items_table.c.status)).scalars())
        rows = s.execute(select(deliveries.c.rendition_seq, deliveries.c.sent_at)).all()
    assert states == {"published"} and all(r.rendition_seq and r.sent_at for r in rows)


def test_a_lost_lease_is_not_recorded_and_the_next_owner_checks_first(pg_db: Database) -> None:
    item_id = approved_item(pg_db)["id"]
    (did,) = _due(pg_db, 1, [item_id])
    channel = Counting()
    slow = _dispatcher(pg_db, channel, lease_s=30)
    (claim,) = slow.claim()
    assert claim["item"]["id"] == item_id and claim["row"]["status"] == "sending"
    assert not slow.claim()  # taken: SKIP LOCKED / status, nobody else gets it
    # The first worker sends, then stalls past its lease before recording; another worker
    # takes the delivery over, asks the channel, and records it without a second send.
    assert slow.process(claim, buffered=True) == "succeeded"
    with pg_db.session() as s:
        s.execute(update(deliveries).where(deliveries.c.id == did).values(
            lease_until=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip
    other = _dispatcher(pg_db, channel)
    (taken,) = other.claim()
    assert taken["recovering"] is True
    assert other.process(taken) == "succeeded"
    assert slow.flush() == 0  # its lease is gone: not recorded twice
    assert channel.sent == {f"loa-{did}": 1}
    with pg_db.session() as s:
        row = s.execute(select(deliveries).where(deliveries.c.id == did)).mappings().one()
    assert row["status"] == "succeeded" and row["attempts"] == 2
    assert len(events_of(pg_db, "publishing.delivery_succeeded")) == 1


def test_renditions_are_made_ahead_and_idle_workers_sleep_until_due(pg_db: Database) -> None:
    item_id = approved_item(pg_db, title="Sắp đăng")["id"]
    at = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    from services.publishing.config import ChannelSettings

    with pg_db.session() as s:
        schedule.schedule_delivery(s, item_id, "portal", P, ChannelSettings(), pg_db.record_event,
                                   at=at)  # fmt: skip
    d = _dispatcher(pg_db, Counting(), poll_max_s=60)
    assert d.prepare() == 1  # rendered 20 s ahead of its time
    renditions = metadata.tables["renditions"]
    with pg_db.session() as s:
        (files,) = s.execute(select(renditions.c.files)).scalars()
        (due,) = s.execute(select(deliveries.c.next_attempt_at)).scalars()
    assert json.loads(files[0]["text"])["title"] == "Sắp đăng"
    assert d.claim() == []
    assert d.next_due == due  # nothing due now: the claim noted when the next one is
    # An idle worker sleeps until that moment (not the longest pause, 60 s, nor a short poll).
    before = datetime.now(UTC)
    pause = d.pause(0, 10)
    after = datetime.now(UTC)
    assert (due - after).total_seconds() <= pause <= (due - before).total_seconds()
    assert 5 < pause <= 20, pause
