"""The gateway skeleton: one error format, OpenAPI for every route, security headers, signed
downloads, correlation ids."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
import requests

from services.gateway.http import ROUTES, openapi_path
from services.gateway.service import GatewayService
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from shared.storage.factory import make_object_store


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
    _, base = gateway
    ready = requests.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"database", "broker", "storage"}
    metrics = requests.get(f"{base}/metrics").text
    assert "loa_http_requests_total" in metrics


def test_status_page_names_services_that_do_not_answer(gateway) -> None:
    _, base = gateway
    resp = requests.get(f"{base}/api/status", timeout=30)
    assert resp.status_code == 503  # only the gateway runs in this test
    services = {s["service"]: s for s in resp.json()["services"]}
    assert services["gateway"]["ready"] is True
    assert services["media"]["ready"] is False and "media" in services["media"]["error"]
    page = requests.get(f"{base}/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'data-service="gateway" data-ready="true"' in page.text


def test_bus_probe_round_trip(gateway) -> None:
    from tests.conftest import wait_until

    _, base = gateway
    sent = requests.post(f"{base}/api/bus/probes")
    assert sent.status_code == 202
    event_id = sent.json()["event_id"]
    result = wait_until(
        lambda: (r := requests.get(f"{base}/api/bus/probes/{event_id}").json())["received"] and r,
        what="the probe back from RabbitMQ",
    )
    assert result["round_trip_ms"] > 0
    assert_problem(requests.get(f"{base}/api/bus/probes/nope"), 404)


def test_signed_download_links(gateway) -> None:
    settings, base = gateway
    store = make_object_store(settings)
    store.put("docs/thông-báo.txt", [b"Xin ch\xc3\xa0o"], content_type="text/plain")
    url = store.url("docs/thông-báo.txt", timedelta(minutes=5))
    resp = requests.get(url)
    assert resp.status_code == 200 and resp.content == b"Xin ch\xc3\xa0o"
    assert_problem(requests.get(url.replace("sig=", "sig=0")), 403)
    expired = store.url("docs/thông-báo.txt", timedelta(seconds=1)).replace("expires=", "expires=1")
    assert requests.get(expired).status_code in (400, 403)


def test_gateway_survives_a_broker_restart_with_calls_in_flight(gateway) -> None:
    """Replies and acks lost with the connection must not end the gateway (stock nameko lets
    them kill the container): after RabbitMQ comes back, RPC through the gateway works again."""
    import subprocess

    import eventlet

    from tests.conftest import wait_until

    _, base = gateway
    pool = eventlet.GreenPool(20)
    for _ in range(20):
        pool.spawn_n(lambda: requests.post(f"{base}/api/bus/probes", timeout=30))
    eventlet.sleep(0.05)
    subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
    try:
        eventlet.sleep(1)
        down = requests.post(f"{base}/api/bus/probes", timeout=60)
        assert down.status_code in (500, 503), down.text
    finally:
        subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
    pool.waitall()

    def probe_ok() -> bool:
        try:
            return requests.post(f"{base}/api/bus/probes", timeout=20).status_code == 202
        except requests.RequestException:
            return False

    wait_until(probe_ok, timeout=90, interval=1, what="RPC through the gateway after restart")
    assert requests.get(f"{base}/livez", timeout=10).status_code == 200
