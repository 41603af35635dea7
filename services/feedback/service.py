"""nameko entrypoints of the feedback service: parse, call the domain, return. Nothing else."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc

from services.feedback.models import metadata
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
    StorageProvider,
)
from shared.runtime.health import service_health


class FeedbackService:
    name = "feedback"

    correlation = Correlation()
    settings = SettingsProvider()
    db = DatabaseProvider("feedback", metadata)
    store = StorageProvider()
    relay = OutboxRelayProvider("feedback", metadata)

    @rpc
    def health(self) -> dict[str, Any]:
        return service_health(self.name, self.db, self.settings.amqp_uri, store=self.store)
