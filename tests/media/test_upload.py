"""tus 1.0.0 uploads through the gateway into real storage, dedup, and rejection of bad files."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import wait_until

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sha1(data: bytes) -> str:
    return "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()


def create(env: Any, length: int, filename: str = "clip.mp4", **headers: str) -> requests.Response:
    meta = f"filename {b64(filename)},filetype {b64('video/mp4')},title {b64('Họp báo quý I')}"
    return env.http.post(
        f"{env.base}/api/media/uploads",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta, **headers},
        timeout=30,
    )


def patch(env: Any, url: str, offset: int, data: bytes, **headers: str) -> requests.Response:
    return env.http.patch(
        url,
        data=data,
        headers={**TUS, **OCTETS, "Upload-Offset": str(offset), **headers},
        timeout=60,
    )


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_tus_upload_resumes_checks_and_becomes_an_asset(
    media_env_factory: Any, clips: dict[str, Path], storage: str
) -> None:
    env = media_env_factory(storage=storage, profiles="preview")
    base = env.base
    data = clips["big"].read_bytes()
    assert len(data) > 12 * 1024 * 1024

    options = env.http.options(f"{base}/api/media/uploads", timeout=10)
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) >= {
        "creation", "creation-with-upload", "expiration", "checksum", "termination",
    }  # fmt: skip
    assert "sha1" in options.headers["Tus-Checksum-Algorithm"].split(",")
    assert int(options.headers["Tus-Max-Size"]) == env.media.max_upload_bytes

    wrong = env.http.post(
        f"{base}/api/media/uploads",
        headers={"Tus-Resumable": "0.2.2", "Upload-Length": "10"},
        timeout=10,
    )
    assert wrong.status_code == 412 and wrong.headers["Tus-Version"] == "1.0.0"
    too_big = create(env, env.media.max_upload_bytes + 1)
    assert too_big.status_code == 413 and too_big.headers["Tus-Resumable"] == "1.0.0"

    # creation-with-upload: the first 1 MiB travels with the POST
    first = data[: 1024 * 1024]
    made = env.http.post(
        f"{base}/api/media/uploads",
        data=first,
        headers={
            **TUS,
            **OCTETS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": f"filename {b64('../../etc/passwd/Họp báo.mp4')}",
        },
        timeout=30,
    )
    assert made.status_code == 201, made.text
    url = made.headers["Location"]
    assert made.headers["Upload-Offset"] == str(len(first))
    assert "GMT" in made.headers["Upload-Expires"]

    head = env.http.head(url, headers=TUS, timeout=10)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(len(first))
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"

    # wrong offset, wrong type, bad checksum: nothing stored
    assert patch(env, url, 0, data[:10]).status_code == 409
    bad_type = env.http.patch(
        url, data=b"x", headers={**TUS, "Upload-Offset": str(len(first))}, timeout=10
    )
    assert bad_type.status_code == 415
    chunk = data[len(first) : len(first) + 3 * 1024 * 1024]
    mismatch = patch(env, url, len(first), chunk, **{"Upload-Checksum": sha1(b"something else")})
    assert mismatch.status_code == 460
    assert env.http.head(url, headers=TUS, timeout=10).headers["Upload-Offset"] == str(len(first))
    unsupported = patch(env, url, len(first), chunk, **{"Upload-Checksum": "crc99 AAAA"})
    assert unsupported.status_code == 400

    # resume in uneven chunks (3 MiB: below a storage part; 6 MiB: above), with checksums
    offset = len(first)
    for size in (3 * 1024 * 1024, 6 * 1024 * 1024, len(data)):
        piece = data[offset : offset + size]
        done = patch(env, url, offset, piece, **{"Upload-Checksum": sha1(piece)})
        assert done.status_code == 204, done.text
        offset += len(piece)
        assert done.headers["Upload-Offset"] == str(offset)
        if offset == len(data):
            break
    upload_id = url.rsplit("/", 1)[1]
    status = env.upload_done(upload_id)
    assert status["state"] == "done", status
    # the loudness (a decode of all the audio) is measured once the asset and its preview job
    # exist, so the preview does not wait for it
    asset = wait_until(
        lambda: (a := env.call("get_asset", status["asset_id"]))["probe"]["loudness"] and a,
        30,
        what="loudness measured",
    )
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    assert asset["size"] == len(data)
    assert asset["filename"] == "Họp báo.mp4"  # a name, never a path
    probe = asset["probe"]
    assert probe["video"]["codec"] == "h264" and probe["video"]["width"] == 640
    assert probe["audio"]["sample_rate"] == 48000
    assert probe["loudness"]["integrated_lufs"] < -10
    assert abs(probe["duration_s"] - 2.0) < 0.2
    # the stored original is byte for byte what was sent
    with env.store.open(asset["original_key"]) as reader:
        assert hashlib.sha256(b"".join(reader)).hexdigest() == hashlib.sha256(data).hexdigest()
    assert not [i.key for i in env.store.list(f"uploads/{upload_id}/") if "tail" in i.key]
    uploaded = env.events("media.asset_uploaded")
    assert [e["asset_id"] for e in uploaded] == [asset["id"]]

    # the same bytes again (plain form upload) are the same asset, not a second one
    again = env.http.post(
        f"{base}/api/media/assets",
        files={"file": ("copy.mp4", data, "video/mp4")},
        data={"title": "copy"},
        timeout=60,
    )
    assert again.status_code == 202, again.text
    dup = env.upload_done(again.json()["id"])
    assert dup["state"] == "duplicate" and dup["asset_id"] == asset["id"]
    assert env.call("list_assets")["items"][0]["id"] == asset["id"]
    assert len(env.call("list_assets")["items"]) == 1
    assert list(env.store.list(f"uploads/{dup['id']}/")) == []


def test_termination_unknown_and_expiry(media_env_factory: Any) -> None:
    env = media_env_factory(profiles="preview", upload_expiry_s=60)
    base = env.base
    made = create(env, 6 * 1024 * 1024)
    url = made.headers["Location"]
    assert patch(env, url, 0, b"a" * 1000).status_code == 204
    assert env.http.delete(url, headers=TUS, timeout=10).status_code == 204
    assert env.http.head(url, headers=TUS, timeout=10).status_code == 410
    assert patch(env, url, 1000, b"b").status_code == 410
    assert list(env.store.list(f"uploads/{url.rsplit('/', 1)[1]}/")) == []
    missing = env.http.head(f"{base}/api/media/uploads/nope-nope", headers=TUS, timeout=10)
    assert missing.status_code == 404
    # an upload past its expiry answers 410 at once and the sweeper removes its bytes
    late = create(env, 100).headers["Location"]
    upload_id = late.rsplit("/", 1)[1]
    assert patch(env, late, 0, b"z" * 60).status_code == 204  # 60 of 100 bytes, then abandoned
    held = env.call("upload_get", upload_id)
    assert held["offset"] == 60 and held["tail_key"], held
    stored = [i.key for i in env.store.list(f"uploads/{upload_id}/")]
    assert held["tail_key"] in stored, stored  # the received bytes are in the store
    with env.store.open(held["tail_key"]) as reader:
        assert bytes(reader.read()) == b"z" * 60
    from sqlalchemy import update

    from services.media.domain.uploads import now
    from services.media.models import uploads

    with env.db.session() as s:
        s.execute(update(uploads).where(uploads.c.id == upload_id).values(expires_at=now()))
    assert env.http.head(late, headers=TUS, timeout=10).status_code == 410
    assert patch(env, late, 0, b"x").status_code == 410
    assert env.call("expire_uploads") == 1
    assert env.call("upload_get", upload_id)["state"] == "expired"
    assert list(env.store.list(f"uploads/{upload_id}/")) == []  # its bytes are gone


@pytest.mark.parametrize(
    "clip, reason",
    [
        ("report", "not a video or audio file"),
        ("truncated", "cut off"),
        ("truncated_front_index", "cut off"),
        ("empty", "empty"),
    ],
)
def test_unusable_files_are_rejected_with_a_reason_and_removed(
    media_env_factory: Any, clips: dict[str, Path], clip: str, reason: str
) -> None:
    env = media_env_factory(gateway=True, profiles="preview")
    data = clips[clip].read_bytes()
    sent = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": (f"{clip}.mp4", data, "video/mp4")},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    status = env.upload_done(sent.json()["id"])
    assert status["state"] == "rejected"
    assert reason in status["reason"], status["reason"]
    assert status["asset_id"] is None
    assert list(env.store.list("uploads/")) == []
    assert env.call("list_assets")["items"] == []


def test_a_clip_over_the_duration_limit_is_rejected(
    media_env_factory: Any, clips: dict[str, Path]
) -> None:
    env = media_env_factory(profiles="preview", max_duration_s=1.0)
    sent = env.http.post(
        f"{env.base}/api/media/assets",
        files={"file": ("long.mp4", clips["landscape"].read_bytes(), "video/mp4")},
        timeout=30,
    )
    status = env.upload_done(sent.json()["id"])
    assert status["state"] == "rejected" and "longer than the 1s allowed" in status["reason"]
