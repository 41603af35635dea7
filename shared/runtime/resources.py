"""Process-wide resources shared by the services running in one process (one engine per database,
one object store, one relay per producing service)."""

from __future__ import annotations

import threading

from sqlalchemy import MetaData

from shared.config import Settings
from shared.db import Database

_lock = threading.Lock()
_databases: dict[tuple[str, str], Database] = {}


def pool_size(settings: Settings) -> int:
    # Every worker may hold a connection; plus the relay, the event parker and health checks.
    return settings.db_pool_size or settings.max_workers + 4


def database_for(settings: Settings, service: str, metadata: MetaData) -> Database:
    url = settings.database_url(service)
    with _lock:
        db = _databases.get((service, url))
        if db is None:
            db = Database(
                service,
                url,
                metadata,
                pool_size=pool_size(settings),
                pool_timeout=settings.db_pool_timeout,
            )
            _databases[(service, url)] = db
        return db


def forget_databases() -> None:
    """For tests: dispose engines so the next use starts clean."""
    with _lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()
