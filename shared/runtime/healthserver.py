"""/livez, /readyz and /metrics for a process running services without the gateway (one
Deployment per service at scale): Kubernetes probes and Prometheus scrape it."""

from __future__ import annotations

import json
import logging
from typing import Any

import eventlet
from eventlet import wsgi
from nameko.standalone.rpc import ClusterRpcProxy

from shared.config import Settings
from shared.metrics import render
from shared.runtime.config import nameko_config

log = logging.getLogger(__name__)


def make_app(settings: Settings, services: list[str]) -> Any:
    config = nameko_config(settings)

    def ready() -> tuple[bool, dict[str, Any]]:
        """Readiness through the services' own health RPC: it proves they consume from the
        broker, and their checks cover database, broker, storage and search."""
        results: dict[str, Any] = {}
        try:
            with eventlet.Timeout(10), ClusterRpcProxy(config, timeout=8) as cluster:
                for name in services:
                    results[name] = getattr(cluster, name).health()
        except (Exception, eventlet.Timeout) as exc:  # noqa: BLE001 - any failure: not ready
            return False, {"ready": False, "error": f"{type(exc).__name__}: {exc}", **results}
        ok = all(r.get("ready") for r in results.values())
        return ok, {"ready": ok, "services": results}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/livez":
            status, body, ctype = "200 OK", b'{"status":"alive"}', "application/json"
        elif path == "/readyz":
            ok, data = ready()
            status = "200 OK" if ok else "503 Service Unavailable"
            body, ctype = json.dumps(data).encode(), "application/json"
        elif path == "/metrics":
            body, ctype = render()
            status = "200 OK"
        else:
            status, ctype = "404 Not Found", "application/problem+json"
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Not found",
                    "status": 404,
                    "detail": "only /livez, /readyz and /metrics are served here",
                }
            ).encode()
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    return app


def start_health_server(settings: Settings, services: list[str]) -> Any:
    sock = eventlet.listen((settings.http_host, settings.health_port))
    log.info("health endpoints on :%s (/livez /readyz /metrics)", settings.health_port)
    return eventlet.spawn(
        wsgi.server,
        sock,
        make_app(settings, services),
        log=logging.getLogger("loa.health"),
        log_output=False,
    )
