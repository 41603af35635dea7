"""The service itself under nameko on a real RabbitMQ: RPC workflow, the timer-driven scheduler
sending to the portal, and media events releasing a waiting video post."""

from __future__ import annotations

from typing import Any

import pytest
from kombu import Connection

from services.gateway.auth.testing import signed_rpc
from services.publishing.service import PublishingService
from shared.errors import InvalidInput
from shared.events.envelope import Envelope
from shared.migrations import upgrade
from shared.runtime import rpc as _rpc_errors  # noqa: F401 - errors cross RPC as themselves
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from tests.conftest import wait_until
from tests.publishing.conftest import EDITOR, PUBLISHER


@pytest.fixture
def running(container_factory: Any, make_settings: Any) -> Any:
    settings = make_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade("publishing", settings.database_url("publishing"))
    container = container_factory(PublishingService, nameko_config(settings))
    container.start()
    yield settings
    forget_databases()


def _emit(settings: Any, event_type: str, payload: dict[str, Any]) -> None:
    env = Envelope.new(event_type, payload, producer="media")
    with Connection(settings.amqp_uri) as conn:
        conn.Producer().publish(env.to_json(), exchange="loa.events", routing_key=event_type,
                                content_type="application/json", delivery_mode=2)  # fmt: skip


def test_write_approve_schedule_and_the_timer_publishes(running: Any) -> None:
    with signed_rpc("publishing", running) as rpc:
        item = rpc.create_item({"kind": "article", "title": "Cổng dịch vụ công",
                                "body": "<p>Nội dung</p>", "plan_task": 1}, EDITOR)  # fmt: skip
        rpc.transition(item["id"], "submit", EDITOR)
        rpc.transition(item["id"], "approve", PUBLISHER)
        with pytest.raises(InvalidInput) as err:
            rpc.schedule(item["id"], "myspace", PUBLISHER)
        assert err.value.args[1] == "channel"
        d = rpc.schedule(item["id"], "portal", PUBLISHER)
        wait_until(lambda: rpc.get_delivery(d["id"])["status"] == "succeeded", 15,
                   what="the timer to send the delivery")  # fmt: skip
        assert rpc.get_item(item["id"])["status"] == "published"
        assert "Cổng dịch vụ công" in rpc.feed("rss")
        assert rpc.get_rendition(item["id"], "portal")["sequence"] == 1


def test_video_post_waits_for_media_events(running: Any) -> None:
    _emit(running, "media.asset_uploaded", {"asset_id": "v1", "title": "Clip", "filename": "a.mp4",
          "size": 10, "sha256": "0" * 64})  # fmt: skip
    with signed_rpc("publishing", running) as rpc:

        def create() -> Any:
            try:
                return rpc.create_item({"kind": "video_post", "title": "Clip",
                                        "asset_id": "v1"}, EDITOR)  # fmt: skip
            except InvalidInput:
                return None

        item = wait_until(create, 10, what="the asset to be known from media.asset_uploaded")
        rpc.transition(item["id"], "submit", EDITOR)
        rpc.transition(item["id"], "approve", PUBLISHER)
        d = rpc.schedule(item["id"], "portal", PUBLISHER)
        assert d["status"] == "waiting_media"
        _emit(running, "media.asset_ready", {"asset_id": "v1", "title": "Clip",
              "renditions": {"web": "r/v1/web.mp4"}})  # fmt: skip
        wait_until(lambda: rpc.get_delivery(d["id"])["status"] == "succeeded", 15,
                   what="the waiting delivery to go out after asset_ready")  # fmt: skip
