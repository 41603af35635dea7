"""What editors say about a clip (title, description, tags, unit, subtitles' words) reaches the
consumers of media.asset_ready — search — as a new version of the asset each time it changes;
a deleted asset's tombstone is newer than anything before it. Bad fields are refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SRT = "1\n00:00:00,200 --> 00:00:01,500\nThủ tục <i>một cửa</i> liên thông\n".encode()


def test_details_from_upload_and_edits_reach_the_events(
    media_env_factory: Any, clips: dict[str, Path]
) -> None:
    env = media_env_factory(profiles="preview")
    sent = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": ("grey.mp4", clips["grey"].read_bytes(), "video/mp4")},
        data={
            "title": "Hướng dẫn nộp hồ sơ",
            "description": "Cách nộp hồ sơ <script>alert(1)</script> trực tuyến",
            "tags": "dịch vụ công, một cửa, Dịch vụ công",
            "unit_id": "so-tttt",
        },
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    asset_id = env.upload_done(sent.json()["id"])["asset_id"]
    asset = env.asset_settled(asset_id)
    assert asset["status"] == "ready"
    assert asset["description"] == "Cách nộp hồ sơ <script>alert(1)</script> trực tuyến"
    assert asset["tags"] == ["dịch vụ công", "một cửa"]  # trimmed, duplicates (any case) once
    assert asset["unit_id"] == "so-tttt"
    ready = [e for e in env.events("media.asset_ready") if e["asset_id"] == asset_id]
    assert len(ready) == 1
    first = ready[0]
    assert first["tags"] == ["dịch vụ công", "một cửa"] and first["unit_id"] == "so-tttt"

    url = f"{env.base}/api/media/assets/{asset_id}"
    r = env.http.patch(url, json={"description": "Mô tả mới", "tags": ["hộ tịch"]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "Mô tả mới" and r.json()["title"] == "Hướng dẫn nộp hồ sơ"
    same = env.http.patch(url, json={"tags": ["hộ tịch"]}, timeout=30)  # nothing changes
    assert same.status_code == 200
    r = env.http.put(
        f"{url}/subtitles", data=SRT, headers={"Content-Type": "application/x-subrip"}, timeout=30
    )
    assert r.status_code == 200, r.text  # preview does not carry subtitles: nothing re-made

    ready = [e for e in env.events("media.asset_ready") if e["asset_id"] == asset_id]
    assert len(ready) == 2, ready  # the edit; the no-op edit and the subtitles (no rerun) none
    assert ready[1]["version"] > first["version"]
    assert ready[1]["description"] == "Mô tả mới" and ready[1]["tags"] == ["hộ tịch"]

    # a later change carries the subtitles' words (no timings, no tags)
    r = env.http.patch(url, json={"title": "Hướng dẫn mới"}, timeout=30)
    assert r.status_code == 200, r.text
    last = [e for e in env.events("media.asset_ready") if e["asset_id"] == asset_id][-1]
    assert last["subtitles_text"] == "Thủ tục một cửa liên thông"
    assert last["version"] > ready[1]["version"]

    gone = env.http.delete(url, timeout=30)
    assert gone.status_code in (200, 204), gone.text
    deleted = [e for e in env.events("media.asset_deleted") if e["asset_id"] == asset_id]
    assert deleted and deleted[0]["version"] > last["version"]  # newer than any asset_ready
    r = env.http.patch(url, json={"title": "x"}, timeout=30)
    assert r.status_code == 409, r.text


def test_bad_details_are_refused_by_name(media_env_factory: Any, clips: dict[str, Path]) -> None:
    env = media_env_factory(profiles="preview")
    sent = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": ("grey.mp4", clips["grey"].read_bytes(), "video/mp4")},
        timeout=30,
    )
    asset_id = env.upload_done(sent.json()["id"])["asset_id"]
    url = f"{env.base}/api/media/assets/{asset_id}"
    cases = [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"tags": "một cửa"}, "tags"),
        ({"tags": ["x"] * 21}, "tags"),
        ({"unit_id": "../../etc"}, "unit_id"),
        ({"unit_id": "x' OR 1=1 --"}, "unit_id"),
        ({"owner": "me"}, "owner"),
        ({"description": "x" * 20001}, "description"),
    ]
    for body, field in cases:
        r = env.http.patch(url, json=body, timeout=30)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert field in r.text, (body, r.text)
    r = env.http.patch(url, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    r = env.http.patch(f"{env.base}/api/media/assets/nope", json={"title": "x"}, timeout=30)
    assert r.status_code == 404, r.text
    # at upload: a bad unit is refused before any byte is stored
    bad = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": ("grey.mp4", clips["grey"].read_bytes(), "video/mp4")},
        data={"unit_id": "<b>"},
        timeout=30,
    )
    assert bad.status_code == 422 and "unit_id" in bad.text, bad.text
    asset = env.http.get(url, timeout=10).json()
    assert asset["title"] == "grey.mp4" and asset["tags"] == []  # nothing half-changed
