"""nameko entrypoints of the publishing service: parse, call the domain, return. Nothing else."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc

from services.publishing.models import metadata
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
    StorageProvider,
)
from shared.runtime.health import service_health


class PublishingService:
    name = "publishing"

    correlation = Correlation()
    settings = SettingsProvider()
    db = DatabaseProvider("publishing", metadata)
    store = StorageProvider()
    relay = OutboxRelayProvider("publishing", metadata)

    @rpc
    def health(self) -> dict[str, Any]:
        return service_health(self.name, self.db, self.settings.amqp_uri, store=self.store)
