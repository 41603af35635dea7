"""The search service end to end: real events through RabbitMQ into a real index, queried by RPC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import select

from services.search.models import applied_events, documents, metadata
from services.search.service import SUBSCRIPTION, SearchService
from shared.config import Settings
from shared.errors import InvalidInput
from shared.events.envelope import Envelope
from shared.events.topology import EVENTS_EXCHANGE
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import database_for, forget_databases
from tests.conftest import wait_until
from tests.search.conftest import drop_service_index, es_url


@pytest.fixture
def search_settings(make_settings: Any, backend: str, tmp_path: Path) -> Iterator[Settings]:
    import uuid

    if backend == "elasticsearch":
        settings = make_settings(
            search_backend="elasticsearch",
            elasticsearch_url=es_url(),
            elasticsearch_index_prefix=f"loatest-{uuid.uuid4().hex[:10]}",
        )
    else:
        settings = make_settings()
    upgrade("search", settings.database_url("search"))  # the real migrations
    yield settings
    drop_service_index(backend, settings)
    forget_databases()


@pytest.fixture
def search_container(container_factory: Any, search_settings: Settings) -> Any:
    container = container_factory(SearchService, nameko_config(search_settings))
    container.start()
    return container


def publish(settings: Settings, event_type: str, payload: dict[str, Any], times: int = 1) -> str:
    env = Envelope.new(event_type, payload, producer="test")
    with Connection(settings.amqp_uri) as conn:
        producer = conn.Producer()
        for _ in range(times):
            producer.publish(
                env.to_json(),
                exchange=EVENTS_EXCHANGE,
                routing_key=event_type,
                content_type="application/json",
                delivery_mode=2,
            )
    return env.id


def handled(settings: Settings, event_id: str) -> bool:
    """The search service recorded this event as applied (its inbox row is committed together
    with the projection change and after the index write)."""
    db = database_for(settings, "search", metadata)
    with db.engine.connect() as conn:
        row = conn.execute(
            select(applied_events.c.event_id).where(
                applied_events.c.subscription == SUBSCRIPTION,
                applied_events.c.event_id == event_id,
            )
        ).first()
    return row is not None


def wait_handled(settings: Settings, event_id: str, what: str) -> None:
    wait_until(lambda: handled(settings, event_id), what=f"{what} handled")
    refresh_index(settings)  # what the handler wrote is visible to searches


def refresh_index(settings: Settings) -> None:
    if settings.search_backend == "elasticsearch":  # tantivy writes are visible at once
        from services.search.index.factory import make_index

        idx = make_index(settings)
        try:
            idx.refresh()
        finally:
            idx.close()


def projected(settings: Settings, doc_id: str) -> tuple[int, bool, str | None]:
    """(source_version, deleted, doc JSON) of a document in the search projection."""
    db = database_for(settings, "search", metadata)
    with db.engine.connect() as conn:
        row = conn.execute(
            select(documents.c.source_version, documents.c.deleted, documents.c.doc).where(
                documents.c.doc_id == doc_id
            )
        ).one()
    return row.source_version, row.deleted, row.doc


def item(item_id: str, title: str, version: int, **kw: Any) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "kind": "article",
        "title": title,
        "version": version,
        "published_at": f"2024-04-0{version}T01:00:00Z",
        **kw,
    }


def test_events_flow_into_search(search_container: Any, search_settings: Settings) -> None:
    s = search_settings
    with ServiceRpcProxy("search", nameko_config(s)) as rpc:

        def find(q: str, visibility: str = "public", **kw: Any) -> dict[str, Any]:
            return rpc.search({"q": q, **kw}, visibility)  # type: ignore[no-any-return]

        def titles(q: str, visibility: str = "public") -> list[str]:
            return [h["title"] for h in find(q, visibility)["hits"]]

        publish(
            s,
            "publishing.item_published",
            item("i1", "Hướng dẫn một cửa liên thông", 2, channels=["portal"]),
            times=3,
        )
        publish(
            s,
            "feedback.answer_published",
            {
                "ticket_id": "t1",
                "code": "BD-7",
                "category": "đất đai",
                "question": "Liên hệ 0912345678 về thủ tục cấp sổ đỏ?",
                "answer": "Nộp hồ sơ tại bộ phận một cửa.",
                "answered_at": "2024-04-02T00:00:00Z",
            },
        )
        publish(
            s,
            "media.asset_ready",
            {"asset_id": "m1", "title": "Phóng sự mùa lúa", "subtitles_text": "nông dân Bến Cát"},
        )
        wait_until(lambda: find("", "staff")["total"] == 3, what="three documents indexed")

        got = find("mot cua")
        assert got["total"] == 2
        assert {h["id"] for h in got["hits"]} == {"item:i1", "answer:t1"}
        hit = next(h for h in got["hits"] if h["id"] == "item:i1")
        assert hit["highlight"]["title"] == "Hướng dẫn <mark>một</mark> <mark>cửa</mark> liên thông"
        answer = find("so do")["hits"][0]
        assert "0912345678" not in str(answer) and "[phone]" in answer["title"]
        assert titles("ben cat") == [] and titles("ben cat", "staff") == ["Phóng sự mùa lúa"]

        # a delivery merges into its item; a late older version changes nothing
        publish(
            s,
            "publishing.delivery_succeeded",
            {"delivery_id": "d1", "item_id": "i1", "channel": "zalo"},
        )
        stale = publish(s, "publishing.item_published", item("i1", "Bản cũ", 1))
        wait_until(
            lambda: find("", filters={"channel": ["zalo"]})["total"] == 1,
            what="the delivery merged",
        )
        wait_handled(s, stale, "the stale v1")
        assert titles("ban cu") == []
        version, deleted, doc = projected(s, "item:i1")
        assert (version, deleted) == (2, False) and "Bản cũ" not in (doc or "")
        publish(s, "publishing.item_published", item("i1", "Hướng dẫn mới một cửa", 3))
        wait_until(lambda: titles("huong dan moi") == ["Hướng dẫn mới một cửa"], what="v3")
        assert find("", filters={"channel": ["zalo"]})["total"] == 1  # deliveries kept

        # withdrawn: gone, and a redelivered older publish cannot bring it back
        publish(s, "publishing.item_withdrawn", {"item_id": "i1", "version": 4})
        wait_until(lambda: titles("huong dan") == [], what="the withdrawal")
        late = publish(s, "publishing.item_published", item("i1", "Hướng dẫn mới một cửa", 3))
        publish(s, "media.asset_ready", {"asset_id": "m2", "title": "Đánh dấu"})
        wait_until(lambda: titles("danh dau", "staff") == ["Đánh dấu"], what="a later event")
        wait_handled(s, late, "the redelivered v3")
        assert titles("huong dan") == []
        assert projected(s, "item:i1") == (4, True, None)

        # bad input is a clear 4xx
        with pytest.raises(InvalidInput) as exc:
            rpc.search({"q": "x", "filters": {"colour": "red"}}, "public")
        assert "colour" in str(exc.value)

        # rebuild: a new versioned index behind the alias, same answers
        health = rpc.health()
        assert health["ready"] and health["checks"]["index"]["ok"]
        done = rpc.rebuild(from_owners=False)  # the projection only: no owner runs here
        assert done["documents"] == 4  # i1 tombstone, t1, m1, m2
        wait_until(lambda: find("", "staff")["total"] == 3, what="the rebuilt index")
        assert titles("huong dan") == []
        assert titles("phong su", "staff") == ["Phóng sự mùa lúa"]
