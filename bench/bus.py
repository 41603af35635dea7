"""Benchmark of the event bus: outbox → relay → RabbitMQ → idempotent consumer.

Two processes, as in production: the producing service (its unit of work writes events to the
outbox; its relay publishes them with confirms) and the consuming service (a nameko event
handler that applies each event once, recording its id in the same transaction). Beside it, in
the same run and the same arrangement, the baseline: raw kombu publishing the same messages,
persistent, to a durable queue, and a raw kombu consumer acking each one.

Prints events/s and end-to-end p50/p99 for --events events, the ratio to the baseline, and the
latency at a steady --rate events/s. Not a test: run it by hand.

    .venv/bin/python bench/bus.py [--events 20000] [--rate 1000] [--steady-seconds 10]
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kombu import Connection, Exchange, Queue  # noqa: E402
from sqlalchemy import Column, Float, MetaData, String, Table, insert  # noqa: E402

from shared.db import Database, make_cooperative  # noqa: E402
from shared.events.envelope import Envelope  # noqa: E402
from shared.events.tables import add_event_tables  # noqa: E402
from shared.events.topology import Subscription  # noqa: E402

metadata = MetaData()
add_event_tables(metadata)
applied = Table(
    "bench_applied",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("latency_ms", Float, nullable=False),
)
RECORD = insert(applied)
AMQP = os.environ.get("LOA_TEST_AMQP_URI", "amqp://guest:guest@localhost:5672/")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the consuming side (a process of its own) ------------------------------------------------
def consume_loa(sub_name: str, db_url: str, total: int, out: Path, noop: bool = False) -> None:
    from nameko.containers import ServiceContainer

    from shared.config import Settings
    from shared.runtime import resources
    from shared.runtime.config import nameko_config
    from shared.runtime.dependencies import DatabaseProvider
    from shared.runtime.events import event_handler

    sub = Subscription(sub_name, ("system.probe",))
    latencies: list[float] = []

    class BenchConsumer:
        name = "bench"
        db = DatabaseProvider("bench", metadata)

        @event_handler(sub)
        def on_probe(self, event: Envelope) -> None:
            if noop:  # the ceiling: nameko's own cost per message, no database
                latencies.append((time.time() - float(event.payload["sent_at"])) * 1000)
                return

            def effect(session: Any) -> None:
                ms = (time.time() - float(event.payload["sent_at"])) * 1000
                session.execute(RECORD, {"event_id": event.id, "latency_ms": ms})
                latencies.append(ms)

            self.db.apply_once(sub.name, event, effect)

    make_cooperative()
    settings = Settings(
        data_dir=out.parent, amqp_uri=AMQP, log_level="WARNING", database_url_template=db_url
    )
    db = Database("bench", db_url, metadata, pool_size=16)
    resources._databases[("bench", db_url)] = db
    container = ServiceContainer(BenchConsumer, nameko_config(settings))
    container.start()
    print("ready", flush=True)
    while len(latencies) < total:
        eventlet.sleep(0.005)
    out.write_text(json.dumps({"latencies": latencies, "done": time.time()}))
    container.stop()


def consume_raw(queue_name: str, total: int, out: Path, prefetch: int) -> None:
    latencies: list[float] = []
    with Connection(AMQP) as conn:
        queue = Queue(queue_name, durable=True)

        def on_message(body: Any, message: Any) -> None:
            latencies.append((time.time() - float(body["payload"]["sent_at"])) * 1000)
            message.ack()

        with conn.Consumer([queue], callbacks=[on_message], accept=["json"]) as consumer:
            consumer.qos(prefetch_count=prefetch)
            print("ready", flush=True)
            while len(latencies) < total:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=1)
    out.write_text(json.dumps({"latencies": latencies, "done": time.time()}))


def start_consumer(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        raise SystemExit(f"consumer did not start: {line}")
    return proc


def collect(proc: subprocess.Popen[str], out: Path) -> tuple[list[float], float]:
    proc.wait(timeout=600)
    data = json.loads(out.read_text())
    return data["latencies"], data["done"]


# --- the producing side ----------------------------------------------------------------------
def run_baseline(total: int, tmp: Path, prefetch: int) -> tuple[float, list[float]]:
    exchange = Exchange("bench.raw", type="topic", durable=True)
    queue = Queue(
        f"bench.raw.{uuid.uuid4().hex[:8]}", exchange, routing_key="system.probe", durable=True
    )
    with Connection(AMQP) as conn:
        queue(conn.default_channel).declare()
        out = tmp / "raw.json"
        proc = start_consumer(["--consume-raw", queue.name, str(total), str(out), str(prefetch)])
        bodies = [
            Envelope.new("system.probe", {"seq": i, "sent_at": 0.0}, producer="bench").model_dump(
                mode="json"
            )
            for i in range(total)
        ]
        producer = conn.Producer(serializer="json")
        started = time.time()
        for body in bodies:
            body["payload"]["sent_at"] = time.time()
            producer.publish(body, exchange=exchange, routing_key="system.probe", delivery_mode=2)
        latencies, done = collect(proc, out)
        queue(conn.default_channel).delete()
    return total / (done - started), latencies


def write_events(db: Database, first: int, count: int, per_tx: int) -> None:
    for start in range(first, first + count, per_tx):
        with db.session() as session:
            for seq in range(start, min(start + per_tx, first + count)):
                db.record_event(session, "system.probe", {"seq": seq, "sent_at": time.time()})


RELAY_SECONDS: list[float] = []


def producer_db_rows(db: Database) -> int:
    from sqlalchemy import func, select

    outbox = metadata.tables["outbox"]
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def run_loa(
    total: int, tmp: Path, per_tx: int, rate: int | None, noop: bool = False
) -> tuple[float, list[float]]:
    """Write events (in transactions of per_tx, or one per transaction at a steady rate) and
    let the relay publish them while the consumer process applies them."""
    from shared.events.publisher import ConfirmingPublisher
    from shared.events.relay import OutboxRelay

    sub = Subscription(f"bench.bus_{uuid.uuid4().hex[:8]}", ("system.probe",))
    producer_db = Database(
        "bench-producer", f"sqlite:///{tmp}/producer-{sub.name}.sqlite3", metadata, pool_size=4
    )
    metadata.create_all(producer_db.engine)
    consumer_url = f"sqlite:///{tmp}/consumer-{sub.name}.sqlite3"
    consumer_db = Database("bench", consumer_url, metadata, pool_size=2)
    metadata.create_all(consumer_db.engine)
    consumer_db.dispose()
    relay = OutboxRelay(
        producer_db,
        metadata,
        ConfirmingPublisher(AMQP, subscriptions=[sub]),
        batch=500,
        interval=0.01,
    )
    relay.publisher.connect()  # declares the subscription's queues before anything is published
    out = tmp / f"{sub.name}.json"
    flag = "--consume-noop" if noop else "--consume-loa"
    proc = start_consumer([flag, sub.name, consumer_url, str(total), str(out)])
    relay_thread = eventlet.spawn(relay.run)
    started = time.time()
    published_at: list[float] = []

    def watch_outbox() -> None:
        while relay.backlog() or producer_db_rows(producer_db) < total:
            eventlet.sleep(0.05)
        published_at.append(time.time())

    watcher = eventlet.spawn(watch_outbox)
    if rate is None:
        write_events(producer_db, 0, total, per_tx)
    else:
        for i in range(total):
            target = started + i / rate
            delay = target - time.time()
            if delay > 0:
                eventlet.sleep(delay)
            write_events(producer_db, i, 1, 1)
    latencies, done = collect(proc, out)
    watcher.wait()
    RELAY_SECONDS.append(published_at[0] - started)
    relay.stop()
    relay_thread.wait()
    with Connection(AMQP) as conn:
        for name in (sub.queue_name, *[sub.retry_queue_name(d) for d in sub.retry_delays_ms]):
            conn.default_channel.queue_delete(name)
    return total / (done - started), latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--steady-seconds", type=int, default=10)
    parser.add_argument(
        "--only-steady", action="store_true", help="only the steady-rate latency run"
    )
    parser.add_argument("--consume-loa", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--consume-raw", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--consume-noop", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume_loa:
        name, url, total, out = args.consume_loa
        consume_loa(name, url, int(total), Path(out))
        return
    if args.consume_noop:
        name, url, total, out = args.consume_noop
        consume_loa(name, url, int(total), Path(out), noop=True)
        return
    if args.consume_raw:
        name, total, out, prefetch = args.consume_raw
        consume_raw(name, int(total), Path(out), int(prefetch))
        return

    from shared.config import Settings

    prefetch = Settings.model_fields["event_prefetch"].default
    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-"))
    if args.only_steady:
        total = args.rate * args.steady_seconds
        rate, steady = run_loa(total, tmp, per_tx=1, rate=args.rate)
        print(
            f"  steady {args.rate} events/s for {args.steady_seconds}s (one event per "
            f"transaction): achieved {rate:.0f}/s  p50 {pct(steady, 0.5):.1f} ms  "
            f"p99 {pct(steady, 0.99):.1f} ms"
        )
        return
    base_rate, base_lat = run_baseline(args.events, tmp, prefetch)
    loa_rate, loa_lat = run_loa(args.events, tmp, per_tx=100, rate=None)
    noop_rate, noop_lat = run_loa(args.events, tmp, per_tx=100, rate=None, noop=True)
    steady_total = args.rate * args.steady_seconds
    steady_rate, steady = run_loa(steady_total, tmp, per_tx=1, rate=args.rate)

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"bus benchmark: {args.events} events, SQLite, RabbitMQ on localhost, {when}")
    print(
        f"  baseline raw kombu publish→consume (persistent, durable, acked): "
        f"{base_rate:7.0f} events/s  p50 {pct(base_lat, 0.5):7.1f} ms  "
        f"p99 {pct(base_lat, 0.99):7.1f} ms"
    )
    print(
        f"  loa outbox→relay(confirms)→RabbitMQ→idempotent consumer:        "
        f"{loa_rate:7.0f} events/s  p50 {pct(loa_lat, 0.5):7.1f} ms  "
        f"p99 {pct(loa_lat, 0.99):7.1f} ms"
    )
    print(
        f"  same pipeline, handler doing nothing (nameko's ceiling):      "
        f"{noop_rate:7.0f} events/s  p50 {pct(noop_lat, 0.5):7.1f} ms  "
        f"p99 {pct(noop_lat, 0.99):7.1f} ms"
    )
    print(
        f"  (the relay alone had published all {args.events} events "
        f"{RELAY_SECONDS[0]:.1f}s after the first write: {args.events / RELAY_SECONDS[0]:.0f}/s)"
    )
    print(f"  throughput ratio loa/raw: {loa_rate / base_rate:.2f}  (goal ≥ 0.50)")
    print(
        f"  steady {args.rate} events/s for {args.steady_seconds}s (one event per transaction): "
        f"achieved {steady_rate:.0f}/s  p50 {pct(steady, 0.5):.1f} ms  "
        f"p99 {pct(steady, 0.99):.1f} ms  (goal p99 < 50 ms)"
    )


if __name__ == "__main__":
    main()
