"""The catalog of every event loa emits, with a versioned payload schema for each.

A payload that does not validate against its (type, version) is never published and, if it
arrives anyway, is parked in the dead-letter queue with the reason. A new version of an event is a
new entry; old versions stay so that parked or delayed messages can still be read.
No schema here carries citizens' personal data (names, phone numbers, addresses).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidInput


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- system -------------------------------------------------------------------------------
class SystemProbeV1(Payload):
    """Measures the bus end to end (health checks, benchmarks, tests)."""

    seq: int = Field(ge=0)
    note: str = Field("", max_length=2000)
    sent_at: float | None = None


# --- media --------------------------------------------------------------------------------
class AssetUploadedV1(Payload):
    asset_id: str
    title: str = Field(max_length=500)
    filename: str = Field(max_length=500)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str = ""
    unit_id: str | None = None


class RenditionReadyV1(Payload):
    asset_id: str
    profile: str
    rendition: str
    key: str
    size: int = Field(ge=0)
    duration_s: float | None = None


class AssetReadyV1(Payload):
    asset_id: str
    title: str = Field(max_length=500)
    description: str = Field("", max_length=20000)
    tags: list[str] = []
    duration_s: float | None = None
    unit_id: str | None = None
    renditions: dict[str, str] = {}
    version: int = Field(1, ge=1)
    subtitles_text: str = Field("", max_length=200000)  # for search; optional


class TranscodeProgressV1(Payload):
    asset_id: str
    profile: str
    percent: float = Field(ge=0, le=100)
    speed: float | None = None
    eta_s: float | None = None


class TranscodeFailedV1(Payload):
    asset_id: str
    profile: str
    reason: str = Field(max_length=2000)
    attempt: int = Field(1, ge=1)


class AssetDeletedV1(Payload):
    asset_id: str
    version: int = Field(1, ge=1)


class UploadCompletedV1(Payload):
    """Internal to media: every byte of an upload arrived; assemble, hash and probe it."""

    upload_id: str


class SearchRebuildRequestedV1(Payload):
    """Internal to search: an admin asked for a rebuild; one search worker runs it."""

    rebuild_id: str
    from_owners: bool = True


class TranscodeRequestedV1(Payload):
    """Internal to media: one job message on the transcode work queue."""

    job_id: str
    asset_id: str
    profile: str
    attempt: int = Field(1, ge=1)


# --- publishing ---------------------------------------------------------------------------
class ItemApprovedV1(Payload):
    item_id: str
    kind: Literal["article", "bulletin", "video_post", "document"]
    title: str = Field(max_length=500)
    approved_by: str
    version: int = Field(ge=1)


class ItemPublishedV1(Payload):
    item_id: str
    kind: str
    title: str = Field(max_length=500)
    summary: str = ""
    body_text: str = ""
    tags: list[str] = []
    topics: list[str] = []
    unit_id: str | None = None
    channels: list[str] = []
    status: str = "published"
    published_at: datetime | None = None
    version: int = Field(ge=1)
    audience: Literal["public", "internal"] = "public"  # internal: staff only (e.g. CBCC bulletin)
    document_text: str = Field("", max_length=200000)  # a document's file (leaflet PDF), for search


class ItemWithdrawnV1(Payload):
    item_id: str
    reason: str = Field("", max_length=2000)
    version: int = Field(ge=1)


class DeliveryScheduledV1(Payload):
    delivery_id: str
    item_id: str
    channel: str
    due_at: datetime


class DeliverySucceededV1(Payload):
    delivery_id: str
    item_id: str
    channel: str
    remote_id: str | None = None
    url: str | None = None


class DeliveryFailedV1(Payload):
    delivery_id: str
    item_id: str
    channel: str
    reason: str = Field(max_length=2000)
    permanent: bool


class ChannelNeedsAttentionV1(Payload):
    channel: str
    reason: str = Field(max_length=2000)


# --- feedback (never personal data) ---------------------------------------------------------
class TicketEventV1(Payload):
    ticket_id: str
    code: str = Field(max_length=32)
    category: str
    unit_id: str | None = None
    channel: str
    status: str
    deadline_at: datetime | None = None


class TicketRatedV1(Payload):
    ticket_id: str
    code: str = Field(max_length=32)
    unit_id: str | None = None
    score: int = Field(ge=1, le=5)


class AnswerPublishedV1(Payload):
    """An anonymized question and its answer, for the portal and the search index."""

    ticket_id: str
    code: str = Field(max_length=32)
    category: str
    unit_id: str | None = None
    question: str = Field(max_length=20000)
    answer: str = Field(max_length=50000)
    answered_at: datetime
    version: int = Field(1, ge=1)


CATALOG: dict[tuple[str, int], type[Payload]] = {
    ("system.probe", 1): SystemProbeV1,
    ("media.asset_uploaded", 1): AssetUploadedV1,
    ("media.rendition_ready", 1): RenditionReadyV1,
    ("media.asset_ready", 1): AssetReadyV1,
    ("media.transcode_progress", 1): TranscodeProgressV1,
    ("media.transcode_failed", 1): TranscodeFailedV1,
    ("media.asset_deleted", 1): AssetDeletedV1,
    ("media.upload_completed", 1): UploadCompletedV1,
    ("media.transcode_requested", 1): TranscodeRequestedV1,
    ("publishing.item_approved", 1): ItemApprovedV1,
    ("publishing.item_published", 1): ItemPublishedV1,
    ("publishing.item_withdrawn", 1): ItemWithdrawnV1,
    ("publishing.delivery_scheduled", 1): DeliveryScheduledV1,
    ("publishing.delivery_succeeded", 1): DeliverySucceededV1,
    ("publishing.delivery_failed", 1): DeliveryFailedV1,
    ("publishing.channel_needs_attention", 1): ChannelNeedsAttentionV1,
    ("feedback.ticket_received", 1): TicketEventV1,
    ("feedback.ticket_assigned", 1): TicketEventV1,
    ("feedback.ticket_forwarded", 1): TicketEventV1,
    ("feedback.ticket_answered", 1): TicketEventV1,
    ("feedback.ticket_overdue", 1): TicketEventV1,
    ("feedback.ticket_closed", 1): TicketEventV1,
    ("feedback.ticket_reopened", 1): TicketEventV1,
    ("feedback.ticket_rated", 1): TicketRatedV1,
    ("feedback.answer_published", 1): AnswerPublishedV1,
    ("search.rebuild_requested", 1): SearchRebuildRequestedV1,
}


def latest_version(event_type: str) -> int:
    versions = [v for (t, v) in CATALOG if t == event_type]
    if not versions:
        raise UnknownEvent(f"event type {event_type!r} is not in the catalog")
    return max(versions)


class UnknownEvent(InvalidInput):
    """An event type or version the catalog does not know: parked, never retried."""


class InvalidPayload(InvalidInput):
    """A payload that fails its schema: parked, never retried."""


def validate_payload(event_type: str, version: int, payload: Any) -> dict[str, Any]:
    """The payload as JSON-ready data, or UnknownEvent / InvalidPayload saying why."""
    schema = CATALOG.get((event_type, version))
    if schema is None:
        known = sorted(v for (t, v) in CATALOG if t == event_type)
        if known:
            raise UnknownEvent(
                f"{event_type} version {version} is unknown (known versions: {known})"
            )
        raise UnknownEvent(f"event type {event_type!r} is not in the catalog")
    try:
        return schema.model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise InvalidPayload(
            f"{event_type} v{version} payload is invalid at {where}: {first['msg']}"
            + (f" ({exc.error_count()} errors)" if exc.error_count() > 1 else "")
        ) from None
