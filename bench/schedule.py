"""Benchmark of the publishing scheduler: N deliveries due within a window, sent to a local fake
channel by several worker processes (PostgreSQL, SELECT … FOR UPDATE SKIP LOCKED); one worker is
killed (SIGKILL) halfway. Prints lateness p50/p99, deliveries/s, and duplicates at the channel.

    .venv/bin/python bench/schedule.py                 # 10,000 due within 60 s, 2 workers
    .venv/bin/python bench/schedule.py --count 1000 --window 10

The fake channel is a separate process that counts every send per idempotency key, so a delivery
sent twice shows up as a duplicate; the scheduler may only avoid that by asking it (find()) when a
killed worker's outcome is unknown.
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
    sent: dict[str, int] = {}
    lateness: list[float] = []
    first_last: list[float] = []

    class Handler(BaseHTTPRequestHandler):
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

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


# --- a worker (its own process) ---------------------------------------------------------------
def run_worker(db_url: str, channel_url: str, lease_s: float, concurrency: int) -> None:
    import eventlet

    eventlet.monkey_patch()
    import requests

    from services.publishing.domain.dispatch import DispatchConfig, Dispatcher
    from services.publishing.models import metadata
    from services.publishing.transmitters.base import Job, SendResult, Transmitter
    from shared.db import Database, make_cooperative

    make_cooperative()

    class FakeChannel(Transmitter):
        channel = "portal"

        def __init__(self) -> None:
            self.http = requests.Session()

        def send(self, job: Job) -> SendResult:
            r = self.http.post(f"{channel_url}/send", json={
                "key": job.idempotency_key, "due": job.due_at.timestamp()}, timeout=10)  # fmt: skip
            r.raise_for_status()
            return SendResult(remote_id=r.json()["id"])

        def find(self, job: Job) -> SendResult | None:
            r = self.http.get(f"{channel_url}/sent/{job.idempotency_key}", timeout=10)
            return SendResult(remote_id=job.idempotency_key) if r.status_code == 200 else None

    fake = FakeChannel()
    db = Database("publishing", db_url, metadata, pool_size=concurrency + 4)
    dispatcher = Dispatcher(
        db, lambda _c: fake, DispatchConfig(lease_s=lease_s, batch=concurrency * 2),
        sleep=eventlet.sleep,
    )  # fmt: skip
    pool = eventlet.GreenPool(concurrency)
    while True:
        if dispatcher.feed(pool) == 0:
            eventlet.sleep(0.02)


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
    parser.add_argument("--concurrency", type=int, default=20, help="sends in flight per worker")
    parser.add_argument("--lease", type=float, default=3.0, help="claim lease, seconds")
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
        import requests

        killed = args.no_kill or args.workers < 2
        deadline = time.time() + args.window + 120
        stats: dict[str, Any] = {}
        while time.time() < deadline:
            time.sleep(0.25)
            try:
                stats = requests.get(f"{channel_url}/stats", timeout=5).json()
            except requests.RequestException:
                continue
            if not killed and stats["received"] >= args.count // 2:
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                killed = True
                print(f"killed worker pid {workers[0].pid} after {stats['received']} deliveries")
            if stats["received"] >= args.count:
                break
        time.sleep(args.lease + 1)  # let any recovery of the killed worker's claims finish
        stats = requests.get(f"{channel_url}/stats", timeout=5).json()
        with engine.connect() as conn:
            succeeded = conn.execute(
                text("SELECT count(*) FROM deliveries WHERE status = 'succeeded'")
            ).scalar_one()
        late = sorted(stats["lateness"])

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
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
