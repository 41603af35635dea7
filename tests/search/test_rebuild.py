"""Rebuilding the search index from the owning services, end to end on real RabbitMQ.

Media, publishing, feedback and search run in nameko containers. Data is made in the owners
(publishing and feedback through their RPC workflows, so their events reach search; media assets
straight in media's database, so search has never heard of them). Then search's index and its
projection are wiped, and a rebuild asks the owners' export RPCs for everything: all of it is
findable again, nothing personal leaks, and events sent during the rebuild are not lost. An owner
that does not answer stops the rebuild with a clear 503 and the live index keeps serving.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from kombu import Connection
from sqlalchemy import delete, update

from services.feedback.service import FeedbackService
from services.gateway.auth.testing import signed_rpc
from services.media.domain import export as media_export
from services.media.domain import library
from services.media.models import assets
from services.media.models import metadata as media_metadata
from services.media.service import MediaService
from services.publishing.service import PublishingService
from services.search.models import applied_events, deliveries, documents
from services.search.models import metadata as search_metadata
from services.search.service import SearchService
from shared.config import Settings
from shared.db import Database
from shared.errors import InvalidInput, Unavailable
from shared.events.envelope import Envelope
from shared.events.topology import EVENTS_EXCHANGE, declare_topology
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from shared.runtime.rpc import register_error_subclasses
from tests.conftest import wait_until
from tests.search.conftest import drop_service_index, es_url

EDITOR = {"user": "bien-tap-vien", "role": "editor"}
PUBLISHER = {"user": "lanh-dao", "role": "publisher"}
OPERATOR = {"id": "op1", "role": "operator"}
SUPERVISOR = {"id": "adm1", "role": "admin"}  # the desk has no "supervisor" role
OWNERS = ("media", "publishing", "feedback")
register_error_subclasses()  # OwnerUnavailable arrives as itself


@pytest.fixture
def settings(make_settings: Any, backend: str) -> Iterator[Settings]:
    extra: dict[str, Any] = {"feedback_pii_key": Fernet.generate_key().decode()}
    if backend == "elasticsearch":
        extra |= {
            "search_backend": "elasticsearch",
            "elasticsearch_url": es_url(),
            "elasticsearch_index_prefix": f"loatest-{uuid.uuid4().hex[:10]}",
        }
    s = make_settings(**extra)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    for service in (*OWNERS, "search"):
        upgrade(service, s.database_url(service))
    with Connection(s.amqp_uri) as conn:
        declare_topology(conn)
    yield s
    drop_service_index(backend, s)
    forget_databases()


class Stack:
    def __init__(self, factory: Any, settings: Settings) -> None:
        self.factory = factory
        self.settings = settings
        self.config = nameko_config(settings)
        self.containers: dict[str, Any] = {}

    def start(self, name: str) -> None:
        cls = {
            "media": MediaService,
            "publishing": PublishingService,
            "feedback": FeedbackService,
            "search": SearchService,
        }[name]
        container = self.factory(cls, self.config)
        container.start()
        self.containers[name] = container

    def stop(self, name: str) -> None:
        self.containers.pop(name).stop()

    def rpc(self, service: str, timeout: float | None = 30) -> Any:
        return signed_rpc(service, self.settings, timeout=timeout)  # actors signed


@pytest.fixture
def stack(container_factory: Any, settings: Settings) -> Stack:
    s = Stack(container_factory, settings)
    for name in (*OWNERS, "search"):
        s.start(name)
    return s


def find(rpc: Any, q: str, **kw: Any) -> dict[str, Any]:
    return rpc.search({"q": q, "size": 50, **kw}, "staff")  # type: ignore[no-any-return]


def ids(rpc: Any, q: str, **kw: Any) -> set[str]:
    return {h["id"] for h in find(rpc, q, **kw)["hits"]}


def make_assets(settings: Settings) -> dict[str, str]:
    """Two ready clips and a deleted one, written by media's own domain functions."""
    db = Database("media", settings.database_url("media"), media_metadata)
    made = {}
    try:
        for name, title in (
            ("ready", "Phóng sự mùa lúa Bến Cát"),
            ("other", "Hướng dẫn nộp hồ sơ trực tuyến"),
            ("gone", "Clip đã xoá"),
        ):
            asset_id = str(uuid.uuid4())
            with db.session() as s:
                library.create_asset(
                    s,
                    asset_id=asset_id,
                    title=title,
                    filename=f"{name}.mp4",
                    content_type="video/mp4",
                    size=10,
                    sha256=uuid.uuid4().hex * 2,
                    original_key=f"originals/{asset_id}",
                    probe={"duration_s": 12.5, "video": {"display_width": 1280}},
                    upload_id=str(uuid.uuid4()),
                )
                s.execute(update(assets).where(assets.c.id == asset_id).values(status="ready"))
                if name == "gone":
                    library.mark_deleted(s, asset_id)
            made[name] = asset_id
        with db.session() as s:  # the export pages through all of them
            first = media_export.search_documents(s, None, 2)
            rest = media_export.search_documents(s, first["next"], 2)
        assert len(first["items"]) == 2 and first["next"] and rest["next"] is None
        types = {i["payload"]["asset_id"]: i["type"] for i in first["items"] + rest["items"]}
        assert types[made["gone"]] == "media.asset_deleted"
        assert types[made["ready"]] == "media.asset_ready"
        with pytest.raises(InvalidInput), db.session() as s:
            media_export.search_documents(s, None, 0)
    finally:
        db.dispose()
    return made


def publish_item(rpc: Any, title: str, body: str) -> str:
    item = rpc.create_item({"kind": "article", "title": title, "body": body}, EDITOR)
    rpc.transition(item["id"], "submit", EDITOR)
    rpc.transition(item["id"], "approve", PUBLISHER)
    d = rpc.schedule(item["id"], "portal", PUBLISHER)
    wait_until(lambda: rpc.get_delivery(d["id"])["status"] == "succeeded", 20, what="published")
    return str(item["id"])


def publish_answer(rpc: Any, question: str, answer: str) -> str:
    ticket = rpc.submit(
        {
            "channel": "portal",
            "category": "thu_tuc",
            "description": question,
            "contact": {"name": "Nguyễn Văn Bình", "phone": "0912 345 678"},
            "is_public": True,
        }
    )
    rpc.act(ticket["code"], "answer", {"answer": answer}, SUPERVISOR)
    rpc.act(ticket["code"], "publish", {}, SUPERVISOR)
    return str(ticket["id"])


def wipe_search(stack: Stack) -> None:
    """Lose everything search knew: its index and its projection (and the inbox record)."""
    stack.stop("search")
    s = stack.settings
    from services.search.index.factory import make_index

    idx = make_index(s)
    idx.drop()
    idx.close()
    db = Database("search", s.database_url("search"), search_metadata)
    with db.session() as session:
        for table in (documents, deliveries, applied_events):
            session.execute(delete(table))
    db.dispose()
    forget_databases()
    stack.start("search")


def send_event(settings: Settings, event_type: str, payload: dict[str, Any]) -> None:
    env = Envelope.new(event_type, payload, producer="test")
    with Connection(settings.amqp_uri) as conn:
        conn.Producer().publish(
            env.to_json(),
            exchange=EVENTS_EXCHANGE,
            routing_key=event_type,
            content_type="application/json",
            delivery_mode=2,
        )


def test_rebuild_from_the_owners_after_search_lost_everything(
    stack: Stack, settings: Settings
) -> None:
    clips = make_assets(settings)
    with stack.rpc("publishing") as pub, stack.rpc("feedback") as fb, stack.rpc("search") as se:
        kept = publish_item(pub, "Hướng dẫn thủ tục một cửa liên thông", "<p>Cấp sổ đỏ</p>")
        gone = publish_item(pub, "Thông báo tạm ngưng", "<p>Tạm ngưng tiếp dân</p>")
        pub.transition(gone, "withdraw", PUBLISHER, "sai thông tin")
        ticket = publish_answer(
            fb,
            "Tôi là Nguyễn Văn Bình, số 0912 345 678: thủ tục đăng ký khai sinh?",
            "Nộp tại UBND xã.",
        )
        wait_until(
            lambda: ids(se, "") == {f"item:{kept}", f"answer:{ticket}"},
            30,
            what="publishing and feedback events indexed",
        )

        wipe_search(stack)
        assert find(se, "")["total"] == 0

        # events while the rebuild runs: a newer version of the kept item, and a new answer
        reply = se.rebuild.call_async(page_size=1)
        send_event(
            settings,
            "publishing.item_published",
            {"item_id": kept, "kind": "article", "title": "Hướng dẫn mới một cửa liên thông",
             "version": 7, "published_at": "2026-01-02T00:00:00Z", "channels": ["portal"]},
        )  # fmt: skip
        late = publish_answer(fb, "Cho hỏi lệ phí cấp hộ chiếu?", "Theo quy định hiện hành.")
        done = reply.result()
        assert done["owners"]["media"] == 3 and done["owners"]["feedback"] >= 1
        assert done["owners"]["publishing"] >= 3  # two items and their deliveries

        staff = f"item:{kept}", f"answer:{ticket}", f"media:{clips['ready']}"
        wait_until(
            lambda: set(staff) | {f"answer:{late}", f"media:{clips['other']}"} == ids(se, ""),
            30,
            what="every owner's documents and the events sent during the rebuild",
        )
        assert ids(se, "mot cua") == {f"item:{kept}"}
        assert find(se, "mot cua")["hits"][0]["title"] == "Hướng dẫn mới một cửa liên thông"
        assert find(se, "", filters={"channel": ["portal"]})["total"] == 1
        assert ids(se, "phong su ben cat") == {f"media:{clips['ready']}"}
        assert ids(se, "khai sinh") == {f"answer:{ticket}"}
        assert ids(se, "tam ngung") == set()  # withdrawn stays gone
        answer = find(se, "khai sinh")["hits"][0]
        assert "0912" not in str(answer) and "Bình" not in str(answer)

        # once more, straight after: the same documents, nothing doubled
        again = se.rebuild()
        assert again["changed"] == 0
        assert find(se, "")["total"] == 5

        # an owner that does not answer: a clear 503 naming it; the live index keeps serving
        stack.stop("feedback")
        with pytest.raises(Unavailable) as err:
            se.rebuild(owner_timeout=2)
        assert "feedback" in str(err.value) and "current index stays live" in str(err.value)
        assert find(se, "")["total"] == 5 and ids(se, "khai sinh") == {f"answer:{ticket}"}

        # the admin API's rebuild runs on a worker and is followed by its id: with an owner down
        # it fails and says which; with all of them up it is done, with its report
        record = se.request_rebuild("admin")
        assert record["state"] == "queued" and record["requested_by"] == "admin"

        def ended(rebuild_id: str) -> dict[str, Any] | None:
            now = se.get_rebuild(rebuild_id)
            return now if now["state"] in ("done", "failed") else None

        failed = wait_until(lambda: ended(record["id"]), 90, what="the queued rebuild to end")
        assert failed["state"] == "failed" and "feedback" in failed["error"], failed
        assert find(se, "")["total"] == 5  # the live index kept serving
        stack.start("feedback")
        record = se.request_rebuild("admin")
        done = wait_until(lambda: ended(record["id"]), 90, what="the queued rebuild to end")
        assert done["state"] == "done" and done["attempts"] == 1, done
        assert done["report"]["owners"]["media"] == 3 and done["report"]["changed"] == 0
        assert [r["id"] for r in se.list_rebuilds()][:2] == [record["id"], failed["id"]]


def test_one_rebuild_at_a_time(tmp_path: Any) -> None:
    """A second request while one is queued or running is refused, naming the first; a rebuild
    that ended (or whose worker vanished for good) does not block the next."""
    from datetime import UTC, datetime, timedelta

    from services.search import rebuilds
    from services.search.models import rebuilds as table
    from shared.errors import Conflict

    url = f"sqlite:///{tmp_path}/search.db"
    upgrade("search", url)
    db = Database("search", url, search_metadata)
    try:
        with db.session() as s:
            first = rebuilds.request(s, "admin", True)
        with pytest.raises(Conflict) as err, db.session() as s:
            rebuilds.request(s, "admin", True)
        assert first["id"] in str(err.value)
        with db.session() as s:
            assert rebuilds.start(s, first["id"])
            assert rebuilds.start(s, first["id"])  # a redelivery after a worker died: again
            rebuilds.fail(s, first["id"], "no feedback service is running")
            assert not rebuilds.start(s, first["id"])  # ended: a late redelivery does nothing
            second = rebuilds.request(s, "admin", False)
            long_ago = datetime.now(UTC) - rebuilds.STALE_AFTER - timedelta(minutes=1)
            s.execute(update(table).where(table.c.id == second["id"]).values(requested_at=long_ago))
            third = rebuilds.request(s, "admin", True)  # the stale one does not block
            assert rebuilds.get(s, first["id"])["attempts"] == 2
        assert third["id"] != second["id"]
    finally:
        db.dispose()
