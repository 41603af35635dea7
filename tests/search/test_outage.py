"""Elasticsearch going away: a clear 503 to searchers, and indexing that resumes, losing nothing.

The outage is real: the service reaches the real node through a TCP relay that the test closes
and reopens (closing connections in flight), not through a mock.
"""

from __future__ import annotations

import socket
import uuid
from typing import Any
from urllib.parse import urlparse

import eventlet
import pytest
from kombu import Connection
from nameko.standalone.rpc import ServiceRpcProxy

from services.search.domain import make_doc, parse_query
from services.search.index.es_index import ElasticsearchIndex
from services.search.service import SearchService
from shared.errors import Unavailable
from shared.events.deadletter import list_parked
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from tests.conftest import wait_until
from tests.search.conftest import es_url
from tests.search.test_service import item, publish


class Relay:
    """Forwards a local port to the Elasticsearch node while `up`."""

    def __init__(self, target: str) -> None:
        u = urlparse(target)
        self.target = (u.hostname or "localhost", u.port or 9200)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.server: Any = None
        self.conns: list[Any] = []
        self.threads: list[Any] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
            upstream = eventlet.connect(self.target)
            self.conns += [client, upstream]
            self.threads += [
                eventlet.spawn(self._pipe, client, upstream),
                eventlet.spawn(self._pipe, upstream, client),
            ]

    def up(self) -> None:
        self.server = eventlet.listen(("127.0.0.1", self.port))
        self.threads.append(eventlet.spawn(self._serve))

    def down(self) -> None:
        self.server.close()
        for c in self.conns:
            c.close()
        self.conns.clear()
        for t in self.threads:
            t.kill()
        self.threads.clear()


def test_a_down_backend_is_a_clear_503() -> None:
    relay = Relay(es_url())  # never started: nothing listens on its port
    index = ElasticsearchIndex(relay.url, "down")
    with pytest.raises(Unavailable) as exc:
        index.search(parse_query({"q": "một cửa"}))
    assert exc.value.status == 503 and "unavailable" in exc.value.detail
    with pytest.raises(Unavailable):
        index.ping()
    with pytest.raises(Unavailable):
        index.upsert(make_doc(doc_id="x", doc_type="article", title="x"), 1)


def test_indexing_resumes_after_an_outage(container_factory: Any, make_settings: Any) -> None:
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

            relay.down()
            for n in range(5):
                publish(settings, "publishing.item_published", item(f"b{n}", "Trong sự cố", 1))
            with pytest.raises(Unavailable):
                rpc.search({"q": "su co"}, "public")
            eventlet.sleep(2)  # events arrive and wait; none may be parked or dropped

            relay.up()
            wait_until(lambda: total() == 6, timeout=60, what="all events indexed after it")
        with Connection(settings.amqp_uri) as conn:
            assert list_parked(conn) == []
    finally:
        relay.down()
        index = ElasticsearchIndex(es_url(), prefix)
        index.drop()
        index.close()
        forget_databases()
