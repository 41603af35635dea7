"""Readiness checks: each part a service depends on, checked the same way everywhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kombu import Connection

from shared.db import Database

Check = Callable[[], None]


def run_checks(checks: dict[str, Check]) -> dict[str, Any]:
    """Run every check; report each one's outcome and time, and the overall verdict."""
    results: dict[str, Any] = {}
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return {"ready": all(r["ok"] for r in results.values()), "checks": results}


def database_check(db: Database) -> Check:
    return db.ping


def broker_check(amqp_uri: str) -> Check:
    def check() -> None:
        with Connection(amqp_uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)

    return check


def storage_check(store: Any) -> Check:
    return store.ping


def search_check(index: Any) -> Check:
    return index.ping
