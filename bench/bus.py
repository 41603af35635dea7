"""Benchmark of the event bus: outbox → relay → RabbitMQ → idempotent consumer.

Prints events/s and end-to-end p50/p99 latency for 20,000 events, beside a raw kombu
publish → consume of the same messages with the same persistence (durable queue, persistent
messages, manual acks) measured in the same run, and the ratio; then the latency at a steady
1,000 events/s. Not a test: run it by hand.

    .venv/bin/python bench/bus.py [--events 20000] [--rate 1000] [--steady-seconds 10]
                                  [--db sqlite|postgresql://…]
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kombu import Connection, Exchange, Queue  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from sqlalchemy import Column, Float, MetaData, String, Table, insert  # noqa: E402

from shared.config import Settings  # noqa: E402
from shared.db import Database, make_cooperative  # noqa: E402
from shared.events.envelope import Envelope  # noqa: E402
from shared.events.publisher import ConfirmingPublisher  # noqa: E402
from shared.events.relay import OutboxRelay  # noqa: E402
from shared.events.tables import add_event_tables  # noqa: E402
from shared.events.topology import Subscription  # noqa: E402
from shared.runtime.config import nameko_config  # noqa: E402
from shared.runtime.dependencies import DatabaseProvider  # noqa: E402
from shared.runtime.events import event_handler  # noqa: E402

metadata = MetaData()
add_event_tables(metadata)
applied = Table(
    "bench_applied",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("latency_ms", Float, nullable=False),
)
SUB = Subscription(f"bench.bus_{uuid.uuid4().hex[:8]}", ("system.probe",))
_RECORD = insert(applied)
latencies: list[float] = []
done_at: list[float] = []


class BenchConsumer:
    name = "bench"
    db = DatabaseProvider("bench", metadata)

    @event_handler(SUB)
    def on_probe(self, event: Envelope) -> None:
        def effect(session: Any) -> None:
            ms = (time.time() - float(event.payload["sent_at"])) * 1000
            session.execute(_RECORD, {"event_id": event.id, "latency_ms": ms})
            latencies.append(ms)

        self.db.apply_once(SUB.name, event, effect)
        done_at.append(time.perf_counter())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write_events(db: Database, first: int, count: int, per_tx: int) -> None:
    for start in range(first, first + count, per_tx):
        with db.session() as session:
            for seq in range(start, min(start + per_tx, first + count)):
                db.record_event(session, "system.probe", {"seq": seq, "sent_at": time.time()})


def run_loa(settings: Settings, db: Database, events: int) -> tuple[float, list[float]]:
    latencies.clear()
    done_at.clear()
    container = ServiceContainer(BenchConsumer, nameko_config(settings))
    container.start()
    relay = OutboxRelay(
        db,
        metadata,
        ConfirmingPublisher(settings.amqp_uri, subscriptions=[SUB]),
        batch=500,
        interval=0.005,
    )
    relay_thread = eventlet.spawn(relay.run)
    started = time.perf_counter()
    write_events(db, 0, events, per_tx=100)
    while len(done_at) < events:
        eventlet.sleep(0.01)
    elapsed = done_at[-1] - started
    result = (events / elapsed, list(latencies))
    relay.stop()
    relay_thread.wait()
    container.stop()
    return result


def run_steady(settings: Settings, db: Database, rate: int, seconds: int) -> list[float]:
    latencies.clear()
    done_at.clear()
    container = ServiceContainer(BenchConsumer, nameko_config(settings))
    container.start()
    relay = OutboxRelay(
        db,
        metadata,
        ConfirmingPublisher(settings.amqp_uri, subscriptions=[SUB]),
        batch=500,
        interval=0.005,
    )
    relay_thread = eventlet.spawn(relay.run)
    total = rate * seconds
    tick = 0.01  # 10 ms ticks: rate/100 events, each in its own transaction (as a service would)
    per_tick = max(1, rate // 100)
    start = time.perf_counter()
    sent = 0
    first_seq = 10_000_000
    while sent < total:
        target = start + (sent // per_tick) * tick
        now = time.perf_counter()
        if target > now:
            eventlet.sleep(target - now)
        for _ in range(per_tick):
            write_events(db, first_seq + sent, 1, per_tx=1)
            sent += 1
    while len(done_at) < total:
        eventlet.sleep(0.01)
    relay.stop()
    relay_thread.wait()
    container.stop()
    return list(latencies)


def run_baseline(amqp_uri: str, events: int, prefetch: int) -> tuple[float, list[float]]:
    """Raw kombu: publish persistent messages to a durable queue, consume with manual acks."""
    exchange = Exchange("bench.raw", type="topic", durable=True)
    queue = Queue(
        f"bench.raw.{uuid.uuid4().hex[:8]}", exchange, routing_key="system.probe", durable=True
    )
    lat: list[float] = []
    done: list[float] = []
    bodies = [
        Envelope.new("system.probe", {"seq": i, "sent_at": 0.0}, producer="bench").model_dump(
            mode="json"
        )
        for i in range(events)
    ]
    with Connection(amqp_uri) as pub_conn, Connection(amqp_uri) as sub_conn:
        queue(pub_conn.default_channel).declare()

        def on_message(body: Any, message: Any) -> None:
            lat.append((time.time() - float(body["payload"]["sent_at"])) * 1000)
            message.ack()
            done.append(time.perf_counter())

        consumer = sub_conn.Consumer([queue], callbacks=[on_message], accept=["json"])
        consumer.qos(prefetch_count=prefetch)
        consumer.consume()

        def drain() -> None:
            while len(done) < events:
                try:
                    sub_conn.drain_events(timeout=1)
                except TimeoutError:
                    pass

        drainer = eventlet.spawn(drain)
        producer = pub_conn.Producer(serializer="json")
        started = time.perf_counter()
        for body in bodies:
            body["payload"]["sent_at"] = time.time()
            producer.publish(body, exchange=exchange, routing_key="system.probe", delivery_mode=2)
        drainer.wait()
        elapsed = done[-1] - started
        queue(sub_conn.default_channel).delete()
    return events / elapsed, lat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--steady-seconds", type=int, default=10)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument(
        "--amqp", default=os.environ.get("LOA_TEST_AMQP_URI", "amqp://guest:guest@localhost:5672/")
    )
    args = parser.parse_args()
    make_cooperative()
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-"))
    url = f"sqlite:///{tmp}/bench.sqlite3" if args.db == "sqlite" else args.db
    settings = Settings(
        data_dir=tmp,
        amqp_uri=args.amqp,
        max_workers=10,
        log_level="WARNING",
        database_url_template=url,
    )
    db = Database("bench", url, metadata, pool_size=16)
    metadata.drop_all(db.engine)
    metadata.create_all(db.engine)
    from shared.runtime import resources

    resources._databases[("bench", url)] = db

    base_rate, base_lat = run_baseline(args.amqp, args.events, prefetch=settings.max_workers)
    loa_rate, loa_lat = run_loa(settings, db, args.events)
    steady = run_steady(settings, db, args.rate, args.steady_seconds)

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    kind = "sqlite" if args.db == "sqlite" else "postgresql"
    print(f"bus benchmark, {args.events} events, db={kind}, {when}")
    print(
        f"  raw kombu (baseline): {base_rate:8.0f} events/s  p50 {pct(base_lat, 0.5):7.1f} ms  "
        f"p99 {pct(base_lat, 0.99):7.1f} ms"
    )
    print(
        f"  loa outbox→relay→rabbitmq→idempotent consumer: {loa_rate:8.0f} events/s  "
        f"p50 {pct(loa_lat, 0.5):7.1f} ms  p99 {pct(loa_lat, 0.99):7.1f} ms"
    )
    print(f"  ratio loa/raw throughput: {loa_rate / base_rate:.2f}  (goal ≥ 0.50)")
    print(
        f"  steady {args.rate} events/s for {args.steady_seconds}s: p50 {pct(steady, 0.5):.1f} ms  "
        f"p99 {pct(steady, 0.99):.1f} ms  max {max(steady):.1f} ms  mean "
        f"{statistics.mean(steady):.1f} ms  (goal p99 < 50 ms)"
    )
    db.dispose()


if __name__ == "__main__":
    main()
