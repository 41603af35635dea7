"""Worker concurrency never exhausts the connection pool, and a slow query in one worker does not
stall the others (psycopg2 made cooperative), on the real PostgreSQL."""

from __future__ import annotations

import time

from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.pool import NullPool

from shared.runtime.config import nameko_config
from shared.runtime.dependencies import DatabaseProvider
from shared.runtime.resources import database_for
from shared.runtime.rpc import rpc
from tests.conftest import wait_until

metadata = MetaData()


class SlowService:
    name = "slowdb"
    db = DatabaseProvider("slowdb", metadata)

    @rpc
    def slow(self, seconds: float) -> int:
        """Hold a connection for seconds; returns the most connections checked out of the pool
        seen from inside this unit of work (its own included)."""
        pool = self.db.engine.pool
        with self.db.session() as session:
            session.execute(text("SELECT 1"))  # the connection is checked out from here on
            before = pool.checkedout()
            session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
            return max(before, pool.checkedout())

    @rpc
    def fast(self) -> int:
        with self.db.session() as session:
            return int(session.execute(text("SELECT 1")).scalar_one())


def _sleeping_queries(url: str) -> int:
    """How many pg_sleep queries run on the server in url's database right now."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_slow_query_does_not_stall_other_workers(
    container_factory, make_settings, pg_database
) -> None:
    slow_s = 3.0
    settings = make_settings(database_url_template=pg_database("pool"), max_workers=10)
    container = container_factory(SlowService, nameko_config(settings))
    container.start()
    config = nameko_config(settings)
    url = settings.database_url("slowdb")
    with ServiceRpcProxy("slowdb", config) as slow, ServiceRpcProxy("slowdb", config) as fast:
        started = time.perf_counter()
        replies = [slow.slow.call_async(slow_s) for _ in range(5)]
        # With a blocking driver one pg_sleep would hold the whole process: never five at once.
        wait_until(
            lambda: _sleeping_queries(url) == 5,
            timeout=slow_s,
            what="the five slow queries running on the server together",
        )
        fast_started = time.perf_counter()
        assert fast.fast() == 1
        fast_s = time.perf_counter() - fast_started
        for r in replies:
            r.result()
        all_done = time.perf_counter() - started
    # Blocked behind them, the fast query would wait for the slow ones still running (over
    # 1.5 s of the 3 s); one after the other, the five would take 15 s.
    assert fast_s < 1.5, f"a fast query waited {fast_s:.2f}s behind slow ones"
    assert all_done < 2.5 * slow_s, f"five {slow_s} s queries in parallel took {all_done:.2f}s"


def test_more_calls_than_workers_never_exhaust_the_pool(
    container_factory, make_settings, pg_database
) -> None:
    # A pool timeout this short fails any call that has to wait for a connection at all.
    settings = make_settings(
        database_url_template=pg_database("pool"), max_workers=10, db_pool_timeout=0.1
    )
    container = container_factory(SlowService, nameko_config(settings))
    container.start()
    with ServiceRpcProxy("slowdb", nameko_config(settings)) as proxy:
        replies = [proxy.slow.call_async(0.5) for _ in range(40)]
        peaks = [r.result() for r in replies]  # a pool timeout would raise here
    db = database_for(settings, "slowdb", metadata)
    # Every worker held a connection at once (the pool was really under pressure), and the
    # pool had room for all of them without anyone waiting.
    assert max(peaks) == settings.max_workers, peaks
    assert max(peaks) <= db.engine.pool.size(), (peaks, db.engine.pool.size())
