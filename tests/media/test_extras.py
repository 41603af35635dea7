"""Per-clip extras: Vietnamese subtitles (a WebVTT track on web, burnt into social on request)
and the center's logo (configured, or chosen per clip). Checked with ffprobe (the subtitle
streams) and by comparing pixels of the frames (what was drawn on a still grey picture)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from tests.media.conftest import FFMPEG, ffprobe
from tests.media.test_transcode import by_name, fetch

SRT = (
    "\ufeff1\r\n00:00:00,800 --> 00:00:01,900\r\n"
    "Thủ tục hành chính một cửa\r\nđược giải quyết đúng hẹn\r\n\r\n"
).encode()


def stats(path: str, at: float, crop: str) -> dict[str, float]:
    """signalstats of one region of the frame shown at `at` seconds."""
    out = subprocess.run(
        [FFMPEG, "-v", "info", "-ss", f"{at}", "-i", path, "-vf",
         f"crop={crop},signalstats,metadata=print", "-frames:v", "1", "-f", "null", "-"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    found = re.findall(r"lavfi\.signalstats\.(\w+)=([0-9.]+)", out.stderr.decode())
    return {k: float(v) for k, v in found}


def subtitle_streams(info: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in info["streams"] if s["codec_type"] == "subtitle"]


def settle(env: Any, asset_id: str) -> dict[str, Any]:
    asset = env.asset_settled(asset_id, timeout=180)
    assert asset["status"] == "ready", [(j["profile"], j["reason"]) for j in asset["jobs"]]
    return by_name(env.http.get(f"{env.base}/api/media/assets/{asset_id}", timeout=10).json())


def test_logo_and_subtitles_on_web_and_social(
    media_env_factory: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    env = media_env_factory(
        storage="s3", profiles="web,social", ffmpeg_threads=2, logo_key="branding/center.png"
    )
    data = clips["logo_red"].read_bytes()  # the configured default, put there by an operator
    env.store.put("branding/center.png", data, size=len(data), content_type="image/png")
    sent = env.http.put(  # another one, uploaded by an editor through the API
        f"{env.base}/api/media/logos/blue",
        data=clips["logo_blue"].read_bytes(),
        headers={"Content-Type": "image/png"},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["key"] == "branding/blue.png"
    sent = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": ("grey.mp4", clips["grey"].read_bytes(), "video/mp4")},
        data={"title": "Bản tin", "burn_subtitles": "true"},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    asset_id = env.upload_done(sent.json()["id"])["asset_id"]
    r = settle(env, asset_id)

    # the center's logo (red) in the top right corner of web and social; grey elsewhere
    web = fetch(env, r["web/mp4"], tmp_path)
    corner, other = stats(web, 0.5, "40:40:iw-54:14"), stats(web, 0.5, "40:40:14:14")
    assert corner["VAVG"] > other["VAVG"] + 60, (corner, other)  # V (red-difference) is high
    vertical = fetch(env, r["social/vertical"], tmp_path)
    corner = stats(vertical, 0.5, "150:150:iw-210:60")
    assert corner["VAVG"] > 180, corner
    assert subtitle_streams(ffprobe(web)) == []

    # subtitles (SRT with a BOM and CRLF, as Windows editors save it)
    bad = env.http.put(
        f"{env.base}/api/media/assets/{asset_id}/subtitles",
        data=b"no timings here",
        headers={"Content-Type": "application/x-subrip"},
        timeout=30,
    )
    assert bad.status_code == 422, bad.text
    put = env.http.put(
        f"{env.base}/api/media/assets/{asset_id}/subtitles?lang=vi",
        data=SRT,
        headers={"Content-Type": "application/x-subrip"},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    assert put.json() == {"lang": "vi", "cues": 1, "rerun": ["social", "web"]}
    r = settle(env, asset_id)

    web = fetch(env, r["web/mp4"], tmp_path)
    (track,) = subtitle_streams(ffprobe(web))
    assert track["codec_name"] == "mov_text" and track["tags"]["language"] == "vie"
    master = env.http.get(r["web/hls"]["play_url"], timeout=10).text
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="Tiếng Việt",LANGUAGE="vi"' in master
    assert master.count('SUBTITLES="subs"') == 1  # one rung (270p source)
    base = r["web/hls"]["play_url"].rsplit("/", 1)[0]
    playlist = env.http.get(f"{base}/subs/vi.m3u8", timeout=10).text
    assert "vi.vtt" in playlist and "#EXT-X-ENDLIST" in playlist
    vtt_path = tmp_path / "vi.vtt"
    vtt_path.write_bytes(env.http.get(f"{base}/subs/vi.vtt", timeout=10).content)
    vtt = vtt_path.read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:")
    assert "Thủ tục hành chính một cửa" in vtt  # NFC, not mojibake
    (cue_track,) = subtitle_streams(ffprobe(str(vtt_path)))
    assert cue_track["codec_name"] == "webvtt"
    assert r["web/subtitles"]["info"]["lang"] == "vi"

    # burnt into social: text in the bottom band while the cue shows, none before it
    vertical = fetch(env, r["social/vertical"], tmp_path)
    for path in (vertical, fetch(env, r["social/square"], tmp_path)):
        during = stats(path, 1.3, "iw:ih/3:0:ih*2/3")
        before = stats(path, 0.3, "iw:ih/3:0:ih*2/3")
        assert during["YMAX"] - before["YMAX"] > 60, (during, before)
    assert subtitle_streams(ffprobe(vertical)) == []

    # per clip: another logo (blue), no burn-in; the changed profiles are made again
    patched = env.http.patch(
        f"{env.base}/api/media/assets/{asset_id}/options",
        json={"logo": "branding/blue.png", "burn_subtitles": False},
        timeout=30,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["rerun"] == ["social", "web"]
    r = settle(env, asset_id)
    web = fetch(env, r["web/mp4"], tmp_path)
    corner, other = stats(web, 0.5, "40:40:iw-54:14"), stats(web, 0.5, "40:40:14:14")
    assert corner["UAVG"] > other["UAVG"] + 60, (corner, other)  # U (blue-difference) is high
    assert len(subtitle_streams(ffprobe(web))) == 1  # still carried as text on web
    vertical = fetch(env, r["social/vertical"], tmp_path)
    during = stats(vertical, 1.3, "iw:ih/3:0:ih*2/3")
    assert during["YMAX"] < 150, during  # no text any more
    refused = env.http.patch(
        f"{env.base}/api/media/assets/{asset_id}/options",
        json={"logo": "../secret.png"},
        timeout=10,
    )
    assert refused.status_code == 422


def test_logo_upload_refuses_what_is_not_a_usable_image(
    media_env_factory: Any, clips: dict[str, Path]
) -> None:
    """The bytes decide (ffprobe), not the Content-Type; names are slugs, never paths; a refused
    image leaves nothing in storage."""
    env = media_env_factory(profiles="web")
    url = f"{env.base}/api/media/logos"
    png = {"Content-Type": "image/png"}
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    cases = [
        ("renamed-pdf", pdf, 422, "PNG, JPEG"),
        ("empty", b"", 422, "empty"),
        ("huge", b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 10), 413, "2048 KiB"),
        ("a video", clips["grey"].read_bytes()[:4096], 422, "name"),
        ("..hidden", clips["logo_red"].read_bytes(), 422, "name"),
        ("UPPER", clips["logo_red"].read_bytes(), 422, "name"),
    ]
    for name, body, status, words in cases:
        r = env.http.put(f"{url}/{name}", data=body, headers=png, timeout=30)
        assert r.status_code == status, (name, r.status_code, r.text)
        problem = r.json()
        assert words in problem["detail"], (name, problem)
    traversal = env.http.put(f"{url}/..%2F..%2Fetc", data=b"x", headers=png, timeout=30)
    assert traversal.status_code == 404  # never a path: no route matches a name with "/"
    assert env.http.get(url, timeout=10).json() == {"logos": []}
    assert list(env.store.list("branding/")) == []

    ok = env.http.put(
        f"{url}/trung-tam", data=clips["logo_red"].read_bytes(), headers=png, timeout=30
    )
    assert ok.status_code == 200, ok.text
    listed = env.http.get(url, timeout=10).json()["logos"]
    assert [(logo["name"], logo["key"]) for logo in listed] == [
        ("trung-tam", "branding/trung-tam.png")
    ]
    # an editor's clip may now name it
    sent = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": ("grey.mp4", clips["grey"].read_bytes(), "video/mp4")},
        data={"logo": "branding/trung-tam.png"},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
