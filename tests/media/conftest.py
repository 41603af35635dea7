"""Media test setup: clips made by ffmpeg, the media and gateway services on real RabbitMQ, a real
object store (local directory or the versitygw S3 server) and a real ffmpeg."""

from __future__ import annotations

import os
import secrets
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import select

from services.media.config import MEDIA_SETTINGS_KEY, MediaSettings
from shared.config import Settings
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import database_for, forget_databases
from shared.storage.factory import make_object_store
from tests.conftest import require_env, wait_until

FFMPEG = os.environ.get("LOA_TEST_FFMPEG", "ffmpeg")
FFPROBE = str(Path(FFMPEG).with_name("ffprobe")) if "/" in FFMPEG else "ffprobe"


def ff(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short test clips: patterns, tones, rotation, interlacing, no audio, and broken files."""
    d = tmp_path_factory.mktemp("clips")
    tone = ["-f", "lavfi", "-i", "sine=f=440:r=48000:d=2"]
    ff("-f", "lavfi", "-i", "testsrc2=s=854x480:r=25:d=2", *tone, "-c:v", "libx264",
       "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(d / "landscape.mp4"))  # fmt: skip
    ff("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=2,noise=alls=40:allf=t", *tone,
       "-c:v", "libx264", "-preset", "ultrafast", "-qp", "4", "-c:a", "aac", "-shortest",
       str(d / "big.mp4"))  # fmt: skip
    # phone footage: stored 320x180, displayed upright (rotation 90), no audio
    ff("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=2", "-c:v", "libx264", "-preset",
       "ultrafast", str(d / "flat.mp4"))  # fmt: skip
    ff("-i", str(d / "flat.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90",
       str(d / "vertical.mp4"))  # fmt: skip
    ff("-f", "lavfi", "-i", "testsrc2=s=320x240:r=50:d=2", "-vf",
       "tinterlace=interleave_top,fieldorder=tff", "-flags", "+ilme+ildct", "-c:v", "libx264",
       "-x264opts", "tff=1", "-preset", "ultrafast", "-r", "25",
       str(d / "interlaced.mp4"))  # fmt: skip
    ff("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4", *tone, "-c:v", "libx264",
       "-preset", "ultrafast", "-c:a", "aac", str(d / "slow.mp4"))  # fmt: skip
    # a phone's HDR-era clip: HEVC Main 10 (10-bit 4:2:0)
    ff("-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=2", *tone, "-c:v", "libx265",
       "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error",
       "-tag:v", "hvc1", "-c:a", "aac", "-shortest", str(d / "tenbit.mp4"))  # fmt: skip
    # a phone in low light: 30 fps for a second, then every other frame (15 fps), timestamps kept
    ff("-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=2", *tone, "-vf",
       "select='lt(n\\,30)+not(mod(n\\,2))'", "-fps_mode", "vfr", "-c:v", "libx264",
       "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(d / "vfr.mp4"))  # fmt: skip
    # a still grey picture (frame differences show only what loa drew on it) and two logos
    ff("-f", "lavfi", "-i", "color=c=0x808080:s=480x270:r=25:d=2", *tone, "-c:v", "libx264",
       "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(d / "grey.mp4"))  # fmt: skip
    for name, colour in (("logo_red", "red"), ("logo_blue", "blue")):
        ff("-f", "lavfi", "-i", f"color=c={colour}:s=64x64,format=rgba", "-frames:v", "1",
           str(d / f"{name}.png"))  # fmt: skip
    whole = (d / "landscape.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    # cut off after a front index (moov first): ffprobe is happy, the end is missing
    ff("-i", str(d / "landscape.mp4"), "-c", "copy", "-movflags", "+faststart",
       str(d / "faststart.mp4"))  # fmt: skip
    front = (d / "faststart.mp4").read_bytes()
    (d / "truncated_front_index.mp4").write_bytes(front[: len(front) * 6 // 10])
    (d / "report.mp4").write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" * 50
    )
    (d / "empty.mp4").write_bytes(b"")
    return {p.stem: p for p in d.iterdir()}


@pytest.fixture
def ffmpeg_wrapper(tmp_path: Path) -> dict[str, Path]:
    """An ffmpeg that fails or crawls on demand (job encodes only), for retry/cancel/kill tests."""
    fail, slow = tmp_path / "fail-encodes", tmp_path / "slow-encodes"
    script = tmp_path / "ffmpeg-wrapper"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" -progress "*)\n'
        f'  if [ -f "{fail}" ]; then\n'
        '    echo "simulated encoder crash: no space left" >&2; exit 1; fi\n'
        f'  if [ -f "{slow}" ]; then\n'
        f'    exec {FFMPEG} -re "$@"; fi;;\n'
        "esac\n"
        f'exec {FFMPEG} "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"bin": script, "fail": fail, "slow": slow}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MediaEnv:
    settings: Settings
    media: MediaSettings
    base: str
    store: Any
    db: Any
    containers: list[Any]
    http: requests.Session
    """Calls the gateway as a signed-in media editor (bearer token)."""

    def rpc(self) -> ServiceRpcProxy:
        return ServiceRpcProxy("media", nameko_config(self.settings))

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self.rpc() as proxy:
            return getattr(proxy, method)(*args, **kwargs)

    def poll(self, method: str, *args: Any) -> Any:
        """An RPC call for a polling loop: a broker that is briefly away (another suite on the
        same RabbitMQ restarting it) is a 'not yet', not a failure; the services reconnect."""
        from amqp.exceptions import AMQPError
        from kombu.exceptions import OperationalError

        try:
            return self.call(method, *args)
        except (OSError, OperationalError, AMQPError):
            return None

    def upload_done(self, upload_id: str, timeout: float = 60) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            up = self.poll("upload_get", upload_id)
            return up if up and up["state"] in ("done", "duplicate", "rejected") else None

        return dict(wait_until(finished, timeout, interval=0.2, what=f"upload {upload_id}"))

    def asset_settled(self, asset_id: str, timeout: float = 120) -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            a = self.poll("get_asset", asset_id)
            return a if a and a["status"] in ("ready", "partial") else None

        return dict(wait_until(settled, timeout, interval=0.3, what=f"asset {asset_id} settled"))

    def events(self, event_type: str) -> list[dict[str, Any]]:
        import json

        from services.media.models import outbox

        with self.db.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.body).where(outbox.c.type == event_type))
            return [json.loads(r.body)["payload"] for r in rows]


@pytest.fixture(params=["local"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def media_env_factory(make_settings: Any, container_factory: Any, tmp_path: Path) -> Iterator[Any]:
    """Start media (+ gateway) containers with the given media settings and storage kind."""
    bucket = None
    made: list[MediaEnv] = []

    def make(
        storage: str = "local",
        gateway: bool = True,
        media_containers: int = 1,
        **media_overrides: Any,
    ) -> MediaEnv:
        nonlocal bucket
        overrides: dict[str, Any] = {}
        if storage == "s3":
            bucket = f"loa-media-{secrets.token_hex(5)}"
            overrides.update(
                storage_backend="s3",
                s3_endpoint=require_env("LOA_TEST_S3_ENDPOINT"),
                s3_access_key=require_env("LOA_TEST_S3_ACCESS_KEY"),
                s3_secret_key=require_env("LOA_TEST_S3_SECRET_KEY"),
                s3_bucket=bucket,
            )
        port = free_port()
        settings = make_settings(
            http_host="127.0.0.1",
            http_port=port,
            public_url=f"http://127.0.0.1:{port}",
            **overrides,
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade("media", settings.database_url("media"))
        from services.gateway.models import metadata as gateway_metadata
        from services.media.models import metadata as media_metadata

        gw_db = database_for(settings, "gateway", gateway_metadata)
        gateway_metadata.create_all(gw_db.engine)
        values: dict[str, Any] = {
            "ffmpeg": FFMPEG,
            "ffprobe": FFPROBE,
            "ffmpeg_threads": 1,
            "x264_preset": "superfast",
            "scratch_dir": tmp_path / "scratch",
            "part_size": 5 * 1024 * 1024,
        }
        values.update(media_overrides)
        media = MediaSettings(**values)
        config = nameko_config(settings)
        config[MEDIA_SETTINGS_KEY] = media
        from services.media.service import MediaService

        containers = []
        for _ in range(media_containers):
            c = container_factory(MediaService, dict(config))
            c.start()
            containers.append(c)
        if gateway:
            from services.gateway.service import GatewayService

            c = container_factory(GatewayService, dict(config))
            c.start()
            containers.append(c)
        store = make_object_store(settings)
        store.ping()
        http = requests.Session()
        if gateway:
            from services.gateway.auth.testing import bearer

            http.headers.update(bearer(settings, "editor"))
        env = MediaEnv(
            settings=settings,
            media=media,
            base=f"http://127.0.0.1:{port}",
            store=store,
            db=database_for(settings, "media", media_metadata),
            containers=containers,
            http=http,
        )
        made.append(env)
        return env

    yield make
    for env in made:
        for c in env.containers:
            c.kill()
        if env.settings.storage_backend == "s3":
            for info in list(env.store.list()):
                env.store.delete(info.key)
            env.store._client.remove_bucket(env.settings.s3_bucket)
    forget_databases()


def ffprobe(path: str) -> dict[str, Any]:
    import json

    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", path],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout))


def ebur128(path: str) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) measured here, independently of the service."""
    import re

    out = subprocess.run(
        [FFMPEG, "-nostats", "-i", path, "-map", "0:a:0", "-af",
         "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    summary = out.stderr.decode()[out.stderr.decode().rfind("Summary:") :]
    integrated = re.search(r"I:\s+(-?[0-9.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[0-9.]+|-inf) dBFS", summary)
    assert integrated and peak, summary
    return float(integrated.group(1)), float(peak.group(1))
