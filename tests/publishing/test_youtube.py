"""YouTube adapter against a local Data API v3 server: resumable upload in chunks, resume after an
interruption from the Range the server reports (never from zero, never twice), a worker that died
mid-upload, privacy and publishAt, quota and token errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from services.publishing.config import ChannelSettings
from services.publishing.domain import items, schedule
from services.publishing.domain.dispatch import DispatchConfig, Dispatcher
from services.publishing.models import deliveries
from services.publishing.transmitters.youtube import QUANTUM, YouTubeTransmitter
from services.publishing.wiring import Transmitters
from shared.db import Database
from tests.publishing.conftest import PUBLISHER, approved_item
from tests.publishing.fakes import YouTubeApi, google_error

P = items.Actor(**PUBLISHER)
VIDEO = bytes(range(256)) * (5 * QUANTUM // 256) + b"tail"  # five chunks and a bit


@pytest.fixture
def youtube() -> Iterator[YouTubeApi]:
    server = YouTubeApi().start()
    yield server
    server.stop()


def yt_dispatcher(db: Database, store: Any, yt: YouTubeApi, token: str | None = None,
                  timeout: float = 5.0) -> Dispatcher:  # fmt: skip
    cfg = ChannelSettings(youtube_api_url=yt.url, youtube_access_token=token or yt.TOKEN,
                          http_timeout_s=timeout)  # fmt: skip
    transmitters = Transmitters(cfg, db, store, "http://loa.test")
    transmitters._built["youtube"] = _small_chunks(transmitters("youtube"))
    return Dispatcher(db, transmitters, DispatchConfig(portal_url="http://loa.test/portal"),
                      sleep=lambda _s: None)  # fmt: skip


def _small_chunks(transmitter: Any) -> Any:
    transmitter.chunk_size = QUANTUM  # a few chunks for a small test clip
    return transmitter


def video_item(db: Database, store: Any, **fields: Any) -> dict[str, Any]:
    store.put("renditions/yt1/web.mp4", VIDEO, content_type="video/mp4")
    with db.session() as s:
        schedule.on_asset_ready(s, {"asset_id": "yt1", "title": "Clip", "duration_s": 42,
                                    "renditions": {"web": "renditions/yt1/web.mp4"}})  # fmt: skip
    return approved_item(db, kind="video_post", asset_id="yt1",
                         title="Hướng dẫn nộp hồ sơ trực tuyến", **fields)  # fmt: skip


def plan(db: Database, d: Dispatcher, item_id: str, **options: Any) -> str:
    with db.session() as s:
        return str(schedule.schedule_delivery(s, item_id, "youtube", P, d.transmitter_for.cfg,
                                              db.record_event, options=options)["id"])  # fmt: skip


def row(db: Database, delivery_id: str) -> dict[str, Any]:
    with db.session() as s:
        return schedule.get_delivery(s, delivery_id)


def test_resumable_upload_in_chunks_with_privacy_and_publish_at(
    sqlite_db: Database, store: Any, youtube: YouTubeApi
) -> None:
    item = video_item(sqlite_db, store, tags=["dịch vụ công"])
    d = yt_dispatcher(sqlite_db, store, youtube)
    publish_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    did = plan(sqlite_db, d, item["id"], publish_at=publish_at)
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    video = youtube.videos[r["remote_id"]]
    assert video["bytes"] == VIDEO
    assert r["url"] == f"https://www.youtube.com/watch?v={r['remote_id']}"
    assert video["snippet"]["title"] == "Hướng dẫn nộp hồ sơ trực tuyến"
    assert video["snippet"]["tags"] == ["dịch vụ công"]
    # publishAt only works on private videos: YouTube makes them public at that time.
    assert video["status"]["privacyStatus"] == "private"
    assert video["status"]["publishAt"] == publish_at
    puts = [p for m, p in youtube.requests if m == "PUT"]
    assert len(puts) == 6 and youtube.received_bytes == len(VIDEO)  # each byte sent once


def test_interrupted_upload_resumes_from_the_servers_range(
    sqlite_db: Database, store: Any, youtube: YouTubeApi
) -> None:
    # The connection breaks in the third chunk: the server kept 2.5 chunks, the client never
    # hears back (read timeout). The next try asks the session (bytes */total) and goes on
    # from the Range the server reports.
    youtube.interrupt_at = 2 * QUANTUM + QUANTUM // 2
    item = video_item(sqlite_db, store)
    d = yt_dispatcher(sqlite_db, store, youtube, timeout=0.5)
    did = plan(sqlite_db, d, item["id"], privacy="unlisted")
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    assert len(youtube.sessions) == 1 and len(youtube.videos) == 1  # one upload, one video
    video = youtube.videos[r["remote_id"]]
    assert video["bytes"] == VIDEO and video["status"]["privacyStatus"] == "unlisted"
    # Resent: only the half chunk the server had not kept (plus the chunk cut short).
    assert youtube.received_bytes < len(VIDEO) + QUANTUM


def test_a_worker_dying_mid_upload_is_resumed_by_the_next(
    sqlite_db: Database, store: Any, youtube: YouTubeApi
) -> None:
    item = video_item(sqlite_db, store)
    d = yt_dispatcher(sqlite_db, store, youtube)
    did = plan(sqlite_db, d, item["id"])
    # The first worker: its session got 2 chunks, then it died (lease left to expire).
    transmitter = d.transmitter_for("youtube")
    assert isinstance(transmitter, YouTubeTransmitter)
    session = transmitter._start({"snippet": {"title": "Clip"}, "status": {
        "privacyStatus": "public"}}, len(VIDEO), "video/mp4")  # fmt: skip
    transmitter.http.put(session, data=VIDEO[: 2 * QUANTUM], headers={
        "Authorization": f"Bearer {youtube.TOKEN}",
        "Content-Range": f"bytes 0-{2 * QUANTUM - 1}/{len(VIDEO)}"})  # fmt: skip
    with sqlite_db.session() as s:
        s.execute(update(deliveries).where(deliveries.c.id == did).values(
            status="sending", attempts=1, lease_until=datetime.now(UTC) - timedelta(seconds=1),
            progress={"upload_url": session, "offset": 2 * QUANTUM}))  # fmt: skip
    before = youtube.received_bytes
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    assert len(youtube.sessions) == 1 and youtube.videos[r["remote_id"]]["bytes"] == VIDEO
    assert youtube.received_bytes - before == len(VIDEO) - 2 * QUANTUM


def test_quota_and_token_errors(sqlite_db: Database, store: Any, youtube: YouTubeApi) -> None:
    item = video_item(sqlite_db, store)
    youtube.fail_next("/upload/youtube/v3/videos", 403, google_error(
        403, "quotaExceeded", "The request cannot be completed because you have exceeded your "
        "quota."), method="POST")  # fmt: skip
    d = yt_dispatcher(sqlite_db, store, youtube)
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "scheduled" and "quotaExceeded" in r["reason"]
    assert r["next_attempt_at"].replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(minutes=1)
    assert not youtube.videos
    # A rate limit with Retry-After is waited out; an invalid token stops the delivery.
    expired = yt_dispatcher(sqlite_db, store, youtube, token="ya29.expired")
    other = plan(sqlite_db, expired, video_item(sqlite_db, store)["id"])
    expired.run_once()
    failed = row(sqlite_db, other)
    assert failed["status"] == "failed"
    assert "401" in failed["reason"] and "LOA_PUB_YOUTUBE_ACCESS_TOKEN" in failed["reason"]


def test_server_errors_mid_upload_are_retried_without_restarting(
    sqlite_db: Database, store: Any, youtube: YouTubeApi
) -> None:
    youtube.fail_next("/upload/youtube/v3/videos", 503,
                      google_error(503, "backendError", "Backend Error"), method="PUT")  # fmt: skip
    item = video_item(sqlite_db, store)
    d = yt_dispatcher(sqlite_db, store, youtube)
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    assert len(youtube.sessions) == 1 and youtube.videos[r["remote_id"]]["bytes"] == VIDEO
