"""nameko entrypoints of the media service: parse, call the domain, return. Nothing else."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc

from services.media.models import metadata
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
    StorageProvider,
)
from shared.runtime.health import service_health


class MediaService:
    name = "media"

    correlation = Correlation()
    settings = SettingsProvider()
    db = DatabaseProvider("media", metadata)
    store = StorageProvider()
    relay = OutboxRelayProvider("media", metadata)

    @rpc
    def health(self) -> dict[str, Any]:
        return service_health(self.name, self.db, self.settings.amqp_uri, store=self.store)
