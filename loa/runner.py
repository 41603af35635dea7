"""Starting services: migrate, declare the bus, run nameko containers, stop cleanly on signals."""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import signal
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    environment gives none. At scale they come from the environment (Kubernetes Secrets).

    Everything in the data folder is its owner's only: files 0600, folders 0700, also what was
    made by an earlier version (SQLite files were 0644 next to the key)."""
    from cryptography.fernet import Fernet

    from services.feedback.domain.pii import derived_lookup_key

    os.umask(0o077)  # what this process writes from now on: SQLite files, objects, the index
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for path in data_paths(settings):
        _owner_only(path)
    pii_file = settings.data_dir / ".feedback-pii-key"
    installed_before = pii_file.exists()
    makers: dict[str, Callable[[], str]] = {
        "signing_key": lambda: secrets.token_hex(32),
        "rpc_signing_key": lambda: secrets.token_hex(32),
        "feedback_pii_key": lambda: Fernet.generate_key().decode(),
        "admin_password": lambda: secrets.token_urlsafe(12),
    }
    update = {
        name: _kept_secret(settings, name, make)
        for name, make in makers.items()
        if hasattr(settings, name) and not getattr(settings, name)
        and not (name == "feedback_pii_key" and settings.feedback_pii_keys)
    }
    if "feedback_pii_key" in update:  # the ring is this machine's key; the look-up key its own,
        update["feedback_pii_keys"] = update["feedback_pii_key"]  # or, on an install from
        if not settings.feedback_lookup_key:  # before, the one its hashes were made with
            update["feedback_lookup_key"] = _kept_secret(
                settings,
                "feedback_lookup_key",
                lambda: derived_lookup_key(update["feedback_pii_key"])
                if installed_before
                else secrets.token_hex(32),
            )
    return settings.model_copy(update=update) if update else settings


def _owner_only(root: Path) -> None:
    """Folders 0700 and files 0600 under root (those that are not already)."""
    if not root.exists():
        return
    for folder, _dirs, files in os.walk(root):
        for path, mode in [(folder, 0o700)] + [(os.path.join(folder, f), 0o600) for f in files]:
            try:
                st = os.lstat(path)
                if stat.S_IMODE(st.st_mode) != mode and not stat.S_ISLNK(st.st_mode):
                    os.chmod(path, mode)
            except FileNotFoundError:  # removed meanwhile (a temp file)
                continue


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def at_scale(settings: Settings) -> bool:
    """More than one machine: a database server (not SQLite files) or a broker elsewhere."""
    host = urlsplit(settings.amqp_uri).hostname or "localhost"
    urls = [settings.database_url(s) for s in SERVICES]
    return host not in LOCAL_HOSTS or any(not u.startswith("sqlite:") for u in urls)


def check_start(settings: Settings, services: list[str]) -> None:
    """Refuse, with one line naming the variable, what would leave the services open to anyone
    who reaches RabbitMQ: its default guest account at scale, or no key to sign actors with."""
    if at_scale(settings) and urlsplit(settings.amqp_uri).username in (None, "", "guest"):
        raise SystemExit(
            "loa: configuration error: LOA_AMQP_URI uses RabbitMQ's default guest account; at "
            "scale give loa a RabbitMQ user of its own (amqp://loa:…@host/vhost)"
        )
    if not settings.rpc_signing_key:
        raise SystemExit(
            "loa: configuration error: LOA_RPC_SIGNING_KEY is required (the gateway signs who "
            "acts on each call, the services trust no other actor)"
        )


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
    check_start(settings, services)
    try:
        prepare(settings, services)
    except KeyboardInterrupt:  # Ctrl-C while waiting for RabbitMQ or migrating: nothing runs yet
        log.info("stopped before the services started")
        return
    stops = StopRequests()
    stops.install()  # from here a signal is a request, also while the containers start
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
            log.info(
                "first admin account: admin (password in %s, to be changed at the first sign-in)",
                key_file,
            )
    _wait(runner, stops)
    if health is not None:
        health.kill()
    log.info("loa stopped")


class StopRequests:
    """SIGINT and SIGTERM counted, not raised. Python's default turns Ctrl-C into a
    KeyboardInterrupt inside whichever green thread runs at that instant: one that swallows it
    loses the request, and one raised while the containers start kills the process uncleanly.
    The main green thread looks at the count instead: first request stops, second kills."""

    POLL_S = 0.1

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.count += 1  # nothing else: this may run in the middle of the hub's own work


def _wait(runner: ServiceRunner, stops: StopRequests) -> None:
    runnlet = eventlet.spawn(runner.wait)
    stopping: Any = None
    killing = False
    while not runnlet.dead:
        if stops.count >= 1 and stopping is None:
            log.info("stopping (Ctrl-C again to kill)")
            stopping = eventlet.spawn(runner.stop)
        elif stops.count >= 2 and not killing:
            log.warning("killing the services without waiting for their work to end")
            killing = True
            runner.kill()
        eventlet.sleep(StopRequests.POLL_S)
    runnlet.wait()  # a container that crashed raises its error here
    if stopping is not None:
        stopping.wait()


def data_paths(settings: Settings) -> list[Path]:
    return [settings.data_dir, settings.objects_dir, settings.index_dir]
