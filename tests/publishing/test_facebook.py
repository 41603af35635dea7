"""Facebook Page adapter against a local Graph API: posts with photos, 429 with Retry-After,
expired tokens flipping the channel to "needs attention", unknown outcomes checked before any
retry, chunked video upload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from services.publishing.config import ChannelSettings
from services.publishing.domain import items, schedule
from services.publishing.domain.dispatch import DispatchConfig, Dispatcher, channel_states
from services.publishing.models import deliveries
from services.publishing.wiring import Transmitters
from shared.db import Database
from tests.publishing.conftest import PUBLISHER, approved_item, events_of
from tests.publishing.fakes import FacebookGraph, graph_error

P = items.Actor(**PUBLISHER)


def fb_dispatcher(db: Database, store: Any, fb: FacebookGraph, token: str | None = None,
                  timeout: float = 5.0) -> Dispatcher:  # fmt: skip
    cfg = ChannelSettings(
        facebook_graph_url=f"{fb.url}/v21.0", facebook_page_id=fb.PAGE,
        facebook_page_token=token or fb.TOKEN, http_timeout_s=timeout,
    )  # fmt: skip
    return Dispatcher(db, Transmitters(cfg, db, store, "http://loa.test"),
                      DispatchConfig(portal_url="http://loa.test/portal", attention_after=2),
                      sleep=lambda _s: None)  # fmt: skip


def plan(db: Database, d: Dispatcher, item_id: str) -> str:
    with db.session() as s:
        return str(schedule.schedule_delivery(
            s, item_id, "facebook", P, d.transmitter_for.cfg, db.record_event)["id"])  # fmt: skip


def row(db: Database, delivery_id: str) -> dict[str, Any]:
    with db.session() as s:
        return schedule.get_delivery(s, delivery_id)


def make_due(db: Database, delivery_id: str) -> None:
    with db.session() as s:
        s.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip


def test_post_with_photo_and_link(sqlite_db: Database, store: Any, facebook: FacebookGraph) -> None:
    store.put("img/p.jpg", b"\xff\xd8" + b"x" * 1000, content_type="image/jpeg")
    item = approved_item(
        sqlite_db,
        title="Nộp hồ sơ trực tuyến",
        summary="Nhanh hơn",
        images=[{"key": "img/p.jpg", "size": 1002}],
        variants={"facebook": {"text": "Bà con ơi, nộp hồ sơ online nhé!"}},
    )
    d = fb_dispatcher(sqlite_db, store, facebook)
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    post = facebook.posts[r["remote_id"]]
    assert post["message"].startswith("Bà con ơi, nộp hồ sơ online nhé!")
    assert post["message"].endswith(f"http://loa.test/portal/{item['id']}")
    assert len(post["attached_media"]) == 1 and r["url"].endswith(r["remote_id"])


def test_429_waits_for_retry_after(
    sqlite_db: Database, store: Any, facebook: FacebookGraph
) -> None:
    facebook.fail_next("/feed", 429, graph_error(4, "Application request limit reached"),
                       {"Retry-After": "120"})  # fmt: skip
    d = fb_dispatcher(sqlite_db, store, facebook)
    did = plan(sqlite_db, d, approved_item(sqlite_db)["id"])
    before = datetime.now(UTC)
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "scheduled" and "rate limited" in r["reason"]
    nxt = r["next_attempt_at"].replace(tzinfo=UTC)
    assert nxt >= before + timedelta(seconds=119)
    assert not facebook.posts
    make_due(sqlite_db, did)
    d.run_once()
    assert row(sqlite_db, did)["status"] == "succeeded" and len(facebook.posts) == 1


def test_expired_token_stops_and_channel_needs_attention(
    sqlite_db: Database, store: Any, facebook: FacebookGraph
) -> None:
    d = fb_dispatcher(sqlite_db, store, facebook, token="EXPIRED")
    ids = [plan(sqlite_db, d, approved_item(sqlite_db)["id"]) for _ in range(3)]
    d.run_once()
    rows = [row(sqlite_db, i) for i in ids]
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 2  # the third waits: the channel is paused after two
    assert "190" in failed[0]["reason"] and "LOA_PUB_FACEBOOK_PAGE_TOKEN" in failed[0]["reason"]
    assert [r["status"] for r in rows].count("scheduled") == 1
    state = {s["channel"]: s for s in channel_states(sqlite_db)}["facebook"]
    assert state["status"] == "needs_attention"
    (attention,) = events_of(sqlite_db, "publishing.channel_needs_attention")
    assert attention["channel"] == "facebook" and "190" in attention["reason"]
    assert {e["delivery_id"] for e in events_of(sqlite_db, "publishing.delivery_failed")} == {
        r["id"] for r in failed
    }
    assert d.run_once() == 0  # paused: nothing more is tried


def test_unknown_outcome_is_checked_with_the_page_before_retry(
    sqlite_db: Database, store: Any, facebook: FacebookGraph
) -> None:
    # Facebook creates the post but the reply never arrives in time.
    facebook.fail_next("/feed", 200, {"id": "late"}, apply_first=True, delay=1.5)
    d = fb_dispatcher(sqlite_db, store, facebook, timeout=0.5)
    did = plan(sqlite_db, d, approved_item(sqlite_db)["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    assert len(facebook.posts) == 1  # found on the Page, not posted twice
    assert r["remote_id"] == next(iter(facebook.posts))
    assert ("GET", f"/v21.0/{facebook.PAGE}/feed") in facebook.requests


def test_video_goes_up_in_chunks(sqlite_db: Database, store: Any, facebook: FacebookGraph) -> None:
    facebook.chunk = 256 * 1024
    video = bytes(range(256)) * 4096  # 1 MiB
    store.put("renditions/a1/social.mp4", video, content_type="video/mp4")
    with sqlite_db.session() as s:
        schedule.on_asset_ready(
            s,
            {
                "asset_id": "a1",
                "title": "Clip",
                "duration_s": 30,
                "renditions": {"social": "renditions/a1/social.mp4"},
            },
        )
    item = approved_item(sqlite_db, kind="video_post", asset_id="a1", title="Hướng dẫn nộp hồ sơ")
    d = fb_dispatcher(sqlite_db, store, facebook)
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    uploaded = facebook.videos[r["remote_id"]]
    assert bytes(uploaded["data"]) == video and uploaded["status"] == "ready"
    assert uploaded["title"] == "Hướng dẫn nộp hồ sơ"
    transfers = [p for m, p in facebook.requests if p.endswith("/videos")]
    assert len(transfers) == 1 + 4 + 1  # start, four chunks, finish


def test_native_scheduled_publishing_hands_the_time_to_facebook(
    sqlite_db: Database, store: Any, facebook: FacebookGraph
) -> None:
    # loa sends now; Facebook's own scheduler publishes at publish_at (loa may be down then).
    d = fb_dispatcher(sqlite_db, store, facebook)
    publish_at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    item = approved_item(sqlite_db, title="Lịch tiếp công dân tháng 3")
    with sqlite_db.session() as s:
        did = schedule.schedule_delivery(
            s, item["id"], "facebook", P, d.transmitter_for.cfg, sqlite_db.record_event,
            options={"native_schedule": True, "publish_at": publish_at.isoformat()},
        )["id"]  # fmt: skip
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    post = facebook.posts[r["remote_id"]]
    assert post["published"] is False
    assert post["scheduled_publish_time"] == str(int(publish_at.timestamp()))
    # An unknown outcome is looked up among the Page's scheduled posts too.
    found = d.transmitter_for("facebook").find(_job_for(sqlite_db, d, did))
    assert found is not None and found.remote_id == r["remote_id"]
    assert ("GET", f"/v21.0/{facebook.PAGE}/scheduled_posts") in facebook.requests
    # Too close to now for Facebook's scheduler (it wants 10 minutes): posted at once instead.
    soon = approved_item(sqlite_db, title="Tin gấp")
    with sqlite_db.session() as s:
        sid = schedule.schedule_delivery(
            s, soon["id"], "facebook", P, d.transmitter_for.cfg, sqlite_db.record_event,
            options={"native_schedule": True,
                     "publish_at": (datetime.now(UTC) + timedelta(minutes=2)).isoformat()},
        )["id"]  # fmt: skip
    d.run_once()
    assert facebook.posts[row(sqlite_db, sid)["remote_id"]]["published"] is True


def _job_for(db: Database, d: Dispatcher, delivery_id: str) -> Any:
    from services.publishing.transmitters.base import Job

    r = row(db, delivery_id)
    with db.session() as s:
        item = items.get_item(s, r["item_id"])
    files, seq = d._rendition(r, item)
    return Job(delivery_id=r["id"], idempotency_key=r["idempotency_key"], channel="facebook",
               item=item, files=files, options=r["options"], due_at=r["due_at"],
               sequence=seq, claimed_at=datetime.now(UTC))  # fmt: skip
