"""Test setup: the real servers started by scripts/test-servers.sh, found through its env file."""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # as the loa command does; before anything opens a socket

import os  # noqa: E402
import shlex  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / ".test-servers.env"


def _load_env_file() -> None:
    if not ENV_FILE.exists():
        return
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export ") :]
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            parts = shlex.split(value) if value else [""]
            os.environ.setdefault(key, parts[0] if parts else "")


_load_env_file()


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run scripts/test-servers.sh start (or ./scripts/test)")
    return value


def pytest_configure(config: pytest.Config) -> None:
    # The nameko plugin reads the broker from its own options; point them at the test servers.
    amqp = os.environ.get("LOA_TEST_AMQP_URI", "amqp://guest:guest@localhost:5672/")
    mgmt = os.environ.get("LOA_TEST_RABBIT_MGMT", "http://guest:guest@localhost:15672")
    config.option.RABBIT_AMQP_URI = amqp
    config.option.RABBIT_API_URI = mgmt


@pytest.fixture
def rabbit_user_uri(rabbit_config: dict, rabbit_manager):  # type: ignore[no-untyped-def]
    """The test vhost's AMQP URI with a RabbitMQ user of its own, not guest: at scale loa
    refuses the guest account (loa/runner.py check_start)."""
    import secrets
    from urllib.parse import urlsplit

    name, password = f"loa-{secrets.token_hex(4)}", secrets.token_hex(16)
    rabbit_manager._put("users", name, json={"password": password, "tags": ""})
    rabbit_manager.set_vhost_permissions(rabbit_config["vhost"], name, ".*", ".*", ".*")
    uri = urlsplit(rabbit_config["AMQP_URI"])
    yield f"{uri.scheme}://{name}:{password}@{uri.hostname}:{uri.port or 5672}{uri.path}"
    rabbit_manager._delete("users", name)


@pytest.fixture
def make_settings(tmp_path: Path, rabbit_config: dict):  # type: ignore[no-untyped-def]
    """Settings for one test: its own RabbitMQ vhost and data folder, fast retries."""
    from shared.config import Settings

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": tmp_path / "data",
            "amqp_uri": rabbit_config["AMQP_URI"],
            "event_retry_delays_ms": "100,200,400",
            "relay_interval_ms": 50,
            "max_workers": 10,
            "log_format": "text",
            "signing_key": "test-signing-key",
            "rpc_signing_key": "test-rpc-signing-key",
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    return require_env("LOA_TEST_POSTGRES_URL")


@pytest.fixture
def pg_database(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Factory of fresh PostgreSQL databases (dropped after the test); lazy, so SQLite-only
    tests never need the server."""
    import uuid

    from sqlalchemy import create_engine, text

    created: list[str] = []
    admin = None

    def make(label: str = "t") -> str:
        nonlocal admin
        base = require_env("LOA_TEST_POSTGRES_URL")
        if admin is None:
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
        name = f"loa_{label}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return base.rsplit("/", 1)[0] + "/" + name

    yield make
    if admin is not None:
        from shared.runtime.resources import forget_databases

        forget_databases()
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = ""):  # type: ignore[no-untyped-def]
    """Poll until predicate() is truthy; fail with a message naming what was awaited."""
    import time

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        eventlet.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what or predicate} (last: {last!r})")
