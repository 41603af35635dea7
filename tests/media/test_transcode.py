"""Every profile made from generated clips, checked with ffprobe and ebur128 (not with the code
that made them)."""

from __future__ import annotations

import re
import struct
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.media.conftest import FFMPEG, ebur128, ffprobe


def upload(env: Any, clip: Path) -> str:
    sent = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": (clip.name, clip.read_bytes(), "video/mp4")},
        data={"title": f"Clip {clip.stem}"},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    status = env.upload_done(sent.json()["id"])
    assert status["state"] == "done", status
    return str(status["asset_id"])


def fetch(env: Any, rendition: dict[str, Any], tmp: Path) -> str:
    """Download through the URL the API hands out (signed local link or presigned S3)."""
    path = tmp / rendition["key"].replace("/", "_")
    url = rendition["play_url"] if "play_url" in rendition else rendition["url"]
    body = env.http.get(url, timeout=30)
    assert body.status_code == 200, (url, body.text[:200])
    path.write_bytes(body.content)
    return str(path)


def by_name(asset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{r['profile']}/{r['name']}": r for r in asset["renditions"]}


def video(info: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def audio(info: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in info["streams"] if s["codec_type"] == "audio"), None)


def top_level_boxes(path: str) -> list[str]:
    """The types of an MP4's top-level boxes in file order, read from their headers (32-bit
    size, or 1 and a 64-bit size after the type, or 0 for "to the end of the file")."""
    types: list[str] = []
    with open(path, "rb") as f:
        end = f.seek(0, 2)
        at = 0
        while at < end:
            f.seek(at)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:
                (size,) = struct.unpack(">Q", f.read(8))
            elif size == 0:
                size = end - at
            assert size >= 8 and at + size <= end, (path, at, size, kind)
            types.append(kind.decode("latin-1"))
            at += size
    return types


def assert_faststart(path: str) -> None:
    """moov before mdat: a player starts while the file is still downloading."""
    boxes = top_level_boxes(path)
    assert boxes[0] == "ftyp" and "moov" in boxes and "mdat" in boxes, boxes
    assert boxes.index("moov") < boxes.index("mdat"), boxes


def luma_average(path: str) -> float:
    out = subprocess.run(
        [FFMPEG, "-i", path, "-vf", "signalstats,metadata=print", "-f", "null", "-"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    values = re.findall(r"YAVG=([0-9.]+)", out.stderr.decode())
    return float(values[0])


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_every_profile_from_one_clip(
    media_env_factory: Any, clips: dict[str, Path], tmp_path: Path, storage: str
) -> None:
    env = media_env_factory(storage=storage, ffmpeg_threads=2)
    asset_id = upload(env, clips["landscape"])
    asset = env.asset_settled(asset_id, timeout=180)
    assert asset["status"] == "ready", [(j["profile"], j["reason"]) for j in asset["jobs"]]
    assert [j["profile"] for j in asset["jobs"]][0] == "preview"  # queued first
    assert all(j["state"] == "done" and j["percent"] == 100 for j in asset["jobs"])
    detail = env.http.get(f"{env.base}/api/media/assets/{asset_id}", timeout=10).json()
    r = by_name(detail)

    preview_path = fetch(env, r["preview/mp4"], tmp_path)
    assert_faststart(preview_path)
    preview = ffprobe(preview_path)
    assert (video(preview)["width"], video(preview)["height"]) == (640, 360)
    assert video(preview)["codec_name"] == "h264"

    # web: rungs at or below the 480p source only, one master, segments of about 4 s
    master = env.http.get(r["web/hls"]["play_url"], timeout=10).text
    assert "RESOLUTION=854x480" in master and "RESOLUTION=640x360" in master
    assert "1280x720" not in master and "1920x1080" not in master
    rung = env.http.get(r["web/hls_480p"]["play_url"], timeout=10)
    assert rung.status_code == 200 and "#EXT-X-ENDLIST" in rung.text
    segment = re.search(r"^(seg_\d+\.ts)$", rung.text, re.M)
    assert segment, rung.text
    seg_url = r["web/hls_480p"]["play_url"].rsplit("/", 1)[0] + "/" + segment.group(1)
    seg_path = tmp_path / "seg.ts"
    seg_path.write_bytes(env.http.get(seg_url, timeout=10).content)
    seg = ffprobe(str(seg_path))
    assert video(seg)["height"] == 480 and audio(seg)["codec_name"] == "aac"
    mp4_path = fetch(env, r["web/mp4"], tmp_path)
    assert_faststart(mp4_path)
    mp4 = ffprobe(mp4_path)
    assert video(mp4)["height"] == 480 and video(mp4)["profile"] == "High"

    # social: filled frames (blurred background), High profile, 48 kHz, about -14 LUFS
    for name, size in (("vertical", (1080, 1920)), ("square", (1080, 1080))):
        path = fetch(env, r[f"social/{name}"], tmp_path)
        info = ffprobe(path)
        assert (video(info)["width"], video(info)["height"]) == size
        assert video(info)["profile"] == "High"
        assert audio(info)["sample_rate"] == "48000"
        integrated, _ = ebur128(path)
        assert abs(integrated - (-14.0)) <= 1.0, integrated
        # the band above the picture is the blurred picture, not black
        top = subprocess.run(
            [FFMPEG, "-i", path, "-vf", "crop=iw:200:0:0,signalstats,metadata=print",
             "-frames:v", "1", "-f", "null", "-"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        assert float(re.findall(r"YAVG=([0-9.]+)", top.stderr.decode())[0]) > 30
        assert_faststart(path)

    # tv: MPEG-2 4:2:2 1920x1080 25p in MXF, PCM 48 kHz, -23 LUFS ±0.5, true peak ≤ -1 dBTP
    tv_path = fetch(env, r["tv/mxf"], tmp_path)
    tv = ffprobe(tv_path)
    assert tv["format"]["format_name"] == "mxf"
    v = video(tv)
    assert (v["codec_name"], v["pix_fmt"], v["width"], v["height"]) == (
        "mpeg2video", "yuv422p", 1920, 1080,
    )  # fmt: skip
    assert Fraction(v["avg_frame_rate"]) == 25
    assert audio(tv)["codec_name"] == "pcm_s24le" and audio(tv)["sample_rate"] == "48000"
    integrated, peak = ebur128(tv_path)
    assert abs(integrated - (-23.0)) <= 0.5, integrated
    assert peak <= -1.0, peak

    # thumbnails: a poster that is not black, a sprite and a WebVTT track pointing into it
    poster = fetch(env, r["thumbnails/poster"], tmp_path)
    assert luma_average(poster) > 30
    sprite = ffprobe(fetch(env, r["thumbnails/sprite"], tmp_path))
    assert video(sprite)["width"] == 160 * 2 and video(sprite)["height"] == 90
    vtt = env.http.get(r["thumbnails/vtt"]["play_url"], timeout=10).text
    assert vtt.startswith("WEBVTT")
    assert "00:00:00.000 --> 00:00:01.000\nsprite.jpg#xywh=0,0,160,90" in vtt

    # events: uploaded, each rendition ready, then the asset ready with every rendition
    ready = env.events("media.asset_ready")
    assert len(ready) == 1 and "tv/mxf" in ready[0]["renditions"]
    assert {e["rendition"] for e in env.events("media.rendition_ready")} >= {
        "mp4", "hls", "vertical", "square", "mxf", "poster", "sprite", "vtt",
    }  # fmt: skip
    assert env.events("media.transcode_progress")


def test_phone_clip_upright_without_audio_and_interlaced_source(
    media_env_factory: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    env = media_env_factory(profiles="preview,tv", ffmpeg_threads=2)
    vertical = env.asset_settled(upload(env, clips["vertical"]))
    assert vertical["status"] == "ready", vertical["jobs"]
    assert vertical["probe"]["video"]["rotation"] in (90, 270)
    assert (vertical["width"], vertical["height"]) == (180, 320)  # as displayed
    assert vertical["probe"]["audio"] is None
    r = {f"{x['profile']}/{x['name']}": x for x in vertical["renditions"]}
    preview = ffprobe(fetch(env, r["preview/mp4"], tmp_path))
    v = video(preview)
    assert v["height"] > v["width"] and v["width"] % 2 == 0  # upright, even size
    tv_path = fetch(env, r["tv/mxf"], tmp_path)
    tv = ffprobe(tv_path)
    assert audio(tv) is not None  # a silent track was added
    assert ebur128(tv_path)[0] <= -70  # …and it is silent

    interlaced = env.asset_settled(upload(env, clips["interlaced"]))
    assert interlaced["probe"]["video"]["interlaced"] is True
    r = {f"{x['profile']}/{x['name']}": x for x in interlaced["renditions"]}
    out = video(ffprobe(fetch(env, r["preview/mp4"], tmp_path)))
    assert out.get("field_order", "progressive") == "progressive"
    assert Fraction(out["avg_frame_rate"]) == 25
