"""Worker concurrency never exhausts the connection pool, and a slow query in one worker does not
stall the others (psycopg2 made cooperative), on the real PostgreSQL."""

from __future__ import annotations

import time

import eventlet
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import MetaData, text

from shared.runtime.config import nameko_config
from shared.runtime.dependencies import DatabaseProvider
from shared.runtime.resources import database_for, pool_size
from shared.runtime.rpc import rpc

metadata = MetaData()


class SlowService:
    name = "slowdb"
    db = DatabaseProvider("slowdb", metadata)

    @rpc
    def slow(self, seconds: float) -> int:
        with self.db.session() as session:
            session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return self.db.engine.pool.checkedout()

    @rpc
    def fast(self) -> int:
        with self.db.session() as session:
            return int(session.execute(text("SELECT 1")).scalar_one())


def test_slow_query_does_not_stall_other_workers(
    container_factory, make_settings, pg_database
) -> None:
    settings = make_settings(database_url_template=pg_database("pool"), max_workers=10)
    container = container_factory(SlowService, nameko_config(settings))
    container.start()
    config = nameko_config(settings)
    with ServiceRpcProxy("slowdb", config) as slow, ServiceRpcProxy("slowdb", config) as fast:
        started = time.perf_counter()
        replies = [slow.slow.call_async(2.0) for _ in range(5)]
        eventlet.sleep(0.3)  # the slow queries are running on the server now
        assert fast.fast() == 1
        fast_done = time.perf_counter() - started
        for r in replies:
            r.result()
        all_done = time.perf_counter() - started
    # Blocking drivers would run the five 2 s queries one after the other (10 s) and the fast
    # one behind them.
    assert fast_done < 1.0, f"a fast query waited {fast_done:.2f}s behind slow ones"
    assert all_done < 4.0, f"five 2 s queries in parallel took {all_done:.2f}s"


def test_more_calls_than_workers_never_exhaust_the_pool(
    container_factory, make_settings, pg_database
) -> None:
    settings = make_settings(
        database_url_template=pg_database("pool"), max_workers=10, db_pool_timeout=2.0
    )
    container = container_factory(SlowService, nameko_config(settings))
    container.start()
    with ServiceRpcProxy("slowdb", nameko_config(settings)) as proxy:
        replies = [proxy.slow.call_async(0.3) for _ in range(40)]
        checked_out = [r.result() for r in replies]  # a pool timeout would raise here
    db = database_for(settings, "slowdb", metadata)
    assert max(checked_out) <= settings.max_workers
    assert pool_size(settings) == settings.max_workers + 4
    assert db.engine.pool.size() == pool_size(settings)
