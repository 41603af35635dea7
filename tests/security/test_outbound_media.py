"""Finding 5 of the security review: an uploaded file must never make ffmpeg open other URLs.

An HLS playlist or an ffconcat list names other files; on S3 storage ffprobe reads the upload over
HTTP, so the playlist's segments were fetched from wherever it pointed (an internal admin page in
the review). Here the playlist points at a local HTTP server the test runs; the upload must be
refused with a clear reason and that server must never see a request, on both storages.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.media.conftest import FFMPEG, media_env_factory  # noqa: F401 - fixture


class Internal:
    """An 'internal' HTTP server serving a real MPEG-TS segment, counting every request."""

    def __init__(self, segment: bytes) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.send_header("Content-Length", str(len(segment)))
                self.end_headers()
                self.wfile.write(segment)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def internal(tmp_path: Path) -> Iterator[Internal]:
    seg = tmp_path / "admin.ts"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1",
         "-f", "lavfi", "-i", "sine=f=440:r=48000:d=1", "-c:v", "libx264", "-preset",
         "ultrafast", "-c:a", "aac", "-shortest", "-f", "mpegts", str(seg)],
        check=True, timeout=60,
    )  # fmt: skip
    server = Internal(seg.read_bytes())
    yield server
    server.close()


def playlists(base: str) -> dict[str, tuple[str, bytes, str]]:
    """Files that name other files: what each would make ffmpeg open."""
    hls = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:1.0,\n{base}/internal/admin.ts\n#EXTINF:1.0,\n{base}/internal/admin.ts?2\n"
        "#EXT-X-ENDLIST\n"
    )
    concat = f"ffconcat version 1.0\nfile '{base}/internal/admin.ts'\nfile admin.ts\n"
    return {
        "hls": ("clip.m3u8", hls.encode(), "application/vnd.apple.mpegurl"),
        "ffconcat": ("clip.ffconcat", concat.encode(), "text/plain"),
    }


@pytest.mark.parametrize("storage", ["local", "s3"])
@pytest.mark.parametrize("kind", ["hls", "ffconcat"])
def test_an_uploaded_playlist_is_refused_and_its_urls_never_fetched(
    media_env_factory: Any,  # noqa: F811 - the fixture imported above
    internal: Internal,
    storage: str,
    kind: str,
) -> None:
    env = media_env_factory(storage=storage, gateway=True, profiles="preview")
    name, body, ctype = playlists(internal.url)[kind]
    sent = env.http.post(
        f"{env.base}/api/media/assets", files={"file": (name, body, ctype)}, timeout=30
    )
    assert sent.status_code == 202, sent.text
    status = env.upload_done(sent.json()["id"])
    assert status["state"] == "rejected", status
    assert status["asset_id"] is None
    assert "format" in status["reason"] and "định dạng" in status["reason"].lower(), status
    assert env.call("list_assets")["items"] == []
    # Neither the object's path nor its signed S3 URL (a credential) is in the reason.
    assert "uploads/" not in status["reason"] and "X-Amz" not in status["reason"], status
    assert internal.hits == [], f"ffmpeg fetched {internal.hits} from the internal server"
