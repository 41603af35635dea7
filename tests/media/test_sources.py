"""Sources phones really send: 10-bit HEVC and variable frame rate. Outputs checked with ffprobe
(codec, profile, pixel format, and the timestamps of every frame), not with loa's own code."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

from tests.media.conftest import FFPROBE, ffprobe
from tests.media.test_transcode import by_name, fetch, upload, video


def frame_times(path: str) -> list[float]:
    """Presentation times of every video packet, in order."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
         "-of", "json", path],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return sorted(float(p["pts_time"]) for p in json.loads(out.stdout)["packets"])


def steps(times: list[float]) -> set[float]:
    return {round(b - a, 3) for a, b in zip(times, times[1:], strict=False)}


def test_ten_bit_hevc_and_variable_frame_rate_sources(
    media_env_factory: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    env = media_env_factory(profiles="preview,web", ffmpeg_threads=2)

    # 10-bit HEVC (Main 10) in: 8-bit 4:2:0 H.264 High out, every player can show it
    source = video(ffprobe(str(clips["tenbit"])))
    assert (source["codec_name"], source["pix_fmt"]) == ("hevc", "yuv420p10le")
    asset = env.asset_settled(upload(env, clips["tenbit"]))
    assert asset["status"] == "ready", asset["jobs"]
    assert asset["probe"]["video"]["bit_depth"] == 10
    r = by_name(env.http.get(f"{env.base}/api/media/assets/{asset['id']}", timeout=10).json())
    for name in ("preview/mp4", "web/mp4"):
        v = video(ffprobe(fetch(env, r[name], tmp_path)))
        assert (v["codec_name"], v["profile"], v["pix_fmt"]) == ("h264", "High", "yuv420p"), name
        assert (v["width"], v["height"]) == (480, 270), name
    segment = env.http.get(
        r["web/hls_270p"]["play_url"].rsplit("/", 1)[0] + "/seg_00000.ts", timeout=10
    )
    (tmp_path / "seg.ts").write_bytes(segment.content)
    assert video(ffprobe(str(tmp_path / "seg.ts")))["pix_fmt"] == "yuv420p"

    # VFR in (30 fps, then 15 fps in "low light"): constant 30 fps out, same length, no judder
    source_times = frame_times(str(clips["vfr"]))
    assert len(steps(source_times)) > 1  # the source really is variable
    asset = env.asset_settled(upload(env, clips["vfr"]))
    assert asset["status"] == "ready", asset["jobs"]
    assert asset["probe"]["video"]["variable_frame_rate"] is True
    r = by_name(env.http.get(f"{env.base}/api/media/assets/{asset['id']}", timeout=10).json())
    for name in ("preview/mp4", "web/mp4"):
        path = fetch(env, r[name], tmp_path)
        v = video(ffprobe(path))
        assert Fraction(v["avg_frame_rate"]) == 30 and Fraction(v["r_frame_rate"]) == 30, name
        times = frame_times(path)
        assert steps(times) == {round(1 / 30, 3)}, (name, sorted(steps(times)))
        assert abs((times[-1] + 1 / 30) - source_times[-1] - 1 / 15) < 0.1, name
    master = env.http.get(r["web/hls"]["play_url"], timeout=10).text
    assert "FRAME-RATE=30.000" in master
