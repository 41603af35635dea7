"""Starting services: migrate, declare the bus, run nameko containers, stop cleanly on signals."""

from __future__ import annotations

import errno
import importlib
import logging
import secrets
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import eventlet
from nameko.runners import ServiceRunner

from shared.config import SERVICES, Settings
from shared.db import make_cooperative
from shared.events.topology import declare_topology
from shared.logging import configure_logging
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.events import wait_for_broker
from shared.runtime.heap import freeze_started_heap

log = logging.getLogger("loa")

SERVICE_CLASSES: dict[str, str] = {
    "media": "services.media.service:MediaService",
    "publishing": "services.publishing.service:PublishingService",
    "feedback": "services.feedback.service:FeedbackService",
    "search": "services.search.service:SearchService",
    "gateway": "services.gateway.service:GatewayService",
}


def service_class(name: str) -> type:
    module, attr = SERVICE_CLASSES[name].split(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def _kept_secret(settings: Settings, name: str, make: Callable[[], str]) -> str:
    """A secret made once and kept in the data folder (readable by its owner only)."""
    key_file = settings.data_dir / f".{name.replace('_', '-')}"
    if not key_file.exists():
        key_file.write_text(make())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def embedded_settings(settings: Settings) -> Settings:
    """One-machine defaults: the data folder, and the secrets a single machine can make for
    itself (URL signing key, the key that encrypts citizens' personal data) kept in it when the
    environment gives none. At scale they come from the environment (Kubernetes Secrets)."""
    from cryptography.fernet import Fernet

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[], str]] = {
        "signing_key": lambda: secrets.token_hex(32),
        "feedback_pii_key": lambda: Fernet.generate_key().decode(),
        "admin_password": lambda: secrets.token_urlsafe(12),
    }
    update = {
        name: _kept_secret(settings, name, make)
        for name, make in makers.items()
        if hasattr(settings, name) and not getattr(settings, name)
    }
    return settings.model_copy(update=update) if update else settings


def migrate(settings: Settings, services: list[str]) -> None:
    for name in services:
        upgrade(name, settings.database_url(name))


def prepare(settings: Settings, services: list[str]) -> None:
    """Everything that must be true before the first message moves."""
    make_cooperative()
    migrate(settings, services)
    conn = wait_for_broker(settings.amqp_uri, "loa")
    try:
        declare_topology(conn, queue_type=settings.queue_type)
    finally:
        conn.release()


def serve(settings: Settings, services: list[str]) -> None:
    """Run the named services in this process until SIGINT/SIGTERM, then stop them cleanly."""
    configure_logging(settings.log_level, settings.log_format)
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise SystemExit(f"loa: unknown service(s) {unknown}; choose from {list(SERVICES)}")
    prepare(settings, services)
    runner = ServiceRunner(nameko_config(settings))
    for name in services:
        runner.add_service(service_class(name))
    runner.start()
    eventlet.spawn_after(2.0, freeze_started_heap)  # start-up heap out of the GC's full walks
    health = None
    if "gateway" not in services and settings.health_port:
        from shared.runtime.healthserver import start_health_server

        health = start_health_server(settings, services)
    log.info("loa is running: %s", ", ".join(services))
    if "gateway" in services:
        log.info("gateway on http://%s:%s", settings.http_host, settings.http_port)
        key_file = settings.data_dir / ".admin-password"
        if key_file.exists():
            log.info("first admin account: admin (password in %s)", key_file)
    _wait(runner)
    if health is not None:
        health.kill()
    log.info("loa stopped")


def _wait(runner: ServiceRunner) -> None:
    def shutdown(signum: int, frame: Any) -> None:
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    runnlet = eventlet.spawn(runner.wait)
    while True:
        try:
            runnlet.wait()
            return
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise
        except KeyboardInterrupt:
            log.info("stopping (Ctrl-C again to kill)")
            try:
                runner.stop()
            except KeyboardInterrupt:
                runner.kill()


def data_paths(settings: Settings) -> list[Path]:
    return [settings.data_dir, settings.objects_dir, settings.index_dir]
