"""The gateway skeleton: one error format, OpenAPI for every route, security headers, signed
downloads, correlation ids."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from services.gateway.auth.testing import bearer
from services.gateway.http import ROUTES, openapi_path
from services.gateway.service import GatewayService
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from shared.storage.factory import make_object_store
from shared.storage.local import sign_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gateway(container_factory, make_settings) -> Any:  # type: ignore[no-untyped-def]
    from loa.runner import migrate

    port = _free_port()
    settings = make_settings(
        http_host="127.0.0.1", http_port=port, public_url=f"http://127.0.0.1:{port}"
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings, ["gateway"])
    container = container_factory(GatewayService, nameko_config(settings))
    container.start()
    yield settings, f"http://127.0.0.1:{port}"
    forget_databases()


def assert_problem(resp: requests.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("https://")
    return body


def test_unknown_route_and_method_are_problem_details(gateway) -> None:
    _, base = gateway
    body = assert_problem(requests.get(f"{base}/no/such/thing"), 404)
    assert "/no/such/thing" in body["detail"]
    body = assert_problem(requests.delete(f"{base}/livez"), 405)
    assert "GET" in body["detail"]


def test_hostile_paths_are_not_served(gateway) -> None:
    _, base = gateway
    for path in (
        "/files/../../etc/passwd",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/a?expires=1&sig=x",
    ):
        resp = requests.get(base + path)
        assert resp.status_code in (400, 403, 404), (path, resp.status_code)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert "root:" not in resp.text


def test_openapi_describes_every_route(gateway) -> None:
    _, base = gateway
    doc = requests.get(f"{base}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for spec in ROUTES:
        op = doc["paths"][openapi_path(spec.path)][spec.method.lower()]
        assert op["summary"]
        assert any(code.startswith("2") for code in op["responses"])
        assert "500" in op["responses"]
    assert "Problem" in doc["components"]["schemas"]


def test_security_headers_and_correlation_id(gateway) -> None:
    _, base = gateway
    resp = requests.get(f"{base}/livez", headers={"X-Correlation-Id": "req-12345678"})
    assert resp.json() == {"status": "alive"}
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Correlation-Id"] == "req-12345678"
    # A hostile correlation id is replaced, not echoed.
    resp = requests.get(f"{base}/livez", headers={"X-Correlation-Id": "<script>alert(1)</script>"})
    assert "<" not in resp.headers["X-Correlation-Id"]


def test_readyz_and_metrics(gateway) -> None:
    settings, base = gateway
    ready = requests.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"database", "broker", "storage"}
    # Metrics are for Prometheus (LOA_METRICS_TOKEN) and admins (tests/security).
    assert requests.get(f"{base}/metrics").status_code == 401
    metrics = requests.get(f"{base}/metrics", headers=bearer(settings, "admin")).text
    assert "loa_http_requests_total" in metrics


def test_status_page_names_services_that_do_not_answer(gateway) -> None:
    """Staff see why a service is not ready; the public sees up/down only (tests/security)."""
    settings, base = gateway
    staff = bearer(settings, "viewer")
    resp = requests.get(f"{base}/api/status", headers=staff, timeout=30)
    assert resp.status_code == 503  # only the gateway runs in this test
    services = {s["service"]: s for s in resp.json()["services"]}
    assert services["gateway"]["ready"] is True
    assert services["media"]["ready"] is False and "media" in services["media"]["error"]
    page = requests.get(f"{base}/", headers=staff, timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'data-service="gateway" data-ready="true"' in page.text


def test_bus_probe_round_trip(gateway) -> None:
    from tests.conftest import wait_until

    settings, base = gateway
    staff = bearer(settings, "viewer")  # probes are for staff (tests/security)
    sent = requests.post(f"{base}/api/bus/probes", headers=staff)
    assert sent.status_code == 202
    event_id = sent.json()["event_id"]
    result = wait_until(
        lambda: (r := requests.get(f"{base}/api/bus/probes/{event_id}", headers=staff).json())[
            "received"
        ]
        and r,
        what="the probe back from RabbitMQ",
    )
    assert result["round_trip_ms"] > 0
    assert_problem(requests.get(f"{base}/api/bus/probes/nope", headers=staff), 404)


def test_signed_download_links(gateway) -> None:
    settings, base = gateway
    key = "docs/thông-báo.txt"
    store = make_object_store(settings)
    store.put(key, [b"Xin ch\xc3\xa0o"], content_type="text/plain")
    url = store.url(key, timedelta(minutes=5))
    resp = requests.get(url)
    assert resp.status_code == 200 and resp.content == b"Xin ch\xc3\xa0o"
    # Tampered: a changed signature, or a changed expiry under the old signature.
    assert_problem(requests.get(url.replace("sig=", "sig=0")), 403)
    assert_problem(requests.get(url.replace("expires=", "expires=1")), 403)

    # Expired: correctly signed, but its time has passed (a minute ago, clear of clock steps).
    def signed(expires_at: int) -> str:
        sig = sign_url(settings.signing_key, key, expires_at)
        return f"{base}/files/{quote(key, safe='/')}?expires={expires_at}&sig={sig}"

    fresh = requests.get(signed(int(time.time()) + 300))
    assert fresh.status_code == 200 and fresh.content == b"Xin ch\xc3\xa0o"  # built right
    body = assert_problem(requests.get(signed(int(time.time()) - 60)), 403)
    assert "expired" in body["detail"]


def test_gateway_survives_a_broker_restart_with_calls_in_flight(gateway, container_factory) -> None:
    """Replies and acks lost with the connection must not end the gateway or the service
    (stock nameko lets them kill the container): calls caught by the restart answer, with a
    result or a 503, and after RabbitMQ comes back RPC through the gateway works again."""
    import subprocess

    import eventlet
    import eventlet.event

    from shared.runtime.rpc import rpc
    from tests.conftest import wait_until

    settings, base = gateway
    calls = 6  # fewer than max_workers: every one of them runs in the service at once
    entered: list[int] = []
    release = eventlet.event.Event()

    class HeldPublishing:
        """Stands in for publishing: the portal's listing waits until the broker is gone."""

        name = "publishing"

        @rpc
        def listing(self, limit: int) -> list[Any]:
            entered.append(limit)
            with eventlet.Timeout(60, False):
                release.wait()
            return []

    container_factory(HeldPublishing, nameko_config(settings)).start()
    staff = bearer(settings, "viewer")
    results: dict[int, requests.Response | BaseException] = {}

    def portal(i: int) -> None:
        try:
            results[i] = requests.get(f"{base}/portal", timeout=45)
        except BaseException as exc:  # noqa: BLE001 - recorded, judged below
            results[i] = exc

    threads = [eventlet.spawn(portal, i) for i in range(calls)]
    wait_until(lambda: len(entered) == calls, what="the portal calls running in publishing")
    assert not results, "every call must still be waiting for its reply when the broker stops"
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        release.send(True)  # their replies and acks now meet a dead connection
        eventlet.sleep(1)
        # A call made while the broker is down cannot be sent: a 503, not an internal error.
        assert_problem(requests.post(f"{base}/api/bus/probes", headers=staff, timeout=60), 503)
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    with eventlet.Timeout(60, RuntimeError("calls caught by the restart never answered")):
        for thread in threads:
            thread.wait()
    for i in range(calls):
        resp = results[i]
        assert isinstance(resp, requests.Response), f"call {i} got no answer: {resp!r}"
        if resp.status_code == 503:  # the reply was lost: the gateway's deadline answers
            assert_problem(resp, 503)
        else:
            assert resp.status_code == 200, (i, resp.status_code, resp.text[:300])
            assert "text/html" in resp.headers["Content-Type"]

    def answers(method: str, path: str, status: int) -> bool:
        try:
            answer = requests.request(method, base + path, headers=staff, timeout=20)
            return answer.status_code == status
        except requests.RequestException:
            return False

    # Both containers are back: the gateway's own RPC (send_probe) and the held service's.
    wait_until(
        lambda: answers("POST", "/api/bus/probes", 202) and answers("GET", "/portal", 200),
        timeout=90,
        interval=1,
        what="RPC through the gateway after restart",
    )
    assert requests.get(f"{base}/livez", timeout=10).status_code == 200
