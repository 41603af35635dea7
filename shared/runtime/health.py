"""The health RPC every service answers: what it depends on, and whether each part is ready."""

from __future__ import annotations

from typing import Any

from shared.db import Database
from shared.health import Check, broker_check, database_check, run_checks, storage_check


def service_health(
    service: str,
    db: Database,
    amqp_uri: str,
    store: Any = None,
    extra: dict[str, Check] | None = None,
) -> dict[str, Any]:
    checks: dict[str, Check] = {"database": database_check(db), "broker": broker_check(amqp_uri)}
    if store is not None:
        checks["storage"] = storage_check(store)
    checks.update(extra or {})
    return {"service": service, **run_checks(checks)}
