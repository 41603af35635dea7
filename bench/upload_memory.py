"""Peak memory of the gateway while it receives one large tus upload (a benchmark, not a test).

    .venv/bin/python bench/upload_memory.py [--gib 2] [--storage local,s3]

For each storage kind it starts `loa serve media` and `loa serve gateway` as two processes of
their own (own RabbitMQ vhost, own data folder, a fresh bucket on the S3 server of
.test-servers.env), then sends one upload of --gib GiB in a single tus PATCH whose body is made
by a generator as it is sent (nothing is read from disk, nothing is held by the client). While
the bytes flow it samples the gateway's resident memory (VmRSS); at the end it reads the
kernel's high-water mark of it (VmHWM in /proc/<pid>/status): the peak resident size the
gateway process ever had, start-up included. Goal: under 200 MB for a 2 GiB upload.

The bytes are not a video: once complete, media rejects them and removes them (that part is not
measured, it only keeps the disk clean).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VHOST = "loa-bench-upload-memory"
CHUNK = 1024 * 1024
MIB = 1024 * 1024


def env_file() -> dict[str, str]:
    values = {}
    path = REPO / ".test-servers.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export ") :].partition("=")
                values[key] = value
    return values


def private_vhost(found: dict[str, str]) -> str:
    from urllib.parse import urlsplit

    mgmt = os.environ.get("LOA_BENCH_RABBIT_MGMT") or found.get(
        "LOA_TEST_RABBIT_MGMT", "http://guest:guest@localhost:15672"
    )
    amqp = found.get("LOA_TEST_AMQP_URI", "amqp://guest:guest@localhost:5672/")
    parts = urlsplit(mgmt)
    auth = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> None:
        req = urllib.request.Request(
            f"{parts.scheme}://{parts.hostname}:{parts.port}{path}",
            method=method,
            data=json.dumps(body or {}).encode() if method == "PUT" else None,
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).read()

    with contextlib.suppress(Exception):
        call("DELETE", f"/api/vhosts/{VHOST}")
    call("PUT", f"/api/vhosts/{VHOST}")
    call("PUT", f"/api/permissions/{VHOST}/{parts.username}", {"configure": ".*", "write": ".*",
                                                              "read": ".*"})  # fmt: skip
    return amqp.rstrip("/") + "/" + VHOST


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """media and gateway, each in its own process, on one data folder and one vhost."""

    def __init__(self, storage: str, amqp: str, found: dict[str, str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"loa-upload-mem-{storage}-"))
        self.port = free_port()
        self.env = {
            **os.environ,
            "LOA_DATA_DIR": str(self.root / "data"),
            "LOA_AMQP_URI": amqp,
            "LOA_HTTP_HOST": "127.0.0.1",
            "LOA_HTTP_PORT": str(self.port),
            "LOA_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "LOA_SIGNING_KEY": "bench-upload-memory",
            "LOA_LOG_LEVEL": "WARNING",
            "LOA_LOG_FORMAT": "text",
            "LOA_MEDIA_PROFILES": "preview",
        }
        if storage == "s3":
            self.env.update(
                LOA_STORAGE_BACKEND="s3",
                LOA_S3_ENDPOINT=found.get("LOA_TEST_S3_ENDPOINT", "localhost:9000"),
                LOA_S3_ACCESS_KEY=found.get("LOA_TEST_S3_ACCESS_KEY", ""),
                LOA_S3_SECRET_KEY=found.get("LOA_TEST_S3_SECRET_KEY", ""),
                LOA_S3_BUCKET=f"loa-upload-mem-{secrets.token_hex(4)}",
            )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = self.root / "logs"
        self.logs.mkdir(parents=True)

    def start(self) -> None:
        for name in ("media", "gateway"):
            log = (self.logs / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [str(REPO / ".venv/bin/loa"), "serve", name],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited; see {self.logs / (name + '.log')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/livez", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the gateway did not answer within 90 s") from None
                time.sleep(0.3)

    def token(self) -> str:
        for key, value in self.env.items():
            if key.startswith("LOA_"):
                os.environ[key] = value
        import warnings

        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        from services.gateway.auth.testing import issue_token
        from shared.config import Settings

        return issue_token(Settings(), "editor")  # type: ignore[call-arg]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.env.get("LOA_STORAGE_BACKEND") == "s3":
            with contextlib.suppress(Exception):
                from shared.config import Settings
                from shared.storage.factory import make_object_store

                store = make_object_store(Settings())  # type: ignore[call-arg]
                for info in list(store.list()):
                    store.delete(info.key)
                store._client.remove_bucket(self.env["LOA_S3_BUCKET"])  # type: ignore[attr-defined]
        shutil.rmtree(self.root, ignore_errors=True)


def body(total: int) -> Any:
    """total bytes, made a MiB at a time as they are sent (distinct, so nothing dedups)."""
    block = bytearray(os.urandom(CHUNK))
    sent = 0
    n = 0
    while sent < total:
        block[:8] = n.to_bytes(8, "big")
        take = min(CHUNK, total - sent)
        yield bytes(block[:take])
        sent += take
        n += 1


def upload(port: int, token: str, total: int) -> tuple[float, str]:
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    meta = "filename " + base64.b64encode(b"big.mp4").decode()
    conn.request(
        "POST", "/api/media/uploads", headers={**auth, "Upload-Length": str(total),
                                                "Upload-Metadata": meta},
    )  # fmt: skip
    created = conn.getresponse()
    created.read()
    if created.status != 201:
        raise SystemExit(f"create: {created.status}")
    path = "/" + created.getheader("Location", "").split("/", 3)[3]
    started = time.monotonic()
    conn.putrequest("PATCH", path)
    for key, value in {
        **auth,
        "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0",
        "Content-Length": str(total),
    }.items():
        conn.putheader(key, value)
    conn.endheaders()
    for chunk in body(total):
        conn.send(chunk)
    answer = conn.getresponse()
    answer.read()
    elapsed = time.monotonic() - started
    if answer.status != 204 or answer.getheader("Upload-Offset") != str(total):
        raise SystemExit(f"patch: {answer.status} offset {answer.getheader('Upload-Offset')}")
    conn.close()
    return elapsed, path.rsplit("/", 1)[1]


def measure(storage: str, total: int, amqp: str, found: dict[str, str]) -> None:
    stack = Stack(storage, amqp, found)
    try:
        stack.start()
        token = stack.token()
        gateway = stack.procs["gateway"].pid
        media = stack.procs["media"].pid
        before = proc_status(gateway)
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                with contextlib.suppress(OSError):
                    samples.append(proc_status(gateway)["VmRSS"])
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        elapsed, upload_id = upload(stack.port, token, total)
        done.set()
        sampler.join()
        after = proc_status(gateway)
        media_after = proc_status(media)
        print(
            f"{storage}: {total / 1024**3:.2f} GiB in {elapsed:.1f}s ({total / MIB / elapsed:.0f} "
            f"MiB/s); gateway peak RSS (VmHWM) {after['VmHWM'] / MIB:.1f} MiB (goal < 200 MB); "
            f"RSS before the upload {before['VmRSS'] / MIB:.1f} MiB, highest sampled during it "
            f"{max(samples, default=0) / MIB:.1f} MiB; media process VmHWM "
            f"{media_after['VmHWM'] / MIB:.1f} MiB",
            flush=True,
        )
        # let media reject and remove the bytes before the stack goes
        deadline = time.monotonic() + 300
        req = urllib.request.Request(
            f"http://127.0.0.1:{stack.port}/api/media/uploads/{upload_id}/status",
            headers={"Authorization": f"Bearer {token}"},
        )
        waited = time.monotonic()
        state = "?"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    state = json.loads(r.read())["state"]
            except OSError:
                pass
            if state in ("rejected", "done", "duplicate"):
                break
            time.sleep(1)
        print(f"  (then media assembled, checked and {state} it in "
              f"{time.monotonic() - waited:.0f}s)", flush=True)  # fmt: skip
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=2.0, help="size of the upload in GiB")
    parser.add_argument("--storage", default="local,s3", help="local, s3 or both")
    args = parser.parse_args()
    total = int(args.gib * 1024**3)
    found = env_file()
    amqp = private_vhost(found)
    free = shutil.disk_usage(tempfile.gettempdir()).free
    print(f"upload of {total} bytes; {free / 1024**3:.0f} GiB free in {tempfile.gettempdir()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)  # fmt: skip
    for storage in args.storage.split(","):
        measure(storage.strip(), total, amqp, found)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
