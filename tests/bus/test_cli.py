"""`loa events dlq list|replay` against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import func, select

from shared.runtime.config import nameko_config
from tests.bus import demo
from tests.conftest import ROOT, wait_until


def loa(*args: str, amqp: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOA_")},
        "LOA_AMQP_URI": amqp,
    }
    return subprocess.run(
        [str(ROOT / ".venv/bin/loa"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def _received(db: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(demo.received)).scalar_one())


@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_dlq_list_and_replay_from_the_command_line(demo_container, demo_settings, demo_db) -> None:
    amqp = demo_settings.amqp_uri
    empty = loa("events", "dlq", "list", amqp=amqp)
    assert empty.returncode == 0 and "empty" in empty.stdout
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        ids = proxy.emit(0, 2, "always-fail")
    wait_until(
        lambda: len(json.loads(loa("events", "dlq", "list", "--json", amqp=amqp).stdout)) == 2,
        what="two parked messages",
    )
    listed = loa("events", "dlq", "list", amqp=amqp).stdout
    assert "ValueError: this handler cannot process the event" in listed
    assert all(i in listed for i in ids)
    demo.fixed.update(ids)
    nothing = loa("events", "dlq", "replay", amqp=amqp)
    assert nothing.returncode != 0 and "--all" in nothing.stderr
    one = loa("events", "dlq", "replay", ids[0], amqp=amqp)
    assert one.returncode == 0 and "replayed 1 message" in one.stdout
    wait_until(lambda: _received(demo_db) == 1, what="first replayed event applied")
    rest = loa("events", "dlq", "replay", "--all", amqp=amqp)
    assert "replayed 1 message" in rest.stdout
    wait_until(lambda: _received(demo_db) == 2, what="second replayed event applied")
    assert "empty" in loa("events", "dlq", "list", amqp=amqp).stdout
