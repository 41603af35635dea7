"""Fixtures and raw-socket helpers of the HTTP edge's security tests (issue 13 findings 1 and 3,
the API as its clients read it, and the low ones about logs and URLs).

The gateway runs in this pytest process (nameko's container_factory), so the RSS measured from
/proc/self/status is the gateway's; the search service runs beside it (tantivy)."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from loa.runner import migrate
from services.gateway.auth import accounts
from services.gateway.models import metadata
from services.gateway.service import GatewayService
from services.search.service import SearchService
from shared.config import Settings
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import database_for, forget_databases

PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Edge:
    """A running gateway (and search service) with a known staff account."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return sock


@pytest.fixture
def edge_factory(container_factory: Any, make_settings: Any) -> Iterator[Any]:
    """Start a gateway (+ search) with these setting overrides; a staff account 'editor1'."""

    def start(search: bool = True, **overrides: Any) -> Edge:
        port = free_port()
        overrides.setdefault("public_url", f"http://127.0.0.1:{port}")
        settings = make_settings(http_host="127.0.0.1", http_port=port, **overrides)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(settings, ["gateway"])
        db = database_for(settings, "gateway", metadata)
        with db.session() as session:
            accounts.create_user(session, "editor1", PASSWORD, "editor", "Editor One", None)
        if search:
            upgrade("search", settings.database_url("search"))
            container_factory(SearchService, nameko_config(settings)).start()
        container_factory(GatewayService, nameko_config(settings)).start()
        edge = Edge(settings, port)
        _wait_listening(edge)
        return edge

    yield start
    forget_databases()


def _wait_listening(edge: Edge) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            edge.connect(timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def raw_request(
    edge: Edge, head: str, body: bytes = b"", timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """Send one request as written (head without the blank line) and read the whole answer."""
    with edge.connect(timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        return read_response(sock)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one answer (Content-Length or to EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0]:
        raise ConnectionError("the server closed the connection without an answer")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    while length is None or len(rest) < int(length):
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        rest += chunk
    return status, headers, rest


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True once the server closed (EOF or reset) this connection, within `within` seconds;
    whatever it sent before (a 408) is read and ignored."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def rss_kib() -> int:
    """VmRSS of this process: the gateway's, since its container runs inside pytest."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def token() -> str:
    return secrets.token_hex(8)
