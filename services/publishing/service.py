"""nameko entrypoints of the publishing service: parse, call the domain, return. Nothing else."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import eventlet
from nameko.extensions import DependencyProvider
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy import select

from services.publishing.config import ChannelSettings
from services.publishing.domain import (
    audience,
    documents,
    export,
    items,
    plan,
    portal,
    schedule,
)
from services.publishing.domain.dispatch import (
    DispatchConfig,
    Dispatcher,
    channel_states,
    resume_channel,
)
from services.publishing.domain.schedule import DEFAULT_TZ
from services.publishing.models import metadata, renditions
from services.publishing.wiring import Transmitters
from shared.db import Database
from shared.errors import InvalidInput, NotFound
from shared.events.envelope import Envelope
from shared.runtime.config import settings_of
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
    StorageProvider,
)
from shared.runtime.events import event_handler
from shared.runtime.health import service_health
from shared.runtime.resources import database_for
from shared.runtime.rpc import rpc

log = logging.getLogger(__name__)


def _out(value: Any) -> Any:
    return to_jsonable_python(value)


def _parse(model: type[BaseModel], data: Any, where: str = "body") -> Any:
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or where
        raise InvalidInput(f"{field}: {first['msg']}", field) from None


class Scheduling(DependencyProvider):
    """The channel settings, transmitters and the dispatcher of this process, and its loop:
    claim what is due onto a bounded green pool, then wait until the next delivery is due (or a
    short batching pause), so a delivery goes out within tens of milliseconds of its time."""

    def setup(self) -> None:
        settings = settings_of(self.container.config)
        self.cfg = ChannelSettings()
        from shared.storage.factory import make_object_store

        db = database_for(settings, "publishing", metadata)
        portal_url = self.cfg.portal_url or f"{settings.public_url.rstrip('/')}/portal"
        self.transmitters = Transmitters(
            self.cfg, db, make_object_store(settings), settings.public_url,
            ca_file=settings.tls_ca_file,
        )  # fmt: skip
        self.dispatcher = Dispatcher(
            db,
            self.transmitters,
            DispatchConfig(
                lease_s=self.cfg.lease_s,
                batch=self.cfg.scheduler_batch,
                attention_after=self.cfg.attention_after,
                portal_url=portal_url,
            ),
            sleep=eventlet.sleep,
        )
        self.pool = eventlet.GreenPool(max(4, settings.max_workers))
        self.running = False

    def start(self) -> None:
        self.running = True
        self.container.spawn_managed_thread(self._loop, identifier="publishing.scheduler")

    def _loop(self) -> None:
        while self.running:
            claimed = 0
            try:
                claimed = self.dispatcher.feed(self.pool)
            except Exception:  # the database may be away for a moment: try again soon
                log.exception("the scheduler could not claim due deliveries")
                eventlet.sleep(1.0)
            eventlet.sleep(self.dispatcher.pause(claimed, self.pool.free()))

    def stop(self) -> None:
        self.running = False
        self.pool.waitall()  # sends in flight finish (their leases cover them)
        self.dispatcher.flush()  # successes still in memory are recorded before leaving
        self.transmitters.close()

    def get_dependency(self, worker_ctx: Any) -> Scheduling:
        return self


class PublishingService:
    name = "publishing"

    correlation = Correlation()
    settings = SettingsProvider()
    db: Database = DatabaseProvider("publishing", metadata)  # type: ignore[assignment]
    store = StorageProvider()
    relay = OutboxRelayProvider("publishing", metadata)
    scheduling: Scheduling = Scheduling()  # type: ignore[assignment]

    @rpc
    def health(self) -> dict[str, Any]:
        return service_health(self.name, self.db, self.settings.amqp_uri, store=self.store)

    # --- items ----------------------------------------------------------------------------
    @rpc
    def create_item(self, data: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(
                items.create_item(
                    s, _parse(items.ItemInput, data), _parse(items.Actor, actor, "actor"),
                    self.db.record_event,
                )
            )  # fmt: skip

    @rpc
    def update_item(
        self, item_id: str, data: dict[str, Any], actor: dict[str, Any]
    ) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(
                items.update_item(
                    s, item_id, _parse(items.ItemInput, data), _parse(items.Actor, actor, "actor")
                )
            )

    @rpc
    def transition(
        self, item_id: str, action: str, actor: dict[str, Any], note: str = ""
    ) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(
                items.transition(
                    s, item_id, action, _parse(items.Actor, actor, "actor"), self.db.record_event,
                    note, self.scheduling.cfg.allow_self_approval,
                )
            )  # fmt: skip

    @rpc
    def correct(
        self, item_id: str, data: dict[str, Any], actor: dict[str, Any], note: str = ""
    ) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(
                items.correct(
                    s, item_id, _parse(items.ItemInput, data), _parse(items.Actor, actor, "actor"),
                    note,
                )
            )  # fmt: skip

    @rpc
    def get_item(self, item_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(items.get_item(s, item_id))

    @rpc
    def list_items(
        self, status: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return _out(items.list_items(s, status, kind, limit))

    # --- scheduling -----------------------------------------------------------------------
    @rpc
    def schedule(
        self,
        item_id: str,
        channel: str,
        actor: dict[str, Any],
        at: str | None = None,
        tz: str = DEFAULT_TZ,
        series_id: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(
                schedule.schedule_delivery(
                    s, item_id, channel, _parse(items.Actor, actor, "actor"), self.scheduling.cfg,
                    self.db.record_event, at=at, tz=tz or schedule.DEFAULT_TZ,
                    series_id=series_id, options=options,
                )
            )  # fmt: skip

    @rpc
    def cancel_delivery(self, delivery_id: str, actor: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(
                schedule.cancel_delivery(s, delivery_id, _parse(items.Actor, actor, "actor"))
            )

    @rpc
    def reschedule_delivery(
        self, delivery_id: str, actor: dict[str, Any], at: str
    ) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(
                schedule.reschedule_delivery(
                    s, delivery_id, _parse(items.Actor, actor, "actor"), self.scheduling.cfg,
                    self.db.record_event, at=at,
                )
            )  # fmt: skip

    @rpc
    def portal_entry(self, item_id: str) -> dict[str, Any]:
        """One published, not withdrawn portal entry (NotFound otherwise), as listing gives it."""
        base = self.scheduling.dispatcher.config.portal_url.rstrip("/")
        entry = portal.entry(self.db, item_id)
        return _out({**entry, "url": f"{base}/{entry['item_id']}"})

    @rpc
    def get_delivery(self, delivery_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(schedule.get_delivery(s, delivery_id))

    @rpc
    def list_deliveries(
        self, item_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return _out(schedule.list_deliveries(s, item_id, status, limit))

    @rpc
    def get_rendition(self, item_id: str, channel: str, version: int | None = None) -> Any:
        """The stored rendering of an item for a channel (preview, audit, re-send)."""
        r = renditions.c
        with self.db.session() as s:
            query = select(renditions).where(r.item_id == item_id, r.channel == channel)
            if version:
                query = query.where(r.item_version == version)
            row = s.execute(query.order_by(r.item_version.desc()).limit(1)).mappings().first()
        if row is None:
            raise NotFound("Chưa có bản dựng cho kênh này / no rendition yet", "channel")
        return _out(dict(row))

    @rpc
    def create_series(
        self, name: str, channel: str, rrule: str, start: str, tz: str = DEFAULT_TZ,
        plan_task: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        with self.db.session() as s:
            return _out(
                schedule.create_series(
                    s, name, channel, rrule, start, tz, self.scheduling.cfg, plan_task
                )
            )

    @rpc
    def series_occurrences(self, series_id: str, count: int = 12) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(schedule.series_occurrences(s, series_id, min(max(count, 1), 100)))

    @rpc
    def channels(self) -> list[dict[str, Any]]:
        states = channel_states(self.db)
        for st in states:
            st["configured"] = self.scheduling.cfg.configured(st["channel"])
        return _out(states)

    @rpc
    def resume_channel(self, channel: str, actor: dict[str, Any]) -> list[dict[str, Any]]:
        a = _parse(items.Actor, actor, "actor")
        items._check_role(a, items.APPROVER_ROLES, "mở lại kênh / resume channels")
        schedule.check_channel(channel, self.scheduling.cfg)
        resume_channel(self.db, channel)
        return self.channels()

    # --- portal ---------------------------------------------------------------------------
    @rpc
    def feed(self, fmt: str) -> str:
        if fmt not in ("rss", "atom"):
            raise NotFound("Chỉ có rss và atom / only rss and atom feeds exist", "format")
        settings = self.settings
        item_url = self.scheduling.dispatcher.config.portal_url
        return portal.feed(self.db, fmt, settings.public_url, item_url)

    @rpc
    def listing(self, limit: int = 50) -> list[dict[str, Any]]:
        base = self.scheduling.dispatcher.config.portal_url.rstrip("/")
        return _out(
            [
                {**e, "url": f"{base}/{e['item_id']}"}
                for e in portal.listing(self.db, min(max(limit, 1), 200))
            ]
        )

    # --- units, subscribers ---------------------------------------------------------------
    @rpc
    def upsert_unit(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(audience.upsert_unit(s, _parse(audience.UnitInput, data)))

    @rpc
    def seed_units(self) -> int:
        """Load the reference unit tree (Bình Dương before and after July 2025)."""
        seed = plan.units_seed()
        with self.db.session() as s:
            for u in sorted(seed, key=lambda u: u.get("parent_id") is not None):
                unit = _parse(audience.UnitInput, {k: v for k, v in u.items() if v is not None})
                audience.upsert_unit(s, unit.model_copy(update={"successor_id": None}))
            for u in seed:
                audience.upsert_unit(s, _parse(audience.UnitInput, u))
        return len(seed)

    @rpc
    def units(self, on: str | None = None) -> list[dict[str, Any]]:
        day = _parse_date(on, "on")
        with self.db.session() as s:
            return _out(audience.tree(s, day))

    @rpc
    def subscribe(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(audience.subscribe(s, _parse(audience.SubscriberInput, data)))

    @rpc
    def unsubscribe(self, token: str) -> bool:
        with self.db.session() as s:
            return audience.unsubscribe(s, token)

    # --- plan -----------------------------------------------------------------------------
    @rpc
    def plan_report(self, start: str, end: str) -> dict[str, Any]:
        with self.db.session() as s:
            return _out(plan.report(s, start, end))

    # --- events ---------------------------------------------------------------------------
    # --- documents (a leaflet's PDF) -------------------------------------------------------
    @rpc
    def attach_document(
        self, item_id: str, filename: str, data_b64: str, actor: dict[str, Any]
    ) -> dict[str, Any]:
        """A document item's PDF (base64): stored, and its text read for search. A PDF whose
        text cannot be read (encrypted, broken, too long) is attached and indexed without it."""
        import base64
        import binascii

        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("file: the PDF data must be base64", "file") from None
        who = _parse(items.Actor, actor, "actor")
        with self.db.session() as s:
            item = documents.attach(s, self.store, item_id, filename, data, who)
        item.pop("document_text", None)
        return _out(item)

    # --- search ---------------------------------------------------------------------------
    @rpc
    def export_search_documents(self, after: str | None = None, limit: int = 500) -> dict[str, Any]:
        """Read-only, for a rebuild of the search index: published and withdrawn items and
        their succeeded deliveries, in item id order, as the events' payloads."""
        with self.db.session() as s:
            return _out(export.search_documents(s, after, limit))

    @event_handler("publishing.media")
    def on_media(self, event: Envelope) -> None:
        if event.type == "media.asset_ready":
            self.db.apply_once(
                "publishing.media", event, lambda s: schedule.on_asset_ready(s, event.payload)
            )
        elif event.type == "media.transcode_failed":
            self.db.apply_once(
                "publishing.media",
                event,
                lambda s: schedule.on_transcode_failed(s, event.payload, self.db.record_event),
            )

    @event_handler("publishing.media_catalog")
    def on_media_catalog(self, event: Envelope) -> None:
        handler = (
            schedule.on_asset_uploaded
            if event.type == "media.asset_uploaded"
            else schedule.on_asset_deleted
        )
        self.db.apply_once("publishing.media_catalog", event, lambda s: handler(s, event.payload))


def _parse_date(value: str | None, field: str) -> date:
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field}: ngày phải dạng YYYY-MM-DD / date is YYYY-MM-DD", field
        ) from None
