"""Job lifecycle: failure with a reason, retry without duplicates, progress and queue position,
cancel, delete, and a worker killed mid-encode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from services.media.models import renditions
from tests.conftest import wait_until
from tests.media.test_transcode import upload


def job(asset: dict[str, Any], profile: str) -> dict[str, Any]:
    return next(j for j in asset["jobs"] if j["profile"] == profile)


def test_failed_job_says_why_and_retry_never_duplicates(
    media_env_factory: Any, clips: dict[str, Path], ffmpeg_wrapper: dict[str, Path]
) -> None:
    env = media_env_factory(profiles="preview,thumbnails", ffmpeg=str(ffmpeg_wrapper["bin"]))
    ffmpeg_wrapper["fail"].touch()
    asset_id = upload(env, clips["landscape"])
    asset = env.asset_settled(asset_id)
    assert asset["status"] == "partial"
    failed = job(asset, "preview")
    assert failed["state"] == "failed"
    assert "simulated encoder crash: no space left" in failed["reason"]
    assert sorted(e["profile"] for e in env.events("media.transcode_failed")) == [
        "preview",
        "thumbnails",
    ]
    assert list(env.store.list(f"assets/{asset_id}/")) == []  # nothing half-made is visible

    ffmpeg_wrapper["fail"].unlink()
    answer = env.http.post(
        f"{env.base}/api/media/assets/{asset_id}/retry",
        json={"profiles": ["preview"]},
        timeout=10,
    )
    assert answer.status_code == 202 and answer.json() == {"retried": ["preview"]}
    wait_until(lambda: job(env.call("get_asset", asset_id), "preview")["state"] == "done", 60)
    # a second retry of a finished job is refused; bulk retry picks up the rest
    again = env.http.post(
        f"{env.base}/api/media/assets/{asset_id}/retry", json={"profiles": ["preview"]}, timeout=10
    )
    assert again.status_code == 409
    bulk = env.http.post(f"{env.base}/api/media/retry-failed", timeout=10)
    assert bulk.json() == {"retried": {asset_id: ["thumbnails"]}}
    asset = env.asset_settled(asset_id)
    assert asset["status"] == "ready"
    assert job(asset, "preview")["attempt"] == 2
    with env.db.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(renditions).where(renditions.c.profile == "preview")
        ).scalar_one()
    assert count == 1
    generations = {i.key.split("/")[3] for i in env.store.list(f"assets/{asset_id}/preview/")}
    assert len(generations) == 1


def test_progress_queue_position_cancel_and_delete(
    media_env_factory: Any, clips: dict[str, Path], ffmpeg_wrapper: dict[str, Path]
) -> None:
    env = media_env_factory(profiles="preview,web", ffmpeg=str(ffmpeg_wrapper["bin"]))
    ffmpeg_wrapper["slow"].touch()  # encodes run at the clip's own pace (4 s)
    asset_id = upload(env, clips["slow"])

    def running_with_progress() -> dict[str, Any] | None:
        a = env.http.get(f"{env.base}/api/media/assets/{asset_id}", timeout=10).json()
        p = job(a, "preview")
        return a if p["state"] == "running" and p["percent"] > 0 else None

    asset = wait_until(running_with_progress, 30, interval=0.2, what="preview progress")
    preview = job(asset, "preview")
    assert preview["speed"] is not None and preview["eta_s"] is not None
    web = job(asset, "web")
    assert web["state"] == "queued" and web["queue_position"] == 1

    cancelled = env.http.post(f"{env.base}/api/media/assets/{asset_id}/cancel", timeout=10)
    assert sorted(cancelled.json()["cancelled"]) == ["preview", "web"]
    asset = env.asset_settled(asset_id)
    assert {j["state"] for j in asset["jobs"]} == {"cancelled"}
    assert asset["renditions"] == []
    wait_until(lambda: not list(env.store.list(f"assets/{asset_id}/")), 10, what="no outputs")

    ffmpeg_wrapper["slow"].unlink()
    retried = env.http.post(f"{env.base}/api/media/assets/{asset_id}/retry", timeout=10)
    assert sorted(retried.json()["retried"]) == ["preview", "web"]
    asset = env.asset_settled(asset_id)
    assert asset["status"] == "ready"
    original = asset["original_key"]

    gone = env.http.delete(f"{env.base}/api/media/assets/{asset_id}", timeout=10)
    assert gone.status_code == 204
    after = env.http.get(f"{env.base}/api/media/assets/{asset_id}", timeout=10).json()
    assert after["status"] == "deleted" and after["renditions"] == []
    assert list(env.store.list(f"assets/{asset_id}/")) == []
    assert not env.store.exists(original)
    assert [e["asset_id"] for e in env.events("media.asset_deleted")] == [asset_id]
    listed = env.http.get(f"{env.base}/api/media/assets", timeout=10).json()
    assert listed["items"] == []
    assert env.http.get(f"{env.base}/api/media/assets?status=nope", timeout=10).status_code == 422


def test_a_worker_killed_mid_encode_leaves_nothing_and_another_finishes(
    media_env_factory: Any,
    clips: dict[str, Path],
    ffmpeg_wrapper: dict[str, Path],
    container_factory: Any,
) -> None:
    env = media_env_factory(profiles="preview", ffmpeg=str(ffmpeg_wrapper["bin"]))
    ffmpeg_wrapper["slow"].touch()
    asset_id = upload(env, clips["slow"])
    wait_until(
        lambda: job(env.call("get_asset", asset_id), "preview")["percent"] > 0, 30,
        what="encode under way",
    )  # fmt: skip
    media_container = env.containers[0]
    media_container.kill()  # the job's message was never acked: the broker keeps it
    assert list(env.store.list(f"assets/{asset_id}/")) == []
    ffmpeg_wrapper["slow"].unlink()

    from services.media.service import MediaService

    fresh = container_factory(MediaService, media_container.config)
    fresh.start()
    env.containers.append(fresh)
    asset = env.asset_settled(asset_id, timeout=60)
    assert asset["status"] == "ready"
    preview = job(asset, "preview")
    assert preview["state"] == "done" and preview["attempt"] == 1
    assert len(asset["renditions"]) == 1
