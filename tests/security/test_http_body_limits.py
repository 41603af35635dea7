"""Finding 3 of issue 13: bodies were read whole before their size was checked.

1 GB announced, then 1 GB streamed chunked, to one route of each class (JSON API, webhook, admin,
Open311 form, media upload, file upload): each is a 413 problem, the connection is closed
without the server reading the rest, and the gateway's memory (this process: the containers run
in pytest) grows by less than 20 MB over the whole run."""

from __future__ import annotations

import gc
import json
import select
import socket
from typing import Any

import pytest
import requests

from services.gateway.auth.testing import bearer
from services.gateway.http import ROUTES, body_class, body_limit
from tests.media.conftest import media_env_factory  # noqa: F401 - the fixture
from tests.security._http import Edge, closed_by_server, read_response, rss_kib

GB = 1024**3
CHUNK = 1024 * 1024


def _head(method: str, path: str, headers: dict[str, str], framing: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: loa", framing]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _announced(edge: Edge, method: str, path: str, headers: dict[str, str]) -> Any:
    """Content-Length: 1 GB, then the first 64 KiB; the answer must come without the rest."""
    sock = edge.connect(timeout=20)
    sock.sendall(_head(method, path, headers, f"Content-Length: {GB}") + b"x" * 65536)
    status, head, body = read_response(sock)
    closed = closed_by_server(sock, 5)
    sock.close()
    return status, head, body, closed


def _chunked(edge: Edge, method: str, path: str, headers: dict[str, str]) -> Any:
    """Up to 1 GB in 1 MiB chunks, stopping as soon as the server answers or closes."""
    sock = edge.connect(timeout=20)
    sock.sendall(_head(method, path, headers, "Transfer-Encoding: chunked"))
    piece = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
    sent = 0
    try:
        while sent < GB:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(piece)
            sent += CHUNK
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, head, body = read_response(sock)
    sock.close()
    return status, head, body, sent


@pytest.fixture
def targets(media_env_factory) -> tuple[Edge, list[tuple[str, str, str, dict[str, str]]]]:  # noqa: F811
    env = media_env_factory()
    port = int(env.base.rsplit(":", 1)[1])
    edge = Edge(env.settings, port)
    editor = dict(env.http.headers)
    admin = bearer(env.settings, "admin")
    made = env.http.post(
        f"{env.base}/api/media/uploads",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(CHUNK)},
    )
    assert made.status_code == 201, made.text
    upload = made.headers["Location"].rsplit("/", 1)[1]
    js = {"Content-Type": "application/json"}
    return edge, [
        ("JSON API", "POST", "/api/auth/login", js),
        ("webhook", "POST", "/api/feedback/webhooks/hotline", js),
        ("admin", "POST", "/api/admin/users", {**js, **admin}),
        (
            "Open311 form",
            "POST",
            "/open311/v2/requests.json",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        (
            "media upload",
            "PATCH",
            f"/api/media/uploads/{upload}",
            {
                **editor,
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        ),
        ("file upload", "PUT", "/api/media/logos/crest", {**editor, "Content-Type": "image/png"}),
    ]


def _problem_413(status: int, head: dict[str, str], body: bytes, what: str) -> None:
    assert status == 413, (what, status, body[:300])
    assert head["content-type"].startswith("application/problem+json"), what
    assert json.loads(body)["status"] == 413


def test_a_gigabyte_to_each_route_class_is_refused_without_being_read(targets) -> None:
    edge, routes = targets
    for what, method, path, headers in routes:  # warm up: first use of each route's code
        data = b"" if what == "media upload" else b"{}"  # the upload must stay at offset 0
        requests.request(method, edge.base + path, headers=headers, data=data, timeout=20)
    gc.collect()
    before = rss_kib()
    for what, method, path, headers in routes:
        status, head, body, closed = _announced(edge, method, path, headers)
        _problem_413(status, head, body, f"{what}, announced")
        assert closed, f"{what}: the server kept the connection to drain 1 GB"
        status, head, body, sent = _chunked(edge, method, path, headers)
        _problem_413(status, head, body, f"{what}, chunked")
        assert sent < 64 * CHUNK, f"{what}: {sent} bytes were taken before the 413"
    gc.collect()
    grown_mb = (rss_kib() - before) / 1024
    print(f"1 GB announced + 1 GB chunked, {len(routes)} route classes: RSS +{grown_mb:.1f} MB")
    assert grown_mb < 20, f"the gateway's RSS grew by {grown_mb:.0f} MB"


def test_every_route_has_a_body_limit_by_class() -> None:
    kinds = {}
    for spec in ROUTES:
        limit = body_limit(spec, 16 * GB)
        assert limit >= 0
        kinds[f"{spec.method} {spec.path}"] = (body_class(spec), limit)
    assert kinds["GET /api/search"] == ("none", 0)
    assert kinds["POST /api/auth/login"] == ("json", 2 * CHUNK)
    assert kinds["POST /api/feedback/webhooks/hotline"][1] <= 256 * 1024
    assert kinds["POST /open311/v2/requests.<fmt>"][0] == "form"
    assert kinds["PATCH /api/media/uploads/<upload_id>"][0] == "upload"
    assert kinds["PUT /api/media/logos/<name>"] == ("file", 2 * CHUNK)


def test_a_body_on_a_route_that_takes_none_is_413(targets) -> None:
    edge, _ = targets
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as sock:
        sock.sendall(b"GET /api/search?q=a HTTP/1.1\r\nHost: loa\r\nContent-Length: 5\r\n\r\nhello")
        status, head, _ = read_response(sock)
    assert status == 413 and head["content-type"].startswith("application/problem+json")
