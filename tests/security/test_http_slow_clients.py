"""Finding 1 of issue 13: slow connections must not freeze the gateway.

200 connections that never finish their headers and 200 that announce a body and send one byte
stay open while /livez, a login and a search each answer in under a second; then the server
closes every one of them itself."""

from __future__ import annotations

import socket
import time
from typing import Any

import requests

from tests.security._http import (
    PASSWORD,
    Edge,
    closed_by_server,
    edge_factory,  # noqa: F401 - the fixture
    read_response,
)

SLOW = 200


def _slow_header(edge: Edge) -> socket.socket:
    sock = edge.connect()
    sock.sendall(b"GET /api/search?q=x HTTP/1.1\r\nHost: loa\r\nX-Slow: ")
    return sock


def _slow_body(edge: Edge) -> socket.socket:
    sock = edge.connect()
    sock.sendall(
        b"POST /api/feedback/webhooks/hotline HTTP/1.1\r\nHost: loa\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    return sock


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.monotonic()
    result = fn()
    return time.monotonic() - started, result


def test_slow_headers_and_bodies_do_not_starve_livez_login_or_search(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(http_header_timeout_s=6, http_body_timeout_s=6)
    slow = [_slow_header(edge) for _ in range(SLOW)] + [_slow_body(edge) for _ in range(SLOW)]
    time.sleep(0.5)  # every slow connection reached the server and is waiting
    session = requests.Session()
    worst = 0.0
    for _ in range(3):
        took, live = _timed(lambda: requests.get(f"{edge.base}/livez", timeout=5))
        assert live.status_code == 200 and took < 1, (live.status_code, took)
        worst = max(worst, took)
        took, login = _timed(
            lambda: session.post(
                f"{edge.base}/api/auth/login",
                json={"username": "editor1", "password": PASSWORD},
                timeout=5,
            )
        )
        assert login.status_code == 200 and took < 1, (login.status_code, took, login.text)
        worst = max(worst, took)
        took, found = _timed(
            lambda: session.get(f"{edge.base}/api/search", params={"q": "lịch"}, timeout=5)
        )
        assert found.status_code == 200 and took < 1, (found.status_code, took, found.text)
        worst = max(worst, took)
    print(f"{2 * SLOW} slow connections open: slowest livez/login/search answer {worst:.3f} s")
    # every slow connection is still open (nothing was answered yet) ...
    open_now = sum(not closed_by_server(s, 0.001) for s in slow[:5] + slow[-5:])
    assert open_now == 10
    # ... and the server closes them itself once their deadline passed
    assert all(closed_by_server(s, 15) for s in slow)
    for s in slow:
        s.close()


def test_a_too_slow_body_gets_408_problem(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False, http_header_timeout_s=2, http_body_timeout_s=2)
    sock = _slow_body(edge)
    started = time.monotonic()
    status, headers, body = read_response(sock)
    assert status == 408, body
    assert headers["content-type"].startswith("application/problem+json")
    assert headers.get("connection") == "close"
    assert time.monotonic() - started < 6
    sock.close()


def test_a_too_slow_header_gets_408_problem(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False, http_header_timeout_s=2)
    sock = edge.connect()
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: loa\r\n")
    for _ in range(3):  # a byte now and then keeps a plain socket timeout from ever firing
        time.sleep(0.9)
        sock.sendall(b"X-A: b\r\n")
    status, headers, _ = read_response(sock)
    assert status == 408
    assert headers["content-type"].startswith("application/problem+json")
    sock.close()


def test_connections_beyond_the_cap_are_refused_with_503(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False, http_max_connections=20, http_header_timeout_s=10)
    held = [_slow_header(edge) for _ in range(20)]
    time.sleep(0.3)
    extra = edge.connect()
    extra.sendall(b"GET /livez HTTP/1.1\r\nHost: loa\r\n\r\n")
    status, headers, _ = read_response(extra)
    assert status == 503
    assert headers["content-type"].startswith("application/problem+json")
    for s in held:
        s.close()
    extra.close()


def test_a_connection_that_sends_nothing_is_closed(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False, http_header_timeout_s=2, http_keepalive_s=60)
    silent = edge.connect()
    assert closed_by_server(silent, 6)
    silent.close()
