"""Zalo OA adapter against a local Open API server: an article is created hidden, verified, and
shown only then; a video post uploads and verifies its clip first; broadcasting is a separate,
explicit delivery; token errors, rate limits and lost replies as Zalo answers them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from services.publishing.config import ChannelSettings
from services.publishing.domain import items, schedule
from services.publishing.domain.dispatch import DispatchConfig, Dispatcher, channel_states
from services.publishing.models import deliveries
from services.publishing.wiring import Transmitters
from shared.db import Database
from shared.errors import InvalidInput
from tests.publishing.conftest import PUBLISHER, approved_item
from tests.publishing.fakes import ZaloOA, zalo_error

P = items.Actor(**PUBLISHER)


@pytest.fixture
def zalo() -> Iterator[ZaloOA]:
    server = ZaloOA().start()
    yield server
    server.stop()


def zalo_dispatcher(db: Database, store: Any, oa: ZaloOA, token: str | None = None,
                    timeout: float = 5.0, **cfg: Any) -> Dispatcher:  # fmt: skip
    settings = ChannelSettings(zalo_api_url=oa.url, zalo_access_token=token or oa.TOKEN,
                               http_timeout_s=timeout, **cfg)  # fmt: skip
    return Dispatcher(db, Transmitters(settings, db, store, "http://loa.test"),
                      DispatchConfig(portal_url="http://loa.test/portal", attention_after=2),
                      sleep=lambda _s: None)  # fmt: skip


def plan(db: Database, d: Dispatcher, item_id: str, **options: Any) -> str:
    with db.session() as s:
        return str(schedule.schedule_delivery(s, item_id, "zalo", P, d.transmitter_for.cfg,
                                              db.record_event, options=options)["id"])  # fmt: skip


def row(db: Database, delivery_id: str) -> dict[str, Any]:
    with db.session() as s:
        return schedule.get_delivery(s, delivery_id)


def make_due(db: Database, delivery_id: str) -> None:
    with db.session() as s:
        s.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip


def article_item(db: Database, store: Any, **fields: Any) -> dict[str, Any]:
    store.put("img/bia.jpg", b"\xff\xd8cover", content_type="image/jpeg")
    return approved_item(
        db, title="Tra cứu hồ sơ qua Zalo", summary="Nhanh, gọn",
        body="<p>Đoạn một</p><p>Đoạn hai</p>",
        images=[{"key": "img/bia.jpg", "size": 7, "content_type": "image/jpeg"}],
        variants={"zalo": {"title": "Tra cứu hồ sơ trên Zalo OA"}}, **fields,
    )  # fmt: skip


def test_article_created_hidden_verified_then_shown(
    sqlite_db: Database, store: Any, zalo: ZaloOA
) -> None:
    item = article_item(sqlite_db, store)
    d = zalo_dispatcher(sqlite_db, store, zalo)
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    article = zalo.articles[r["remote_id"]]
    assert article["status"] == "show" and article["title"] == "Tra cứu hồ sơ trên Zalo OA"
    assert [b["content"] for b in article["body"]] == ["Đoạn một", "Đoạn hai"]
    assert article["cover"]["photo_url"].startswith("http://loa.test/")
    calls = [p for _, p in zalo.requests]
    assert calls == ["/v2.0/article/create", "/v2.0/article/verify", "/v2.0/article/update",
                     "/v2.0/article/verify"]  # fmt: skip
    assert not zalo.broadcasts  # broadcasting is never a side effect


def test_broadcast_is_a_separate_explicit_delivery(
    sqlite_db: Database, store: Any, zalo: ZaloOA
) -> None:
    item = article_item(sqlite_db, store)
    d = zalo_dispatcher(sqlite_db, store, zalo)
    with pytest.raises(InvalidInput) as err:  # nothing on Zalo yet to broadcast
        plan(sqlite_db, d, item["id"], broadcast=True)
    assert err.value.field == "options.broadcast"
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    article_id = row(sqlite_db, did)["remote_id"]
    bid = plan(sqlite_db, d, item["id"], broadcast=True, target={"cities": "4"})
    assert row(sqlite_db, bid)["options"]["article_id"] == article_id
    d.run_once()
    b = row(sqlite_db, bid)
    assert b["status"] == "succeeded", b["reason"]
    (sent,) = zalo.broadcasts
    payload = sent["message"]["attachment"]["payload"]
    assert payload["elements"] == [{"media_type": "article", "attachment_id": article_id}]
    assert sent["recipient"]["target"] == {"cities": "4"}


def test_video_post_uploads_and_verifies_its_clip(
    sqlite_db: Database, store: Any, zalo: ZaloOA
) -> None:
    zalo.video_checks_until_ready = 2  # processing on the first check
    store.put("renditions/z1/social.mp4", b"\x00\x00\x00\x18ftypmp42" * 1000,
              content_type="video/mp4")  # fmt: skip
    with sqlite_db.session() as s:
        renditions = {"social": "renditions/z1/social.mp4"}
        schedule.on_asset_ready(
            s, {"asset_id": "z1", "title": "Clip", "duration_s": 20, "renditions": renditions}
        )
    item = approved_item(sqlite_db, kind="video_post", asset_id="z1", title="Video hướng dẫn")
    d = zalo_dispatcher(sqlite_db, store, zalo, zalo_cover_url="https://loa.example/cover.jpg")
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "scheduled" and "processing the video" in r["reason"]
    assert r["progress"]["video_token"] and not zalo.articles
    make_due(sqlite_db, did)
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    article = zalo.articles[r["remote_id"]]
    assert article["type"] == "video" and article["status"] == "show"
    assert article["avatar"] == "https://loa.example/cover.jpg"
    uploads = [p for _, p in zalo.requests if p.endswith("/preparevideo")]
    assert len(uploads) == 1  # uploaded once, verified twice


def test_lost_reply_is_checked_not_created_twice(
    sqlite_db: Database, store: Any, zalo: ZaloOA
) -> None:
    # Zalo creates the article but its answer arrives after the client gave up.
    zalo.fail_next("/v2.0/article/create", 200, {"error": 0, "data": {"token": "late"}},
                   apply_first=True, delay=1.5)  # fmt: skip
    item = article_item(sqlite_db, store)
    d = zalo_dispatcher(sqlite_db, store, zalo, timeout=0.5)
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "succeeded", r["reason"]
    assert len(zalo.articles) == 1 and zalo.articles[r["remote_id"]]["status"] == "show"
    assert ("GET", "/v2.0/article/getslice") in zalo.requests


def test_rate_limit_waits_and_an_invalid_token_needs_attention(
    sqlite_db: Database, store: Any, zalo: ZaloOA
) -> None:
    zalo.fail_next("/v2.0/article/create", 200,
                   zalo_error(-32, "The app has exceeded its request limit"))  # fmt: skip
    d = zalo_dispatcher(sqlite_db, store, zalo)
    did = plan(sqlite_db, d, article_item(sqlite_db, store)["id"])
    before = datetime.now(UTC)
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "scheduled" and "rate limited" in r["reason"]
    assert r["next_attempt_at"].replace(tzinfo=UTC) >= before + timedelta(seconds=59)
    bad = zalo_dispatcher(sqlite_db, store, zalo, token="expired")
    ids = [plan(sqlite_db, bad, article_item(sqlite_db, store)["id"]) for _ in range(2)]
    bad.run_once()
    failed = [row(sqlite_db, i) for i in ids]
    assert all(f["status"] == "failed" for f in failed)
    assert "-216" in failed[0]["reason"] and "LOA_PUB_ZALO_ACCESS_TOKEN" in failed[0]["reason"]
    state = {s["channel"]: s for s in channel_states(sqlite_db)}["zalo"]
    assert state["status"] == "needs_attention"


def test_a_refused_article_says_why(sqlite_db: Database, store: Any, zalo: ZaloOA) -> None:
    item = approved_item(sqlite_db, title="Không có ảnh bìa")  # and no default cover set
    d = zalo_dispatcher(sqlite_db, store, zalo)
    did = plan(sqlite_db, d, item["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "failed" and "LOA_PUB_ZALO_COVER_URL" in r["reason"]
    assert not zalo.articles


def test_content_zalo_refuses_stops_with_its_reason(
    sqlite_db: Database, store: Any, zalo: ZaloOA
) -> None:
    zalo.fail_next("/v2.0/article/create", 200, zalo_error(-201, "body contains invalid content"))
    d = zalo_dispatcher(sqlite_db, store, zalo)
    did = plan(sqlite_db, d, article_item(sqlite_db, store)["id"])
    d.run_once()
    r = row(sqlite_db, did)
    assert r["status"] == "failed" and "invalid content" in r["reason"]
    assert "refused" in r["reason"] and "ACCESS_TOKEN" not in r["reason"]
