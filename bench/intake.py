"""Portal intake benchmark: accepted submissions/s, p50/p99 latency, and lost submissions across
a RabbitMQ restart in the middle of the run.

Starts the real gateway and feedback services (`loa serve feedback` and `loa serve gateway`, one
process each as on Kubernetes, or both in one with --arrangement one; SQLite, its own RabbitMQ
vhost), drives POST /api/feedback/tickets over loopback with keep-alive connections for N
seconds, stops and restarts the broker's app half-way (`rabbitmqctl stop_app` / `start_app`; the
outage is kept short because the broker is shared), then checks that every submission that was
answered 201 with a tracking code is in the database and that its feedback.ticket_received event
reached the bus, and that the services are still up.

Because the machine may be shared, it also prints the CPU each process used per accepted request
(the number to compare between changes), how long their main threads waited for a CPU, the
broker's CPU, the load generator's own CPU (it shares the cores: a bare asyncio protocol per
connection keeps it small), the sum of all of them per accepted request, and the load average
before and after. The gateway sends portal submissions to feedback in batches (group commit);
"feedback batches" shows how many transactions stored the tickets.

    .venv/bin/python bench/intake.py --seconds 60 --connections 32
    .venv/bin/python bench/intake.py --seconds 20 --no-restart
    .venv/bin/python bench/intake.py --seconds 15 --no-restart --profile /tmp/intake  # py-spy
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
VHOST = "loa-bench"


def env_file() -> dict[str, str]:
    out: dict[str, str] = {}
    path = ROOT / ".test-servers.env"
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip().removeprefix("export ")
            if "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                out[k] = v.strip("'\"")
    return out


def mgmt(method: str, path: str, base: str) -> Any:
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    req = urllib.request.Request(
        f"{parts.scheme}://{parts.hostname}:{parts.port}{path}", method=method
    )
    import base64

    auth = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    req.add_header("Authorization", f"Basic {auth}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data=b"{}" if method == "PUT" else None, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BODY = json.dumps(
    {
        "category": "thu_tuc",
        "description": "Xin hỏi thủ tục cấp giấy phép xây dựng nhà ở riêng lẻ cần giấy tờ gì?",
        "contact": {"name": "Nguyễn Văn An", "phone": "0912345678"},
        "is_public": True,
    },
    ensure_ascii=False,
).encode()


class Poster(asyncio.Protocol):
    """One keep-alive connection posting submissions back to back.

    A bare protocol (no streams, no JSON parsing of the answer: the code is cut out of the
    bytes) so that the load generator's own CPU per request stays small next to the services'.
    """

    def __init__(
        self,
        head: bytes,
        stop_at: float,
        results: list[tuple[float, float, int, str]],
        done: asyncio.Future[None],
    ) -> None:
        self.request = head + BODY
        self.stop_at = stop_at
        self.results = results
        self.done = done
        self.buf = b""
        self.started = 0.0
        self.waiting = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.monotonic() >= self.stop_at:
            self.transport.close()
            return
        self.started = time.monotonic()
        self.waiting = True
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            status = int(head[9:12])
            self.waiting = False
            code = ""
            if status == 201:
                at = body.find(b'"code":"')
                code = body[at + 8 : body.find(b'"', at + 8)].decode() if at >= 0 else ""
            self.results.append((self.started, time.monotonic() - self.started, status, code))
            if b"connection: close" in head:
                assert self.transport is not None
                self.transport.close()
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:
            self.results.append((self.started, time.monotonic() - self.started, 0, ""))
        if not self.done.done():
            self.done.set_result(None)


async def worker(port: int, stop_at: float, results: list[tuple[float, float, int, str]]) -> None:
    """Keep one connection busy until stop_at, reconnecting when the server closes it."""
    head = (
        f"POST /api/feedback/tickets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    while time.monotonic() < stop_at:
        done: asyncio.Future[None] = loop.create_future()
        try:
            transport, _ = await loop.create_connection(
                functools.partial(Poster, head, stop_at, results, done), "127.0.0.1", port
            )
        except OSError:
            results.append((time.monotonic(), 0.0, 0, ""))
            await asyncio.sleep(0.05)
            continue
        try:
            await asyncio.wait_for(done, max(0.1, stop_at - time.monotonic() + 30))
        except TimeoutError:
            transport.abort()
            results.append((time.monotonic(), 30.0, 0, ""))


async def restart_broker(at: float, outage_s: float, log: list[str]) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "stop_app", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    await proc.wait()
    BROKER["stopped"] = t0
    log.append(f"broker app stopped at +{t0 - START:.1f}s")
    await asyncio.sleep(outage_s)
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "start_app", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    await proc.wait()
    BROKER["started"] = time.monotonic()
    log.append(
        f"broker app started at +{time.monotonic() - START:.1f}s "
        f"(outage {time.monotonic() - t0:.1f}s)"
    )


START = 0.0
BROKER: dict[str, float] = {}  # monotonic times the broker app was stopped and started again


async def run_load(
    port: int, seconds: float, connections: int, restart: bool, outage_s: float
) -> tuple[list[tuple[float, float, int, str]], list[str]]:
    global START
    START = time.monotonic()
    stop_at = START + seconds
    results: list[tuple[float, float, int, str]] = []
    log: list[str] = []
    tasks = [worker(port, stop_at, results) for _ in range(connections)]
    if restart:
        tasks.append(restart_broker(START + seconds / 2, outage_s, log))
    await asyncio.gather(*tasks)
    return results, log


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sched_seconds(pid: int) -> tuple[float, float]:
    """(on CPU, runnable but waiting for a CPU) of a process's main thread, in seconds."""
    try:
        run_ns, wait_ns, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return float("nan"), float("nan")
    return int(run_ns) / 1e9, int(wait_ns) / 1e9


def broker_process() -> int | None:
    """The local RabbitMQ node's Erlang VM, if it runs on this machine."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "beam.smp":
                    return int(entry.name)
            except OSError:
                continue
    return None


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def wait_ready(port: int, procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"the services exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/feedback/categories", timeout=2
            ) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the services did not become ready")


def count_received_events(amqp: str) -> set[str]:
    from kombu import Connection

    ids: set[str] = set()
    with Connection(amqp) as conn:
        q = conn.SimpleQueue("bench.received", no_ack=True)
        try:
            while True:
                msg = q.get(timeout=1)
                ids.add(json.loads(msg.body)["payload"]["ticket_id"])
        except q.Empty:
            pass
        q.close()
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--outage", type=float, default=3.0, help="seconds the broker app is down")
    ap.add_argument("--no-restart", action="store_true")
    ap.add_argument(
        "--arrangement",
        choices=["split", "one"],
        default="split",
        help="split: gateway and feedback processes (default); one: both in one process",
    )
    ap.add_argument(
        "--profile",
        metavar="FILE",
        help="run the services under py-spy; collapsed stacks go to FILE.<services>",
    )
    ap.add_argument(
        "--dump", metavar="FILE", help="write every request (start s, latency ms, status) as TSV"
    )
    args = ap.parse_args()

    if args.profile and not (ROOT / ".venv/bin/py-spy").exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    env_vals = env_file()
    mgmt_url = env_vals.get("LOA_TEST_RABBIT_MGMT", "http://guest:guest@localhost:15672")
    amqp_base = env_vals.get("LOA_TEST_AMQP_URI", "amqp://guest:guest@localhost:5672/")
    with contextlib.suppress(Exception):  # absent is fine
        mgmt("DELETE", f"/api/vhosts/{VHOST}", mgmt_url)
    mgmt("PUT", f"/api/vhosts/{VHOST}", mgmt_url)
    req_body = json.dumps({"configure": ".*", "write": ".*", "read": ".*"}).encode()
    from urllib.parse import urlsplit

    parts = urlsplit(mgmt_url)
    import base64

    perm = urllib.request.Request(
        f"{parts.scheme}://{parts.hostname}:{parts.port}/api/permissions/{VHOST}/{parts.username}",
        data=req_body,
        method="PUT",
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic "
            + base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode(),
        },
    )
    urllib.request.urlopen(perm, timeout=10).read()
    amqp = amqp_base.rstrip("/") + "/" + VHOST

    tmp = Path(tempfile.mkdtemp(prefix="loa-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "LOA_DATA_DIR": str(tmp),
        "LOA_AMQP_URI": amqp,
        "LOA_HTTP_HOST": "127.0.0.1",
        "LOA_HTTP_PORT": str(port),
        "LOA_HEALTH_PORT": "0",
        "LOA_FEEDBACK_PII_KEY": Fernet.generate_key().decode(),
        "LOA_SIGNING_KEY": "bench",
        "LOA_FEEDBACK_PORTAL_RATE": "100000000/1",
        "LOA_LOG_LEVEL": "WARNING",
        "LOA_MAX_WORKERS": str(max(10, args.connections + 4)),
    }
    log_file = open(tmp / "services.log", "wb")  # noqa: SIM115 - closed at the end
    # "split": gateway and feedback in their own processes (one core each, as on Kubernetes);
    # "one": both in one process (the embedded start), which one core bounds.
    groups = (
        [["feedback"], ["gateway"]] if args.arrangement == "split" else [["feedback", "gateway"]]
    )
    procs: list[subprocess.Popen[bytes]] = []
    for group in groups:
        command = [str(ROOT / ".venv/bin/loa"), "serve", *group]
        if args.profile:
            # py-spy samples whichever green thread runs (in-process profilers lose them).
            command = [
                str(ROOT / ".venv/bin/py-spy"),
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "-o",
                str(Path(f"{args.profile}.{'-'.join(group)}").resolve()),
                "--",
                *command,
            ]
        procs.append(
            subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)
        )
    try:
        wait_ready(port, procs)
        from kombu import Connection, Exchange, Queue

        with Connection(amqp) as conn:
            Queue(
                "bench.received",
                Exchange("loa.events", type="topic", durable=True),
                routing_key="feedback.ticket_received",
                durable=True,
            )(conn.channel()).declare()
        restart = not args.no_restart
        load_before = os.getloadavg()
        broker_pid = broker_process()
        broker_before = cpu_seconds(broker_pid) if broker_pid else float("nan")
        cpu_before = [cpu_seconds(p.pid) for p in procs]
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        sched_before = [sched_seconds(p.pid) for p in procs]
        results, log = asyncio.run(
            run_load(port, args.seconds, args.connections, restart, args.outage)
        )
        cpu_used = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu_before, strict=True)]
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        loadgen_used = (self_after.ru_utime - self_before.ru_utime) + (
            self_after.ru_stime - self_before.ru_stime
        )
        load_after = os.getloadavg()
        sched_after = [sched_seconds(p.pid) for p in procs]
        alive = [p.poll() is None for p in procs]
        broker_used = cpu_seconds(broker_pid) - broker_before if broker_pid else float("nan")
        if args.dump:
            with open(args.dump, "w") as out:
                for r in sorted(results):
                    out.write(f"{r[0] - START:.4f}\t{r[1] * 1000:.1f}\t{r[2]}\n")
        accepted = [r for r in results if r[2] == 201]
        codes = {r[3] for r in accepted}
        refused = [r for r in results if r[2] not in (201, 0)]
        failed = [r for r in results if r[2] == 0]
        lat = [r[1] for r in accepted]
        first_failure = min(
            (r[0] for r in results if r[2] != 201 and r[0] > START + 1), default=None
        )
        outage_from = BROKER.get("stopped", first_failure)
        steady = [r[1] for r in accepted if outage_from is None or r[0] < outage_from]

        # Every accepted submission stored, and its event on the bus once the relay caught up.
        db = sqlite3.connect(tmp / "feedback.sqlite3")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            if pending.fetchone()[0] == 0:
                break
            time.sleep(0.5)
        stored = {r[0] for r in db.execute("SELECT code FROM tickets")}
        unpublished = db.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        ).fetchone()[0]
        id_by_code = dict(db.execute("SELECT code, id FROM tickets").fetchall())
        # A batch's tickets share their created_at (one transaction, one clock reading).
        batches = db.execute("SELECT count(DISTINCT created_at) FROM tickets").fetchone()[0]
        db.close()
        events = count_received_events(amqp)
        lost = codes - stored
        lost_events = {id_by_code[c] for c in codes & stored} - events
        by_status: dict[int, int] = {}
        for r in results:
            by_status[r[2]] = by_status.get(r[2], 0) + 1

        print(
            f"duration            {args.seconds:.0f} s, {args.connections} connections, "
            f"{os.cpu_count()} cores, arrangement {args.arrangement}"
        )
        for line in log:
            print(f"event               {line}")
        print(f"accepted            {len(accepted)} ({len(accepted) / args.seconds:.0f} req/s)")
        print(
            f"refused (503/…)     {len(refused)}  transport errors {len(failed)}  "
            f"statuses {dict(sorted(by_status.items()))}"
        )
        print(
            f"latency accepted    p50 {pct(lat, 50):.1f} ms  p99 {pct(lat, 99):.1f} ms  "
            f"max {max(lat) * 1000 if lat else 0:.0f} ms"
        )
        if outage_from is not None:
            before = [r for r in accepted if r[0] < outage_from]
            print(
                f"accepted before outage {len(before)} "
                f"({len(before) / max(outage_from - START, 1e-9):.0f} req/s over "
                f"{outage_from - START:.0f} s)"
            )
        print(f"latency before outage p50 {pct(steady, 50):.1f} ms  p99 {pct(steady, 99):.1f} ms")
        if restart:
            # Submissions sent after the broker was back (fall back: a second after the outage).
            since = BROKER.get("started", (outage_from or START) + 1)
            back = [r for r in accepted if r[0] > since]
            came_back = "the service came back" if back else "NOTHING: the service did not recover"
            print(f"accepted after the broker came back {len(back)} ({came_back})")
        print(
            "services alive      "
            + "  ".join(
                f"{'+'.join(g)} {'yes' if a else 'NO (exited)'}"
                for g, a in zip(groups, alive, strict=True)
            )
        )
        if batches:
            print(
                f"feedback batches    {batches} transactions for {len(stored)} tickets "
                f"(mean {len(stored) / batches:.1f} per batch)"
            )
        print(f"lost submissions    {len(lost)} (accepted with a code but not stored)")
        print(
            f"lost events         {len(lost_events)} (stored but no ticket_received on the bus)"
            f"; outbox unpublished {unpublished}"
        )
        if len(accepted) and lat:
            print(f"mean latency        {statistics.fmean(lat) * 1000:.1f} ms")
        if accepted and not args.profile:
            per = "  ".join(
                f"{'+'.join(g)} {c / len(accepted) * 1000:.2f} ms "
                f"({c / args.seconds:.0%} of a core)"
                for g, c in zip(groups, cpu_used, strict=True)
            )
            print(f"CPU per accepted    {per}")
            waits = "  ".join(
                f"{'+'.join(g)} ran {(a[0] - b[0]) / args.seconds:.0%}, waited for a CPU "
                f"{(a[1] - b[1]) / args.seconds:.0%}"
                for g, b, a in zip(groups, sched_before, sched_after, strict=True)
            )
            print(f"main threads        {waits} (of the run's wall time)")
            print(
                f"load generator CPU  {loadgen_used / len(accepted) * 1000:.2f} ms per accepted "
                f"({loadgen_used / args.seconds:.0%} of a core; this process)"
            )
            total = sum(cpu_used) + loadgen_used + (broker_used if broker_pid else 0.0)
            print(
                f"CPU per accepted, all  {total / len(accepted) * 1000:.2f} ms "
                f"(services + broker + load generator) → at most "
                f"{(os.cpu_count() or 1) / (total / len(accepted)):.0f} req/s on "
                f"{os.cpu_count()} cores"
            )
            print(
                f"broker CPU          {broker_used / len(accepted) * 1000:.2f} ms per accepted "
                f"({broker_used / args.seconds:.0%} of a core; the broker serves every vhost)"
            )
        print(
            "load average        before "
            + " ".join(f"{x:.2f}" for x in load_before)
            + "  after "
            + " ".join(f"{x:.2f}" for x in load_after)
            + f"  (machine shared; {os.cpu_count()} cores)"
        )
    finally:
        for proc in procs:
            if args.profile:
                proc.send_signal(signal.SIGINT)  # py-spy writes its report when the program ends
            else:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        log_file.close()
        with contextlib.suppress(Exception):
            mgmt("DELETE", f"/api/vhosts/{VHOST}", mgmt_url)
        print(f"services log        {tmp / 'services.log'}")


if __name__ == "__main__":
    main()
