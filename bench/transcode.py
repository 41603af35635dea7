"""Benchmark of the media pipeline (not a test). Needs RabbitMQ (LOA_AMQP_URI) and ffmpeg.

    .venv/bin/python bench/transcode.py [--seconds 60] [--clips-seconds 10]

(the whole run at the defaults takes about 15 minutes on 2 busy cores; --seconds 30
--clips-seconds 5 about 10)

1. web profile through loa (upload → queue → worker → published) against the same ffmpeg
   command run directly, same machine, same run: both times and the ratio (goal ≤ 1.05);
2. time to the preview rendition after the upload (goal < 0.3x the clip's duration);
3. 4 clips, web profile, 2 media workers against 1 (goal ≥ 1.8x). Each job is bounded to one
   thread (decoder, filters and encoders: LOA_MEDIA_FFMPEG_THREADS=1), so 1 worker uses one
   core and 2 workers two: what is measured is how well loa's queue spreads jobs over workers,
   on a machine with at least 2 cores.

Runs in its own RabbitMQ vhost (made through the management API of .test-servers.env or
LOA_BENCH_RABBIT_MGMT), so no other loa on the same broker takes its jobs.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from datetime import UTC  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from nameko.containers import ServiceContainer  # noqa: E402
from nameko.standalone.rpc import ServiceRpcProxy  # noqa: E402

from services.media.config import MEDIA_SETTINGS_KEY, MediaSettings  # noqa: E402
from services.media.domain import profiles  # noqa: E402
from services.media.models import jobs  # noqa: E402
from services.media.pipeline import Pipeline  # noqa: E402
from services.media.service import MediaService  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.runtime.config import nameko_config  # noqa: E402
from shared.runtime.resources import database_for, forget_databases  # noqa: E402
from shared.storage.factory import make_object_store  # noqa: E402

VHOST = "loa-bench-transcode"
REPO = Path(__file__).resolve().parent.parent


def env_file() -> dict[str, str]:
    values = {}
    path = REPO / ".test-servers.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export ") :].partition("=")
                values[key] = value
    return values


def private_vhost() -> str:
    """A fresh vhost of its own: an AMQP URI no other running loa listens on."""
    from urllib.parse import urlsplit

    found = env_file()
    mgmt = os.environ.get("LOA_BENCH_RABBIT_MGMT") or found.get(
        "LOA_TEST_RABBIT_MGMT", "http://guest:guest@localhost:15672"
    )
    amqp = os.environ.get("LOA_AMQP_URI") or found.get(
        "LOA_TEST_AMQP_URI", "amqp://guest:guest@localhost:5672/"
    )
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
    perms = {"configure": ".*", "write": ".*", "read": ".*"}
    call("PUT", f"/api/permissions/{VHOST}/{parts.username}", perms)
    return amqp.rstrip("/") + "/" + VHOST


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the media containers run here, so
    their ffmpeg processes are its children)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_clip(path: Path, seconds: int, tone_hz: int = 440) -> None:
    """1080p25 test pattern with a tone; a different tone makes different bytes (no dedup) for
    the same work."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=s=1920x1080:r=25:d={seconds}", "-f", "lavfi", "-i",
         f"sine=f={tone_hz}:r=48000:d={seconds}", "-c:v", "libx264", "-preset", "veryfast",
         "-b:v", "8M", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


class Loa:
    """A fresh loa media deployment (own data folder, own vhost): one media process running
    `workers` jobs at once (LOA_MEDIA_WORKERS), in this process.

    One process, not one per worker: on SQLite every process runs an outbox relay over the same
    file, and two relays publish the same rows (at-least-once, by design; PostgreSQL's SKIP
    LOCKED keeps replicas apart), which would make some jobs run twice and skew the figure."""

    def __init__(
        self, root: Path, amqp: str, workers: int, threads: int, profile_names: str
    ) -> None:
        self.settings = Settings(
            data_dir=root, amqp_uri=amqp, log_level="WARNING", signing_key="bench",
            rpc_signing_key="bench",
        )  # type: ignore[call-arg]
        root.mkdir(parents=True, exist_ok=True)
        upgrade("media", self.settings.database_url("media"))
        self.media = MediaSettings(
            ffmpeg_threads=threads,
            workers=workers,
            profiles=profile_names,
            scratch_dir=root / "scratch",
        )
        self.config = nameko_config(self.settings)
        self.config[MEDIA_SETTINGS_KEY] = self.media
        self.containers = [ServiceContainer(MediaService, dict(self.config))]
        for c in self.containers:
            c.start()
        self.store = make_object_store(self.settings)
        from services.media.models import metadata

        self.db = database_for(self.settings, "media", metadata)

    def upload(self, clip: Path) -> str:
        from services.gateway.auth.testing import signed_rpc

        bench = {"sub": "bench", "role": "editor"}  # media takes only signed actors
        with signed_rpc("media", self.settings) as media:
            size = clip.stat().st_size
            up = media.upload_create(size, {"filename": clip.name}, True, actor=bench)
            with clip.open("rb") as f:
                self.store.put(up["storage_key"], f, size=size)
            media.upload_stored(up["id"], actor=bench)
        return str(up["id"])

    def wait_asset(self, upload_id: str) -> str:
        with ServiceRpcProxy("media", self.config) as media:
            while True:
                up = media.upload_get(upload_id)
                if up["asset_id"]:
                    return str(up["asset_id"])
                if up["state"] == "rejected":
                    raise SystemExit(up["reason"])
                eventlet.sleep(0.05)

    def wait_job(self, asset_id: str, profile: str) -> Any:
        from sqlalchemy import select

        while True:
            with self.db.engine.connect() as conn:
                row = conn.execute(
                    select(jobs).where(jobs.c.asset_id == asset_id, jobs.c.profile == profile)
                ).first()
            if row is not None and row.state in ("done", "failed"):
                if row.state == "failed":
                    raise SystemExit(row.reason)
                return row
            eventlet.sleep(0.05)

    def stop(self) -> None:
        for c in self.containers:
            c.stop()
        forget_databases()


def seconds_between(a: Any, b: Any) -> float:
    a = a.replace(tzinfo=UTC) if a.tzinfo is None else a
    b = b.replace(tzinfo=UTC) if b.tzinfo is None else b
    return float((b - a).total_seconds())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60, help="length of the main clip")
    parser.add_argument("--clips-seconds", type=int, default=10, help="length of the 4 clips")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--only-workers", action="store_true", help="only the 1 vs 2 workers part (3)"
    )
    args = parser.parse_args()
    amqp = private_vhost()
    work = Path(tempfile.mkdtemp(prefix="loa-bench-"))
    if not args.only_workers:
        clip = work / "main.mp4"
        make_clip(clip, args.seconds)
        print(f"clip: {args.seconds}s 1920x1080 25p, {os.cpu_count()} cores, threads "
              f"{args.threads}; {load()}")  # fmt: skip
        web_and_preview(args, amqp, work, clip)
    workers_speedup(args, amqp, work)


def web_and_preview(args: argparse.Namespace, amqp: str, work: Path, clip: Path) -> None:
    """1 + 2: one loa worker makes preview then web; then the same web command run directly."""
    loa = Loa(work / "one", amqp, workers=1, threads=args.threads, profile_names="preview,web")
    started = time.monotonic()
    cpu_start = children_cpu()
    upload_id = loa.upload(clip)
    asset_id = loa.wait_asset(upload_id)
    ingested = time.monotonic() - started
    preview = loa.wait_job(asset_id, "preview")
    to_preview = time.monotonic() - started
    cpu_preview = children_cpu()
    web = loa.wait_job(asset_id, "web")
    loa_web = seconds_between(web.started_at, web.finished_at)
    cpu_loa = children_cpu() - cpu_preview  # the web job's ffmpeg (and ffprobe) processes
    probe = Pipeline(loa.db, loa.store, loa.media).probe(str(clip), clip.stat().st_size)
    loa.stop()
    out = work / "direct"
    out.mkdir()
    plan = profiles.web(
        probe, str(clip), out, profiles.Options(threads=args.threads, x264_preset="veryfast")
    )
    t0 = time.monotonic()
    cpu_direct = children_cpu()
    subprocess.run(["ffmpeg", "-nostdin", *plan.args], check=True)
    direct = time.monotonic() - t0
    cpu_direct = children_cpu() - cpu_direct
    print(f"web profile: loa {loa_web:.1f}s (job start to published), ffmpeg direct {direct:.1f}s, "
          f"ratio {loa_web / direct:.3f} (goal <= 1.05); CPU seconds (user+sys of the ffmpeg "
          f"processes, not skewed by other load) loa {cpu_loa:.1f}, direct {cpu_direct:.1f}, "
          f"ratio {cpu_loa / cpu_direct:.3f}")  # fmt: skip
    print(f"time to preview: {to_preview:.1f}s after upload = {to_preview / args.seconds:.2f}x "
          f"the clip's duration (goal < 0.3x); ingest (assemble, ffprobe, hash, tail check) "
          f"{ingested:.1f}s, preview encode "
          f"{seconds_between(preview.started_at, preview.finished_at):.1f}s, CPU seconds up to "
          f"the preview {cpu_preview - cpu_start:.1f}; {load()}")  # fmt: skip


def workers_speedup(args: argparse.Namespace, amqp: str, work: Path) -> None:
    """3: 4 clips, web only, 1 worker vs 2 workers, every job bounded to 1 thread."""
    clips = []
    for i in range(4):
        path = work / f"c{i}.mp4"
        make_clip(path, args.clips_seconds, tone_hz=440 + 110 * i)
        clips.append(path)
    times = {}
    for workers in (1, 2):
        loa = Loa(
            work / f"w{workers}",
            amqp,
            workers=workers,
            threads=1,
            profile_names="web",
        )
        t0 = time.monotonic()
        ids = [loa.upload(c) for c in clips]
        assets = [loa.wait_asset(u) for u in ids]
        for a in assets:
            loa.wait_job(a, "web")
        times[workers] = time.monotonic() - t0
        loa.stop()
    print(f"4 clips x {args.clips_seconds}s 1080p, web, 1 thread per job: 1 worker "
          f"{times[1]:.1f}s, 2 workers {times[2]:.1f}s, speed-up {times[1] / times[2]:.2f}x "
          f"(goal >= 1.8x); {load()}")  # fmt: skip


if __name__ == "__main__":
    main()
