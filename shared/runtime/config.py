"""nameko configuration built from loa's settings (the only source of configuration)."""

from __future__ import annotations

from typing import Any

import shared.runtime.rpc  # noqa: F401 - errors cross RPC as themselves in every process
from shared.config import Settings
from shared.logging import register_secrets, secrets_of

SETTINGS_KEY = "LOA_SETTINGS"


def nameko_config(settings: Settings) -> dict[str, Any]:
    register_secrets(secrets_of(settings))  # redacted from logs and stored errors from now on
    return {
        "AMQP_URI": settings.amqp_uri,
        "max_workers": settings.max_workers,
        "parent_calls_tracked": 10,
        "serializer": "json",
        "WEB_SERVER_ADDRESS": f"{settings.http_host}:{settings.http_port}",
        "HEARTBEAT": 30,
        SETTINGS_KEY: settings,
    }


def settings_of(config: dict[str, Any]) -> Settings:
    settings = config.get(SETTINGS_KEY)
    if not isinstance(settings, Settings):
        raise RuntimeError(f"nameko config lacks {SETTINGS_KEY}; build it with nameko_config()")
    return settings
