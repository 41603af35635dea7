"""Fixtures of tests/security/test_trust_*.py: the gateway with publishing and feedback on the
real RabbitMQ, accounts made in the gateway's database, and a raw nameko client of the broker
(what anyone who reaches RabbitMQ can run)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet
from kombu import Connection

from shared.config import Settings
from shared.events.topology import declare_topology
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from tests.conftest import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    settings: Settings
    base: str

    def headers(self, role: str, username: str | None = None) -> dict[str, str]:
        """Bearer header of the account `username` (made with `role` if missing)."""
        from services.gateway.auth.testing import issue_token

        return {"Authorization": "Bearer " + issue_token(self.settings, role, username=username)}

    def call(self, method: str, path: str, who: dict[str, str], **kw: Any) -> requests.Response:
        return requests.request(method, self.base + path, headers=who, timeout=30, **kw)


@pytest.fixture
def start_stack(make_settings: Any, container_factory: Any) -> Iterator[Any]:
    """start_stack(services, **settings) → a Stack: the gateway and the named services."""
    from loa.runner import migrate, service_class

    def start(services: tuple[str, ...] = ("publishing", "feedback"), **overrides: Any) -> Stack:
        port = free_port()
        settings = make_settings(
            http_host="127.0.0.1",
            http_port=port,
            public_url=f"http://127.0.0.1:{port}",
            feedback_pii_key=Fernet.generate_key().decode(),
            **overrides,
        )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(settings, ["gateway", *services])
        with Connection(settings.amqp_uri) as conn:
            declare_topology(conn)
        config = nameko_config(settings)
        for name in ("gateway", *services):
            container_factory(service_class(name), dict(config)).start()
        stack = Stack(settings, f"http://127.0.0.1:{port}")
        viewer = stack.headers("viewer")

        def answers() -> bool:
            try:
                return stack.call("GET", "/api/auth/me", viewer).status_code == 200
            except requests.RequestException:
                return False

        wait_until(answers, 20, what="the gateway to answer")
        return stack

    yield start
    forget_databases()
