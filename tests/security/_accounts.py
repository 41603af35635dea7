"""Fixtures of tests/security/test_accounts_*.py and test_proxy_*.py: a real gateway (HTTP,
RabbitMQ, its database) and, for the proxy tests, a real nginx in front of it."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from services.gateway.models import metadata
from shared.config import Settings
from shared.runtime.resources import database_for, forget_databases

ADMIN_PASSWORD = "quan-tri-Bình-Dương-2026"
NEW_ADMIN_PASSWORD = "mật-khẩu-mới-của-quản-trị-2026"
PROXY_ADDRESS = "127.0.0.2"
"""nginx connects to the gateway from this address (proxy_bind): the one trusted proxy."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    port: int,
    method: str,
    path: str,
    *,
    source: str = "127.0.0.1",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request from a chosen local source address (a citizen, or the proxy itself)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers={**sent, **(headers or {})})
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class Gateway:
    """A running gateway: its settings, base URL, database and sign-in helpers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.http_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = database_for(settings, "gateway", metadata)
        self._admin_changed = False

    def login(self, username: str, password: str) -> tuple[requests.Session, str]:
        http_ = requests.Session()
        resp = http_.post(
            f"{self.base}/api/auth/login", json={"username": username, "password": password}
        )
        assert resp.status_code == 200, resp.text
        return http_, resp.json()["csrf_token"]

    def admin(self) -> tuple[requests.Session, str]:
        """The first admin signed in, its first-login password change done."""
        if not self._admin_changed:
            http_, csrf = self.login("admin", ADMIN_PASSWORD)
            changed = http_.post(
                f"{self.base}/api/auth/password",
                json={"current_password": ADMIN_PASSWORD, "new_password": NEW_ADMIN_PASSWORD},
                headers={"X-CSRF-Token": csrf},
            )
            assert changed.status_code == 204, changed.text
            self._admin_changed = True
        return self.login("admin", NEW_ADMIN_PASSWORD)

    def first_sign_in(self, username: str, password: str) -> str:
        """An account an admin made or reset signs in and changes that password, as it must
        first (tests/security/test_accounts_admin_set.py), then signs out: its own password."""
        http_, csrf = self.login(username, password)
        own = f"rieng-{username}-2026-{len(password)}"
        changed = http_.post(
            f"{self.base}/api/auth/password",
            json={"current_password": password, "new_password": own},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 204, changed.text
        http_.post(f"{self.base}/api/auth/logout", headers={"X-CSRF-Token": csrf})
        return own

    def make_user(self, username: str, role: str = "viewer", unit_id: str | None = None) -> str:
        """A new account made by the admin: its password."""
        http_, csrf = self.admin()
        body = {"username": username, "role": role, "unit_id": unit_id}
        resp = http_.post(
            f"{self.base}/api/admin/users", json=body, headers={"X-CSRF-Token": csrf}
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["password"])


@pytest.fixture
def start_gateway(container_factory, make_settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """start_gateway(**settings) → Gateway (LOA_ADMIN_PASSWORD set)."""
    from loa.runner import migrate
    from services.gateway.clients import limiter
    from services.gateway.service import GatewayService
    from shared.runtime.config import nameko_config

    limiter.clear()  # one limiter per process: start from full buckets

    def start(embedded: bool = False, **overrides: Any) -> Gateway:
        """embedded: the admin password made by `loa start` in data/.admin-password."""
        from loa.runner import embedded_settings

        port = free_port()
        values: dict[str, Any] = {
            "http_host": "127.0.0.1",
            "http_port": port,
            "public_url": f"http://127.0.0.1:{port}",
            "admin_password": ADMIN_PASSWORD,
            **overrides,
        }
        if embedded:
            values["admin_password"] = None
        settings = make_settings(**values)
        if embedded:
            settings = embedded_settings(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(settings, ["gateway"])
        container_factory(GatewayService, nameko_config(settings)).start()
        return Gateway(settings)

    yield start
    forget_databases()


def nginx_binary() -> str:
    found = os.environ.get("LOA_TEST_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(found).is_file(), (
        "nginx is missing: scripts/test-servers.sh start installs Debian's nginx package"
    )
    return found


NGINX_CONF = """
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_bind {proxy};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Any]:
    """nginx(upstream_port) → the port of a real nginx proxying to it (the docs' settings)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: int) -> int:
        root = tmp_path / f"nginx-{len(started)}"
        root.mkdir()
        port = free_port()
        conf = root / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(root=root, port=port, upstream=upstream, proxy=PROXY_ADDRESS)
        )
        proc = subprocess.Popen(
            [nginx_binary(), "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        from tests.conftest import wait_until

        def up() -> bool:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(up, timeout=10, what="nginx listening")
        return port

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
