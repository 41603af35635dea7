"""Benchmark of the publishing scheduler: N deliveries due within a window, sent to a local fake
channel by several worker processes (PostgreSQL, SELECT … FOR UPDATE SKIP LOCKED); one worker is
killed (SIGKILL) halfway. Prints lateness p50/p99, deliveries/s, duplicates at the channel, the
workers' CPU per delivery and the machine's load average (the numbers mean little without it).

    .venv/bin/python bench/schedule.py                 # 10,000 due within 60 s, 2 workers
    .venv/bin/python bench/schedule.py --count 1000 --window 10
    LOA_BENCH_DEBUG=1 .venv/bin/python bench/schedule.py   # per-worker ticks, lateness by tenth

Each worker runs the service's Dispatcher: one statement claims all that is due (up to the free
places of its green pool), sends run concurrently on the pool, successes are recorded in batches
(one statement each), renditions are made ahead of the due time. The workers are running (idle)
before the deliveries come due, as a deployed scheduler is.

The fake channel is a separate process that counts every send per idempotency key, so a delivery
sent twice shows up as a duplicate; the scheduler may only avoid that by asking it (find()) when a
killed worker's outcome is unknown. Its client keeps connections alive and answers in well under
a millisecond, so the scheduler is what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- the fake channel (its own process) -------------------------------------------------------
def run_fake_channel(port: int) -> None:
    """Answers at once, over kept-alive HTTP/1.1 connections, so the scheduler is measured."""
    import threading

    sent: dict[str, int] = {}
    lateness: list[float] = []
    first_last: list[float] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            now = time.time()
            with lock:
                sent[body["key"]] = sent.get(body["key"], 0) + 1
                if sent[body["key"]] == 1:
                    lateness.append(now - body["due"])
                    first_last.append(now)
            self._reply(200, {"id": body["key"]})

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/sent/"):
                key = self.path.rsplit("/", 1)[1]
                self._reply(200 if key in sent else 404, {"id": key} if key in sent else {})
            elif self.path == "/stats":
                self._reply(200, {
                    "received": len(sent),
                    "duplicates": sum(n - 1 for n in sent.values()),
                    "lateness": lateness,
                    "last": max(first_last) if first_last else None,
                })  # fmt: skip
            else:
                self._reply(404, {})

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a killed worker's connections are reset: expected here

    Server(("127.0.0.1", port), Handler).serve_forever()


# --- a worker (its own process) ---------------------------------------------------------------
def run_worker(db_url: str, channel_url: str, lease_s: float, concurrency: int) -> None:
    import eventlet

    eventlet.monkey_patch()
    import http.client
    from urllib.parse import urlsplit

    from eventlet.queue import LifoQueue

    from services.publishing.domain.dispatch import DispatchConfig, Dispatcher
    from services.publishing.models import metadata
    from services.publishing.transmitters.base import (
        Job,
        SendResult,
        Transmitter,
        UnknownOutcome,
    )
    from shared.db import Database, make_cooperative

    make_cooperative()
    where = urlsplit(channel_url)
    send_timeout = min(2.0, lease_s / 4)  # a send started within its lease ends within it

    class FakeChannel(Transmitter):
        """A thin client: kept-alive HTTP/1.1 connections, one per green thread at a time
        (opened only as concurrency needs them)."""

        channel = "portal"

        def __init__(self) -> None:
            self.idle: LifoQueue = LifoQueue()  # the warmest connection first
            for _ in range(concurrency):
                self.idle.put(None)

        def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
            conn = self.idle.get() or http.client.HTTPConnection(
                where.hostname or "127.0.0.1", where.port, timeout=send_timeout
            )
            try:
                headers = {"Content-Type": "application/json"} if body else {}
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.idle.put(conn)
                return resp.status, json.loads(data or b"{}")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self.idle.put(None)
                raise UnknownOutcome(f"fake channel: {exc}") from exc

        def send(self, job: Job) -> SendResult:
            body = json.dumps({"key": job.idempotency_key, "due": job.due_at.timestamp()})
            status, data = self._request("POST", "/send", body.encode())
            if status != 200:
                raise UnknownOutcome(f"fake channel answered {status}")
            return SendResult(remote_id=data["id"])

        def find(self, job: Job) -> SendResult | None:
            status, _ = self._request("GET", f"/sent/{job.idempotency_key}")
            return SendResult(remote_id=job.idempotency_key) if status == 200 else None

    fake = FakeChannel()
    db = Database("publishing", db_url, metadata, pool_size=8)
    dispatcher = Dispatcher(
        db, lambda _c: fake, DispatchConfig(lease_s=lease_s, batch=concurrency * 2),
        sleep=eventlet.sleep,
    )  # fmt: skip
    pool = eventlet.GreenPool(concurrency)
    debug = bool(os.environ.get("LOA_BENCH_DEBUG"))
    ticks, claimed, busy, last = 0, 0, 0.0, time.monotonic()
    while True:
        t0 = time.monotonic()
        n = dispatcher.feed(pool)
        ticks, claimed, busy = ticks + 1, claimed + n, busy + time.monotonic() - t0
        if debug and time.monotonic() - last >= 1:
            print(f"[{os.getpid()}] ticks {ticks} claimed {claimed} feed {busy:.2f}s "
                  f"free {pool.free()}", file=sys.stderr)  # fmt: skip
            ticks, claimed, busy, last = 0, 0, 0.0, time.monotonic()
        eventlet.sleep(dispatcher.pause(n, pool.free()))


# --- the conductor ----------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds the due times span")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=100, help="sends in flight per worker")
    parser.add_argument("--lease", type=float, default=8.0, help="claim lease, seconds")
    parser.add_argument("--no-kill", action="store_true", help="do not kill a worker halfway")
    parser.add_argument("--pg", default=None, help="admin PostgreSQL URL (default from env)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--fake-channel", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_channel:
        return run_fake_channel(args.fake_channel)
    if args.worker:
        return run_worker(args.worker[0], args.worker[1], args.lease, args.concurrency)

    from sqlalchemy import create_engine, insert, text

    from services.publishing.models import deliveries, items
    from shared.migrations import upgrade

    admin_url = args.pg or _pg_from_env()
    name = f"loa_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade("publishing", url)
        engine = create_engine(url)
        port = free_port()
        channel_url = f"http://127.0.0.1:{port}"
        procs.append(subprocess.Popen([sys.executable, __file__, "--fake-channel", str(port)]))
        # The workers start first and idle, as a running scheduler would when work comes due.
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    url,
                    channel_url,
                    "--lease",
                    str(args.lease),
                    "--concurrency",
                    str(args.concurrency),
                ],
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            for _ in range(args.workers)
        ]
        procs.extend(workers)
        time.sleep(3)
        start = datetime.now(UTC) + timedelta(seconds=5)
        now = datetime.now(UTC)
        item_ids = [str(uuid.uuid4()) for _ in range(100)]
        with engine.begin() as conn:
            conn.execute(insert(items), [
                {"id": i, "kind": "article", "status": "scheduled", "title": f"Tin {n}",
                 "summary": "", "body_html": "<p>Nội dung</p>", "body_text": "Nội dung",
                 "tags": [], "topics": [], "images": [], "variants": {}, "version": 1,
                 "created_by": "bench", "created_at": now, "updated_at": now}
                for n, i in enumerate(item_ids)
            ])  # fmt: skip
            rows = []
            for n in range(args.count):
                due = start + timedelta(seconds=args.window * n / args.count)
                did = str(uuid.uuid4())
                rows.append({
                    "id": did, "item_id": item_ids[n % len(item_ids)], "channel": "portal",
                    "status": "scheduled", "due_at": due, "local_time": "", "tz": "UTC",
                    "next_attempt_at": due, "attempts": 0, "idempotency_key": f"loa-{did}",
                    "options": {}, "progress": {}, "created_at": now,
                })  # fmt: skip
            for i in range(0, len(rows), 2000):
                conn.execute(insert(deliveries), rows[i : i + 2000])
        import requests

        killed = args.no_kill or args.workers < 2
        killed_cpu = 0.0
        deadline = time.time() + args.window + 120
        stats: dict[str, Any] = {}
        load_start = os.getloadavg()
        loads: list[float] = []
        while time.time() < deadline:
            time.sleep(0.25)
            loads.append(os.getloadavg()[0])
            try:
                stats = requests.get(f"{channel_url}/stats", timeout=5).json()
            except requests.RequestException:
                continue
            if not killed and stats["received"] >= args.count // 2:
                killed_cpu = _cpu_seconds(workers[0].pid)
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                killed = True
                print(f"killed worker pid {workers[0].pid} after {stats['received']} deliveries")
            if stats["received"] >= args.count:
                break
        time.sleep(args.lease + 1)  # let any recovery of the killed worker's claims finish
        worker_cpu = killed_cpu + sum(_cpu_seconds(w.pid) for w in workers if w.poll() is None)
        channel_cpu = _cpu_seconds(procs[0].pid)
        stats = requests.get(f"{channel_url}/stats", timeout=5).json()
        with engine.connect() as conn:
            succeeded = conn.execute(
                text("SELECT count(*) FROM deliveries WHERE status = 'succeeded'")
            ).scalar_one()
        late = sorted(stats["lateness"])
        if os.environ.get("LOA_BENCH_DEBUG"):
            arrival = stats["lateness"]  # in arrival order: where in the run was it late?
            for part in range(10):
                cut = sorted(arrival[part * len(arrival) // 10 : (part + 1) * len(arrival) // 10])
                if cut:
                    print(f"  tenth {part + 1}: p50 {cut[len(cut) // 2] * 1000:.0f} ms, "
                          f"p99 {cut[int(len(cut) * 0.99)] * 1000:.0f} ms")  # fmt: skip

        def pct(p: float) -> float:
            return late[min(len(late) - 1, int(p * len(late)))] if late else float("nan")

        span = (stats["last"] or 0) - start.timestamp()
        print(
            f"deliveries: {args.count} due within {args.window:g}s, workers: {args.workers}"
            f"{' (one killed halfway)' if not args.no_kill and args.workers > 1 else ''}"
        )
        print(f"received by the channel: {stats['received']}, recorded succeeded: {succeeded}")
        print(
            f"lateness p50: {pct(0.50) * 1000:.0f} ms, p99: {pct(0.99) * 1000:.0f} ms, "
            f"max: {(late[-1] if late else 0) * 1000:.0f} ms"
        )
        print(
            f"throughput: {stats['received'] / max(span, 1e-9):.0f} deliveries/s over "
            f"{span:.1f}s (due rate {args.count / args.window:.0f}/s)"
        )
        print(f"duplicates: {stats['duplicates']}")
        print(
            f"CPU: workers {worker_cpu:.1f}s ({worker_cpu / args.count * 1000:.2f} ms/delivery), "
            f"fake channel {channel_cpu:.1f}s"
        )
        end_load = os.getloadavg()
        print(
            f"load average (1/5/15 min) at start: {' '.join(f'{x:.2f}' for x in load_start)}; "
            f"1-min during the run: max {max(loads, default=0):.2f}; at end: "
            f"{' '.join(f'{x:.2f}' for x in end_load)} ({os.cpu_count()} cores)"
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pg_from_env() -> str:
    url = os.environ.get("LOA_TEST_POSTGRES_URL")
    env_file = ROOT / ".test-servers.env"
    if not url and env_file.exists():
        for line in env_file.read_text().splitlines():
            if line.startswith("export LOA_TEST_POSTGRES_URL="):
                url = line.split("=", 1)[1].strip()
    if not url:
        raise SystemExit("set --pg or LOA_TEST_POSTGRES_URL (scripts/test-servers.sh start)")
    return url


if __name__ == "__main__":
    main()
