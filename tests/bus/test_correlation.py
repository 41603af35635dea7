"""The correlation id of a request follows the work across RPC and events, into every JSON log
line, and personal data is masked in logs."""

from __future__ import annotations

import io
import json
import logging

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import select

from shared.logging import configure_logging, correlation_id, get_logger
from shared.runtime.config import nameko_config
from tests.bus import demo
from tests.conftest import wait_until


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_correlation_id_crosses_rpc_and_events(demo_container, demo_settings, demo_db) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json")
    handler = logging.getLogger().handlers[-1]
    handler.stream = stream  # type: ignore[attr-defined]
    try:
        config = nameko_config(demo_settings)
        with ServiceRpcProxy(
            "demo", config, context_data={"correlation_id": "corr-0001-test"}
        ) as p:
            p.emit(0, 1, "fail-once")  # the failure is logged by the event handler's retry
        wait_until(lambda: demo.effects[0] == 1, what="the event applied")
        with demo_db.engine.connect() as conn:
            stored = conn.execute(select(demo.received.c.correlation_id)).scalar_one()
        assert stored == "corr-0001-test"
        lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
        retry_lines = [ln for ln in lines if "retry in" in ln["message"]]
        assert retry_lines and all(ln["correlation_id"] == "corr-0001-test" for ln in retry_lines)
        assert {"time", "level", "logger", "message"} <= set(retry_lines[0])
    finally:
        configure_logging("INFO", "text")


def test_personal_data_is_masked_in_logs() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json")
    logging.getLogger().handlers[-1].stream = stream  # type: ignore[attr-defined]
    try:
        token = correlation_id.set("c-1")
        get_logger("test").info("call from %s, email %s", "0912 345 678", "ba.nguyen@example.vn")
        get_logger("test").info("caller +84912345678 wrote")
        correlation_id.reset(token)
        out = stream.getvalue()
        assert "0912 345 678" not in out and "+84912345678" not in out
        assert "ba.nguyen@example.vn" not in out
        assert "[phone]" in out and "[email]" in out
    finally:
        configure_logging("INFO", "text")
