"""Dependency providers: what a service method gets injected (database, storage, correlation)."""

from __future__ import annotations

import logging
import re
import weakref
from typing import Any

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from sqlalchemy import MetaData

from shared.config import Settings
from shared.db import Database, make_cooperative
from shared.events.publisher import ConfirmingPublisher
from shared.events.relay import OutboxRelay
from shared.ids import new_id
from shared.logging import correlation_id
from shared.runtime.config import settings_of
from shared.runtime.resources import database_for

log = logging.getLogger(__name__)
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{8,100}")


class DatabaseProvider(DependencyProvider):
    """The service's own database (shared.db.Database)."""

    def __init__(self, service: str, metadata: MetaData) -> None:
        self.service = service
        self.metadata = metadata
        self.db: Database | None = None

    def setup(self) -> None:
        make_cooperative()
        self.db = database_for(settings_of(self.container.config), self.service, self.metadata)

    def get_dependency(self, worker_ctx: WorkerContext) -> Database:
        assert self.db is not None
        return self.db


class StorageProvider(DependencyProvider):
    """The object store chosen by configuration (local directory or S3)."""

    def setup(self) -> None:
        from shared.storage.factory import make_object_store

        self.store = make_object_store(settings_of(self.container.config))

    def get_dependency(self, worker_ctx: WorkerContext) -> Any:
        return self.store


class Correlation(DependencyProvider):
    """Carries the correlation id of the request or event into logs, RPC calls and events.

    nameko forwards worker_ctx.data to every RPC call the worker makes, so setting it here is
    enough for the id to follow the work across services.
    """

    def setup(self) -> None:
        self._tokens: weakref.WeakKeyDictionary[WorkerContext, Any] = weakref.WeakKeyDictionary()

    def worker_setup(self, worker_ctx: WorkerContext) -> None:
        cid = worker_ctx.data.get("correlation_id")
        if not cid:
            request = worker_ctx.args[0] if worker_ctx.args else None
            headers = getattr(request, "headers", None)
            supplied = headers.get("X-Correlation-Id", "") if headers is not None else ""
            # A caller's id is kept only if it is a sane token, never arbitrary text.
            cid = supplied if _SAFE_ID.fullmatch(supplied or "") else new_id()
            worker_ctx.data["correlation_id"] = cid
        self._tokens[worker_ctx] = correlation_id.set(cid)

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        token = self._tokens.pop(worker_ctx, None)
        if token is not None:
            try:
                correlation_id.reset(token)
            except ValueError:  # set in another context; nothing to restore
                correlation_id.set(None)

    def get_dependency(self, worker_ctx: WorkerContext) -> str:
        return str(worker_ctx.data.get("correlation_id"))


class OutboxRelayProvider(DependencyProvider):
    """Runs the service's outbox relay in the background while the service runs."""

    def __init__(self, service: str, metadata: MetaData) -> None:
        self.service = service
        self.metadata = metadata
        self.relay: OutboxRelay | None = None

    def setup(self) -> None:
        make_cooperative()
        settings = settings_of(self.container.config)
        db = database_for(settings, self.service, self.metadata)
        publisher = ConfirmingPublisher(settings.amqp_uri, queue_type=settings.queue_type)
        self.relay = OutboxRelay(
            db,
            self.metadata,
            publisher,
            batch=settings.relay_batch,
            interval=settings.relay_interval_ms / 1000,
        )

    def start(self) -> None:
        assert self.relay is not None
        self.container.spawn_managed_thread(self.relay.run, identifier=f"{self.service}.relay")

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx: WorkerContext) -> OutboxRelay | None:
        return self.relay


class SettingsProvider(DependencyProvider):
    """loa's validated settings."""

    def get_dependency(self, worker_ctx: WorkerContext) -> Settings:
        return settings_of(self.container.config)
