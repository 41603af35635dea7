"""The center's own portal: publishing an entry makes it appear in the listing and feeds."""

from __future__ import annotations

import json
from typing import Any, Protocol

from services.publishing.transmitters.base import Job, SendResult, Transmitter


class PortalStore(Protocol):
    def upsert(self, entry: dict[str, Any]) -> None: ...

    def version_of(self, item_id: str) -> int | None: ...


class PortalTransmitter(Transmitter):
    channel = "portal"

    def __init__(self, entries: PortalStore) -> None:
        self.entries = entries

    def send(self, job: Job) -> SendResult:
        entry = json.loads(job.file("entry.json").text or "{}")
        self.entries.upsert(entry)
        return SendResult(remote_id=entry["item_id"], url=entry["url"])

    def find(self, job: Job) -> SendResult | None:
        entry = json.loads(job.file("entry.json").text or "{}")
        if self.entries.version_of(entry["item_id"]) == entry["version"]:
            return SendResult(remote_id=entry["item_id"], url=entry["url"])
        return None
