"""Composition: which transmitter serves which channel, built from ChannelSettings."""

from __future__ import annotations

import threading
from typing import Any

from services.publishing.config import ChannelSettings
from services.publishing.domain.audience import DbMailingList
from services.publishing.domain.portal import PortalEntries
from services.publishing.transmitters.base import Transmitter
from shared.db import Database
from shared.errors import InvalidInput
from shared.logging import register_secrets, secrets_of


class Transmitters:
    """Lazily built, one per channel per process (they keep HTTP sessions)."""

    def __init__(
        self, cfg: ChannelSettings, db: Database, store: Any, public_url: str,
        ca_file: str | None = None,
    ) -> None:  # fmt: skip
        self.cfg, self.db, self.store, self.public_url = cfg, db, store, public_url.rstrip("/")
        self.ca_file = ca_file  # LOA_TLS_CA_FILE: the CA of SMTP relays and FTPS drops
        register_secrets(secrets_of(cfg))
        self._built: dict[str, Transmitter] = {}
        self._lock = threading.Lock()

    def __call__(self, channel: str) -> Transmitter:
        with self._lock:
            if channel not in self._built:
                self._built[channel] = self._build(channel)
            return self._built[channel]

    def _build(self, channel: str) -> Transmitter:
        cfg = self.cfg
        if not cfg.configured(channel):
            raise InvalidInput(f"channel: {channel} has no credentials configured", "channel")
        if channel in ("press", "tv"):
            from services.publishing.transmitters.filedrop import FileDropTransmitter

            target = cfg.press_target if channel == "press" else cfg.tv_target
            return FileDropTransmitter(
                channel, target or "", self.store, cfg.http_timeout_s, ca_file=self.ca_file,
                allow_plain_ftp=cfg.allow_plain_ftp,
            )  # fmt: skip
        if channel == "facebook":
            from services.publishing.transmitters.facebook import FacebookTransmitter

            return FacebookTransmitter(
                cfg.facebook_graph_url, cfg.facebook_page_id or "", cfg.facebook_page_token or "",
                self.store, cfg.http_timeout_s,
            )  # fmt: skip
        if channel == "zalo":
            from services.publishing.transmitters.zalo import ZaloTransmitter

            return ZaloTransmitter(
                cfg.zalo_api_url, cfg.zalo_access_token or "", self.store, cfg.http_timeout_s,
                cover_url=cfg.zalo_cover_url,
            )  # fmt: skip
        if channel == "youtube":
            from services.publishing.transmitters.youtube import YouTubeTransmitter

            return YouTubeTransmitter(
                cfg.youtube_api_url, cfg.youtube_access_token or "", self.store,
                cfg.http_timeout_s,
            )  # fmt: skip
        if channel == "portal":
            from services.publishing.transmitters.portal import PortalTransmitter

            return PortalTransmitter(PortalEntries(self.db))
        if channel == "ebulletin":
            from services.publishing.transmitters.smtp import SmtpTransmitter

            return SmtpTransmitter(
                cfg.smtp_host or "", cfg.smtp_port, cfg.smtp_from, DbMailingList(self.db),
                f"{self.public_url}/api/publishing/unsubscribe", cfg.smtp_user,
                cfg.smtp_password, cfg.smtp_tls, cfg.http_timeout_s, self.ca_file,
            )  # fmt: skip
        raise InvalidInput(f"channel: unknown channel {channel}", "channel")

    def close(self) -> None:
        for t in self._built.values():
            t.close()
