"""nameko entrypoints of the media service: parse, call the domain, return. Nothing else.

Heavy work arrives as messages on two durable work queues fed by the outbox (media.ingest after
an upload's last byte, media.transcode per (asset, profile) job). Their consumers take only as
many messages as the process runs at once (LOA_MEDIA_WORKERS), so the rest stay in the queue for
other media processes: more processes, more throughput.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.media.config import MediaSettings, media_settings_of
from services.media.domain import details, export, extras, library, uploads
from services.media.models import metadata
from services.media.pipeline import Pipeline
from shared.errors import InvalidInput, NotFound
from shared.events.envelope import Envelope
from shared.ids import new_id
from shared.runtime.dependencies import (
    Correlation,
    DatabaseProvider,
    OutboxRelayProvider,
    SettingsProvider,
    StorageProvider,
)
from shared.runtime.events import EventHandler
from shared.runtime.health import service_health
from shared.runtime.rpc import rpc

log = logging.getLogger(__name__)
URL_TTL = timedelta(hours=6)


class JobHandler(EventHandler):
    """Holds only as many messages as the process runs at once (LOA_MEDIA_WORKERS): unstarted
    jobs stay in the queue for other media processes."""

    @property
    def prefetch_count(self) -> int:
        return media_settings_of(self.container.config).workers


job_handler = JobHandler.decorator


class MediaSettingsProvider(DependencyProvider):
    def setup(self) -> None:
        self.settings = media_settings_of(self.container.config)

    def get_dependency(self, worker_ctx: Any) -> MediaSettings:
        return self.settings


class MediaService:
    name = "media"

    correlation = Correlation()
    settings = SettingsProvider()
    media_settings = MediaSettingsProvider()
    db = DatabaseProvider("media", metadata)
    store = StorageProvider()
    relay = OutboxRelayProvider("media", metadata)

    @property
    def pipeline(self) -> Pipeline:
        return Pipeline(self.db, self.store, self.media_settings)

    @rpc
    def health(self) -> dict[str, Any]:
        return service_health(self.name, self.db, self.settings.amqp_uri, store=self.store)

    # ------------------------------------------------------------------ uploads (tus state)

    @rpc
    def upload_config(self) -> dict[str, Any]:
        s = self.media_settings
        return {
            "max_size": s.max_upload_bytes,
            "max_form_size": s.max_form_upload_bytes,
            "part_size": s.part_size,
            "expiry_s": s.upload_expiry_s,
        }

    @rpc
    def upload_create(
        self, length: int, meta: dict[str, str], direct: bool = False, *, actor: dict[str, Any]
    ) -> dict[str, Any]:
        """direct: the caller stores the whole file with one put (form upload), no multipart.
        The upload is the actor's: only that account writes to it (uploads.check_owner)."""
        s = self.media_settings
        extras.options_from_meta(meta)  # a wrong logo or flag is a 422 now, not a surprise later
        details.from_meta(meta)
        upload_id = new_id()
        multipart_id = None
        if 0 < length <= s.max_upload_bytes and not direct:
            multipart_id = self.store.start_multipart(
                uploads.storage_key(upload_id), meta.get("filetype") or "application/octet-stream"
            )
        with self.db.session() as session:
            upload = uploads.create(
                session,
                length=length,
                meta=meta,
                max_bytes=s.max_form_upload_bytes if direct else s.max_upload_bytes,
                expiry_s=s.upload_expiry_s,
                multipart_id=multipart_id,
                upload_id=upload_id,
                owner=uploads.owner_of(actor),
            )
            if length == 0:
                upload = uploads.mark_received(session, upload_id)
                self.db.record_event(session, "media.upload_completed", {"upload_id": upload_id})
        return upload

    @rpc
    def upload_get(self, upload_id: str, actor: dict[str, Any] | None = None) -> dict[str, Any]:
        """With an actor (the API): only its owner, or an admin, sees the upload."""
        with self.db.session() as session:
            if actor is not None:
                uploads.check_owner(session, upload_id, actor, overseen=True)
            return uploads.get(session, upload_id)

    @rpc
    def upload_begin_patch(
        self, upload_id: str, offset: int, *, actor: dict[str, Any]
    ) -> dict[str, Any]:
        with self.db.session() as session:
            uploads.check_owner(session, upload_id, actor)
            return uploads.begin_patch(session, upload_id, offset)

    @rpc
    def upload_renew(self, upload_id: str, lease: str) -> bool:
        with self.db.session() as session:
            return uploads.renew_lease(session, upload_id, lease)

    @rpc
    def upload_release(self, upload_id: str, lease: str) -> None:
        with self.db.session() as session:
            uploads.release(session, upload_id, lease)

    @rpc
    def upload_commit(
        self,
        upload_id: str,
        lease: str,
        new_parts: list[list[Any]],
        tail_key: str | None,
        tail_size: int,
        new_offset: int,
        *,
        actor: dict[str, Any],
    ) -> dict[str, Any]:
        with self.db.session() as session:
            uploads.check_owner(session, upload_id, actor)
            upload, replaced = uploads.commit_patch(
                session,
                upload_id,
                lease,
                new_parts=new_parts,
                tail_key=tail_key,
                tail_size=tail_size,
                new_offset=new_offset,
            )
            if upload["state"] == uploads.RECEIVED:
                self.db.record_event(session, "media.upload_completed", {"upload_id": upload_id})
        if replaced:
            self.store.delete(replaced)
        return upload

    @rpc
    def upload_stored(self, upload_id: str, *, actor: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as session:
            uploads.check_owner(session, upload_id, actor)
            upload = uploads.mark_received(session, upload_id)
            self.db.record_event(session, "media.upload_completed", {"upload_id": upload_id})
        return upload

    @rpc
    def upload_terminate(self, upload_id: str, *, actor: dict[str, Any]) -> None:
        """Its owner cancels an upload; an admin may cancel anyone's."""
        with self.db.session() as session:
            uploads.check_owner(session, upload_id, actor, overseen=True)
        self.pipeline.end_upload(upload_id, "terminated")

    @timer(interval=60)
    @rpc
    def expire_uploads(self) -> int:
        """Remove the bytes of uploads left unfinished past their Upload-Expires."""
        with self.db.session() as session:
            doomed = uploads.expired_ids(session)
        count = 0
        for upload_id in doomed:
            try:
                self.pipeline.end_upload(upload_id, "expired")
                count += 1
            except NotFound:
                continue
        return count

    # ------------------------------------------------------------------ work queues

    @job_handler("media.ingest")
    def on_upload_completed(self, event: Envelope) -> None:
        self.pipeline.ingest(event.payload["upload_id"])

    @job_handler("media.transcode")
    def on_transcode_requested(self, event: Envelope) -> None:
        self.pipeline.run_job(event.payload["job_id"], int(event.payload["attempt"]))

    # ------------------------------------------------------------------ assets

    @rpc
    def list_assets(self, **filters: Any) -> dict[str, Any]:
        allowed = {"status", "kind", "q", "include_deleted", "limit", "before"}
        unknown = set(filters) - allowed
        if unknown:
            raise InvalidInput(f"unknown filter {sorted(unknown)[0]}", sorted(unknown)[0])
        with self.db.session() as session:
            return library.list_assets(session, **filters)

    @rpc
    def get_asset(self, asset_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            detail = library.asset_detail(session, asset_id)
        for rendition in detail["renditions"]:
            rendition["url"] = self.store.url(rendition["key"], URL_TTL)
        if detail["original_key"]:
            detail["original_url"] = self.store.url(detail["original_key"], URL_TTL)
        return detail

    @rpc
    def file_key(self, asset_id: str, profile: str, path: str) -> str:
        """The storage key of a published file (HLS segment, sprite…) of a finished job."""
        with self.db.session() as session:
            detail = library.asset_detail(session, asset_id)
            job = next((j for j in detail["jobs"] if j["profile"] == profile), None)
            row = library.job_row(session, job["id"]) if job else None
        if row is None or not row.generation or detail["status"] == "deleted":
            raise NotFound("Chưa có bản này / that rendition is not ready", "profile")
        if ".." in path.split("/") or path.startswith("/"):
            raise NotFound("no such file", "path")
        return f"assets/{asset_id}/{profile}/{row.generation}/{path}"

    @rpc
    def retry(self, asset_id: str, profiles: list[str] | None = None) -> list[str]:
        with self.db.session() as session:
            messages = library.retry(session, asset_id, profiles)
            for message in messages:
                self.db.record_event(session, "media.transcode_requested", message)
        return [m["profile"] for m in messages]

    @rpc
    def retry_failed(self, limit: int = 100) -> dict[str, list[str]]:
        """Bulk retry: every failed job of every asset (up to limit assets)."""
        from sqlalchemy import select

        from services.media.models import jobs

        with self.db.session() as session:
            ids = [
                r.asset_id
                for r in session.execute(
                    select(jobs.c.asset_id)
                    .where(jobs.c.state == library.FAILED)
                    .distinct()
                    .limit(limit)
                )
            ]
        return {asset_id: self.retry(asset_id) for asset_id in ids}

    @rpc
    def cancel(self, asset_id: str, profiles: list[str] | None = None) -> list[str]:
        with self.db.session() as session:
            cancelled = library.cancel(session, asset_id, profiles)
            library.settle_asset(session, asset_id)
        return cancelled

    @rpc
    def set_subtitles(self, asset_id: str, data_b64: str, lang: str = "vi") -> dict[str, Any]:
        """The clip's subtitles (SRT or WebVTT bytes, base64): web carries them, social burns
        them in when the clip's burn_subtitles option is on."""
        import base64
        import binascii

        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("the subtitle data must be base64", "file") from None
        return self.pipeline.set_subtitles(asset_id, data, lang)

    @rpc
    def delete_subtitles(self, asset_id: str) -> dict[str, Any]:
        return self.pipeline.delete_subtitles(asset_id)

    @rpc
    def set_options(
        self, asset_id: str, logo: str | None = None, burn_subtitles: bool | None = None
    ) -> dict[str, Any]:
        """logo: 'default' | 'none' | a key under branding/; burn_subtitles: into social."""
        return self.pipeline.set_options(asset_id, logo, burn_subtitles)

    @rpc
    def update_asset(self, asset_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Title, description, tags, unit_id (only those given)."""
        if not isinstance(changes, dict):
            raise InvalidInput("send the fields to change as an object", "body")
        return self.pipeline.update_details(asset_id, changes)

    @rpc
    def put_logo(self, name: str, data_b64: str) -> dict[str, Any]:
        """A logo image (PNG/JPEG/WebP bytes, base64) stored as branding/<name>.<ext>."""
        import base64
        import binascii

        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("the logo data must be base64", "file") from None
        return self.pipeline.put_logo(name, data)

    @rpc
    def list_logos(self) -> list[dict[str, Any]]:
        return self.pipeline.list_logos()

    @rpc
    def delete_asset(self, asset_id: str) -> bool:
        return self.pipeline.delete_asset(asset_id)

    # ------------------------------------------------------------------ search

    @rpc
    def export_search_documents(self, after: str | None = None, limit: int = 500) -> dict[str, Any]:
        """Read-only, for a rebuild of the search index: ready and deleted assets in id order,
        as media.asset_ready / media.asset_deleted payloads. {"items": [...], "next": key}."""
        with self.db.session() as session:
            return export.search_documents(session, after, limit)
