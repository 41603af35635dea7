"""Elasticsearch going away: a clear 503 to searchers, and indexing that resumes, losing nothing.

The outage is real: the service reaches the real node through a TCP relay that the test takes
down (resetting every connection, closing those in flight) and brings back, not through a mock.
"""

from __future__ import annotations

import logging
import socket
import struct
import uuid
from typing import Any
from urllib.parse import urlparse

import eventlet
import pytest
from kombu import Connection
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import select

from services.search.domain import make_doc, parse_query
from services.search.index.es_index import ElasticsearchIndex
from services.search.models import documents, metadata
from services.search.service import SearchService
from services.search.service import log as service_log
from shared.errors import Unavailable
from shared.events.deadletter import list_parked
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import database_for, forget_databases
from tests.conftest import wait_until
from tests.search.conftest import es_url
from tests.search.test_service import handled, item, publish


class Relay:
    """Forwards a local port to the Elasticsearch node while `up`.

    Its listening socket is held from creation to close(), so the port stays reserved for the
    whole test (nobody else can take it while the relay is down); while down, every connection
    is reset at once (and those in flight are closed), so clients fail fast, as with a node
    that went away.
    """

    def __init__(self, target: str) -> None:
        u = urlparse(target)
        self.target = (u.hostname or "localhost", u.port or 9200)
        self.server = eventlet.listen(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.is_up = False
        self.conns: list[Any] = []
        self.pipes: list[Any] = []
        self.acceptor = eventlet.spawn(self._serve)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _reset(sock: Any) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def _pipe(self, a: Any, b: Any) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                s.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.is_up:
                self._reset(client)
                continue
            try:
                upstream = eventlet.connect(self.target)
            except OSError:
                self._reset(client)
                continue
            self.conns += [client, upstream]
            self.pipes += [
                eventlet.spawn(self._pipe, client, upstream),
                eventlet.spawn(self._pipe, upstream, client),
            ]

    def up(self) -> None:
        self.is_up = True

    def down(self) -> None:
        self.is_up = False
        for t in self.pipes:
            t.kill()
        self.pipes.clear()
        for c in self.conns:
            c.close()
        self.conns.clear()

    def close(self) -> None:
        self.down()
        self.acceptor.kill()
        self.server.close()


def test_a_down_backend_is_a_clear_503() -> None:
    relay = Relay(es_url())  # never up: every connection is reset
    index = ElasticsearchIndex(relay.url, "down")
    try:
        with pytest.raises(Unavailable) as exc:
            index.search(parse_query({"q": "một cửa"}))
        assert exc.value.status == 503 and "unavailable" in exc.value.detail
        with pytest.raises(Unavailable):
            index.ping()
        with pytest.raises(Unavailable):
            index.upsert(make_doc(doc_id="x", doc_type="article", title="x"), 1)
    finally:
        index.close()
        relay.close()


def test_indexing_resumes_after_an_outage(
    container_factory: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=service_log.name)
    relay = Relay(es_url())
    relay.up()
    prefix = f"loatest-{uuid.uuid4().hex[:10]}"
    settings = make_settings(
        search_backend="elasticsearch",
        elasticsearch_url=relay.url,
        elasticsearch_index_prefix=prefix,
    )
    upgrade("search", settings.database_url("search"))
    container = container_factory(SearchService, nameko_config(settings))
    container.start()
    try:
        with ServiceRpcProxy("search", nameko_config(settings)) as rpc:

            def total() -> int:
                return int(rpc.search({}, "staff")["total"])

            publish(settings, "publishing.item_published", item("a", "Trước sự cố", 1))
            wait_until(lambda: total() == 1, what="indexed before the outage")

            caplog.clear()
            relay.down()
            during = [
                publish(settings, "publishing.item_published", item(f"b{n}", "Trong sự cố", 1))
                for n in range(5)
            ]
            with pytest.raises(Unavailable):
                rpc.search({"q": "su co"}, "public")
            # a handler really met the outage: it found the index unreachable and is waiting
            wait_until(
                lambda: any(
                    r.name == service_log.name and "search index unavailable" in r.getMessage()
                    for r in caplog.records
                ),
                timeout=60,
                what="a handler blocked by the outage",
            )
            assert not any(handled(settings, e) for e in during)  # none got past the index

            relay.up()
            wait_until(lambda: total() == 6, timeout=60, what="all events indexed after it")
            assert all(handled(settings, e) for e in during)
        # each written once: the first revision in the projection and in the index
        ids = ["item:a"] + [f"item:b{n}" for n in range(5)]
        db = database_for(settings, "search", metadata)
        with db.engine.connect() as conn:
            rows = conn.execute(select(documents.c.doc_id, documents.c.revision)).all()
        assert sorted((r.doc_id, r.revision) for r in rows) == [(i, 1) for i in ids]
        index = ElasticsearchIndex(es_url(), prefix)
        try:
            assert {i: index.version_of(i) for i in ids} == {i: (1, False) for i in ids}
        finally:
            index.close()
        with Connection(settings.amqp_uri) as conn:
            assert list_parked(conn) == []
    finally:
        relay.close()
        index = ElasticsearchIndex(es_url(), prefix)
        index.drop()
        index.close()
        forget_databases()
