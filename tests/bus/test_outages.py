"""Nothing accepted is lost when the broker restarts or the relay dies mid-batch."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import eventlet
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import func, select

from shared.events.envelope import Envelope
from shared.runtime.config import nameko_config
from shared.runtime.dependencies import DatabaseProvider
from shared.runtime.events import event_handler
from tests.bus import demo
from tests.conftest import ROOT, wait_until


def _received(db: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(demo.received)).scalar_one())


def _unpublished(db: Any) -> int:
    outbox = demo.metadata.tables["outbox"]
    with db.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(outbox.c.published_at.is_(None))).scalar_one()
        )


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120, stdout=subprocess.DEVNULL)


def test_broker_restart_between_commit_and_publish(demo_container, demo_settings, demo_db) -> None:
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        proxy.emit(0, 10)
    wait_until(lambda: _received(demo_db) == 10, what="first events")
    # The broker goes away; changes keep being accepted and their events wait in the outbox.
    rabbitmqctl("stop_app")
    try:
        with demo_db.session() as session:
            for seq in range(100, 300):
                session.execute(demo.notes.insert().values(seq=seq, created_at=_now()))
                demo_db.record_event(session, "system.probe", {"seq": seq})
        eventlet.sleep(1.0)
        assert _unpublished(demo_db) == 200
    finally:
        rabbitmqctl("start_app")
        subprocess.run(["rabbitmqctl", "-q", "await_startup"], timeout=120, check=False)
    wait_until(lambda: _received(demo_db) == 210, timeout=90, what="every event after restart")
    assert _unpublished(demo_db) == 0
    assert all(n == 1 for n in demo.effects.values())


class ConsumerOnly:
    """The demo's handler without a relay: the relay runs in a process the test kills."""

    name = "demo"
    db = DatabaseProvider("demo", demo.metadata)

    @event_handler(demo.SUBSCRIPTION)
    def on_probe(self, event: Envelope) -> None:
        demo.DemoService.on_probe(self, event)  # type: ignore[arg-type]


def test_relay_killed_mid_batch_loses_nothing_and_applies_once(
    container_factory, demo_settings, demo_db
) -> None:
    total = 5000
    with demo_db.session() as session:
        for seq in range(total):
            session.execute(demo.notes.insert().values(seq=seq, created_at=_now()))
            demo_db.record_event(session, "system.probe", {"seq": seq})
    container = container_factory(ConsumerOnly, nameko_config(demo_settings))
    container.start()

    def start_relay() -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.bus.relay_process",
                demo_db.url,
                demo_settings.amqp_uri,
                "200",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return proc

    relay = start_relay()
    try:
        # Kill -9 once some, but not all, batches went out.
        wait_until(
            lambda: 0 < total - _unpublished(demo_db) < total - 1000,
            timeout=60,
            interval=0.005,
            what="the relay part-way through",
        )
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
        left = _unpublished(demo_db)
        assert 0 < left < total
        relay = start_relay()
        wait_until(lambda: _unpublished(demo_db) == 0, timeout=90, what="outbox drained")
        wait_until(lambda: _received(demo_db) == total, timeout=90, what="every event applied")
    finally:
        relay.kill()
        relay.wait(timeout=10)
    eventlet.sleep(0.5)
    assert _received(demo_db) == total
    assert len(demo.effects) == total and max(demo.effects.values()) == 1


def test_services_wait_for_the_broker_at_start(tmp_path: Path, rabbit_config: dict) -> None:
    """With RabbitMQ unreachable, `loa serve` logs one clear line per retry and comes up when it
    appears (here: a TCP forwarder to the real broker, opened once it has retried twice)."""
    import socket
    import threading

    # Bound but not listening: the port stays ours and connecting to it is refused (on Linux
    # the kernel answers RST), until the forwarder listens on this very socket.
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))
    port = reserved.getsockname()[1]
    vhost = rabbit_config["vhost"]
    env = {
        **os.environ,
        "LOA_AMQP_URI": f"amqp://guest:guest@127.0.0.1:{port}/{vhost}",
        "LOA_DATA_DIR": str(tmp_path / "data"),
        "LOA_LOG_FORMAT": "text",
        "LOA_HEALTH_PORT": "0",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/loa"), "serve", "publishing"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    def waiting() -> list[str]:
        return [ln for ln in list(lines) if "RabbitMQ unreachable" in ln]

    threading.Thread(target=reader, daemon=True).start()
    forwarder = None
    try:
        wait_until(
            lambda: len(waiting()) >= 2 or proc.poll() is not None,
            timeout=60,
            what="two 'RabbitMQ unreachable' lines",
        )
        assert proc.poll() is None, "the process must wait, not exit:\n" + "".join(lines)
        assert len(waiting()) >= 2, "".join(lines)
        assert all(f"127.0.0.1:{port}" in ln or "Connection refused" in ln for ln in waiting())
        assert not any("loa is running" in ln for ln in lines)
        forwarder = _forward(reserved, 5672)
        wait_until(
            lambda: any("loa is running: publishing" in ln for ln in lines),
            timeout=60,
            what="the service to come up",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if forwarder is not None:
            forwarder.kill()
        reserved.close()
    assert proc.returncode == 0, "".join(lines[-20:])
    assert any("loa stopped" in ln for ln in lines)


def _forward(server: Any, target_port: int) -> Any:
    """A tiny TCP forwarder (green threads) listening on the given bound socket, standing in for
    a broker that comes back."""
    server.listen(50)

    def pipe(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except (OSError, EOFError):
            pass
        finally:
            with contextlib.suppress(OSError, EOFError):
                dst.close()

    def serve() -> None:
        while True:
            client, _ = server.accept()
            upstream = eventlet.connect(("127.0.0.1", target_port))
            eventlet.spawn_n(pipe, client, upstream)
            eventlet.spawn_n(pipe, upstream, client)

    return eventlet.spawn(serve)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# The gated demo consumer: a handler that started waits here until the test lets it finish.
_gate = threading.Event()
_started: Counter[str] = Counter()
_finished: Counter[str] = Counter()
_failed: list[str] = []


class GatedDemo(demo.DemoService):
    @event_handler(demo.SUBSCRIPTION)
    def on_probe(self, event: Envelope) -> None:
        _started[event.id] += 1
        _gate.wait()
        try:
            super().on_probe(event)
        except Exception as exc:
            _failed.append(f"{event.id}: {exc!r}")
            raise
        finally:
            _finished[event.id] += 1


def close_vhost_connections(vhost: str) -> int:
    """Have the broker close every connection of this test's vhost (and only those: other tests
    may share the broker); returns how many it closed. The command returns once their channels
    are gone, so their unacked messages are back in the queues."""
    out = subprocess.run(
        ["rabbitmqctl", "close_all_connections", "--vhost", vhost, "connection drop test"],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"Closed (\d+) connection", out)
    assert found, out
    return int(found.group(1))


def test_consumer_connection_drop_redelivers(
    container_factory, demo_settings, demo_db, rabbit_config
) -> None:
    """Connections closed by the broker while handlers are mid-stream: the consumer reconnects,
    the interrupted deliveries come again, and every event takes effect exactly once."""
    _gate.clear()
    _started.clear()
    _finished.clear()
    _failed.clear()
    container = container_factory(GatedDemo, nameko_config(demo_settings))
    container.start()
    try:
        with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
            first = set(proxy.emit(0, 100))
        # Handlers have started and none has finished: work is in flight when the broker drops
        # every connection of the service (consumer, relay, replies).
        wait_until(lambda: len(_started) >= 5, what="handlers in flight")
        in_flight = set(_started)
        assert in_flight <= first and not _finished and _received(demo_db) == 0
        assert close_vhost_connections(rabbit_config["vhost"]) > 0
    finally:
        _gate.set()  # the interrupted handlers finish now; their acks go to a dead connection
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        second = set(proxy.emit(100, 100))
    wait_until(lambda: _received(demo_db) == 200, timeout=60, what="every event")
    # Each interrupted delivery came again on the new connection (it was not acked before the
    # drop), and was recognised as applied: one effect per event, none lost.
    wait_until(
        lambda: all(_finished[e] >= 2 for e in in_flight),
        timeout=30,
        what="the interrupted deliveries to be redelivered",
    )
    eventlet.sleep(0.5)
    assert set(_finished) == first | second
    assert not _failed, _failed[:5]
    assert sorted(demo.effects) == list(range(200))
    assert set(demo.effects.values()) == {1}
    assert _received(demo_db) == 200
