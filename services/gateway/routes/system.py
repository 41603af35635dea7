"""System routes: status page, liveness, readiness, metrics, the OpenAPI document, signed files."""

from __future__ import annotations

import hmac
import mimetypes
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import eventlet
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from sqlalchemy import select
from werkzeug.wrappers import Response

from services.gateway.auth.guard import current_user, require
from services.gateway.auth.policy import ADMIN
from services.gateway.http import ROUTES, RequestContext, route
from services.gateway.models import bus_probes
from services.gateway.openapi import build_openapi
from shared.config import SERVICES
from shared.errors import BadRequest, Forbidden, NotFound, Unauthorized, Unavailable
from shared.metrics import render

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )


class CheckResult(BaseModel):
    ok: bool
    ms: float
    error: str | None = None


class ServiceStatus(BaseModel):
    service: str
    ready: bool
    checks: dict[str, CheckResult] = {}
    error: str | None = None


class SystemStatus(BaseModel):
    ready: bool
    services: list[ServiceStatus]
    bus_round_trip_ms: float | None = None


def system_status(ctx: RequestContext, timeout: float = 5.0) -> SystemStatus:
    """Ask every service for its health at once; one that does not answer is not ready."""

    def ask(name: str) -> ServiceStatus:
        try:
            data = ctx.services.call(name, "health", timeout=timeout)
            return ServiceStatus.model_validate(data)
        except Unavailable as exc:
            return ServiceStatus(service=name, ready=False, error=exc.detail)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return ServiceStatus(service=name, ready=False, error=f"{type(exc).__name__}: {exc}")

    pool = eventlet.GreenPool(len(SERVICES))
    statuses = list(pool.imap(ask, SERVICES))
    with ctx.db.session() as session:
        last = session.execute(
            select(bus_probes.c.round_trip_ms)
            .where(bus_probes.c.round_trip_ms.is_not(None))
            .order_by(bus_probes.c.sent_at.desc())
            .limit(1)
        ).scalar()
    return SystemStatus(
        ready=all(s.ready for s in statuses), services=statuses, bus_round_trip_ms=last
    )


def _staff(ctx: RequestContext) -> bool:
    """A signed-in account is calling (a stale cookie on a public page is just anonymous)."""
    try:
        return current_user(ctx) is not None
    except Unauthorized:
        return False


def for_caller(ctx: RequestContext, status: SystemStatus) -> SystemStatus:
    """The public sees up or down only: the checks' timings and the errors (host names, library
    messages, what is failing how) are for staff."""
    if _staff(ctx):
        return status
    return SystemStatus(
        ready=status.ready,
        services=[ServiceStatus(service=s.service, ready=s.ready) for s in status.services],
    )


@route("GET", "/", summary="Status page (HTML)", tags=["system"], response_content_type="text/html")
def status_page(ctx: RequestContext) -> Response:
    """Every service and whether it is ready, for people (the details for staff only)."""
    status = for_caller(ctx, system_status(ctx))
    html = templates().get_template("status.html").render(status=status)
    return Response(html, status=200, mimetype="text/html")


@route(
    "GET",
    "/api/status",
    summary="Readiness of every service",
    tags=["system"],
    response_model=SystemStatus,
    responses={200: "Every service's readiness (checks and errors for staff only)"},
)
def status_json(ctx: RequestContext) -> Any:
    status = for_caller(ctx, system_status(ctx))
    return (200 if status.ready else 503), status


@route("GET", "/livez", summary="Liveness of the gateway process", tags=["system"])
def livez(ctx: RequestContext) -> Any:
    return {"status": "alive"}


@route(
    "GET",
    "/readyz",
    summary="Readiness of the gateway (database, broker, storage)",
    tags=["system"],
    responses={200: "Ready", 503: "Not ready"},
)
def readyz(ctx: RequestContext) -> Any:
    from shared.runtime.health import service_health

    result = service_health("gateway", ctx.db, ctx.settings.amqp_uri, store=ctx.store)
    return (200 if result["ready"] else 503), result


@route(
    "GET",
    "/metrics",
    summary="Prometheus metrics (Authorization: Bearer LOA_METRICS_TOKEN, or an admin)",
    tags=["system"],
    response_content_type="text/plain",
    responses={401: "No scrape token or account", 403: "Not an admin"},
)
def metrics(ctx: RequestContext) -> Response:
    """Route names, statuses and volumes tell an attacker what is used and what fails: only
    Prometheus (with its token) and admins read them."""
    token = ctx.settings.metrics_token
    scheme, _, sent = ctx.request.headers.get("Authorization", "").partition(" ")
    presented = scheme.lower() == "bearer" and token and sent.strip()
    if not (presented and hmac.compare_digest(sent.strip().encode(), token.encode())):
        require(ctx, ADMIN)
    body, ctype = render()
    return Response(body, mimetype=ctype.split(";")[0], content_type=ctype)


@route("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tags=["system"])
def openapi(ctx: RequestContext) -> Any:
    return build_openapi(ROUTES, "0.1.0", ctx.settings.public_url)


class ProbeSent(BaseModel):
    event_id: str


class ProbeResult(BaseModel):
    event_id: str
    received: bool
    round_trip_ms: float | None


@route(
    "POST",
    "/api/bus/probes",
    summary="Send an event round the bus (outbox → RabbitMQ → back)",
    tags=["system"],
    response_model=ProbeSent,
    responses={202: "Sent", 401: "Not signed in"},
)
def send_probe(ctx: RequestContext) -> Any:
    return 202, ProbeSent(event_id=ctx.services.call("gateway", "send_probe"))


@route(
    "GET",
    "/api/bus/probes/<event_id>",
    summary="Whether a probe came back, and how fast",
    tags=["system"],
    response_model=ProbeResult,
)
def get_probe(ctx: RequestContext, event_id: str) -> Any:
    with ctx.db.session() as session:
        row = session.execute(select(bus_probes).where(bus_probes.c.event_id == event_id)).first()
    if row is None:
        raise NotFound(f"no probe {event_id}", "event_id")
    return ProbeResult(
        event_id=event_id, received=row.received_at is not None, round_trip_ms=row.round_trip_ms
    )


@route(
    "GET",
    "/files/<path:key>",
    summary="Download an object through a signed, expiring link",
    tags=["system"],
    response_content_type="application/octet-stream",
    query={"expires": "Unix time the link expires", "sig": "HMAC signature"},
    responses={403: "Link expired or signature wrong"},
)
def signed_file(ctx: RequestContext, key: str) -> Response:
    """Serves objects of the local store; S3 links point at the S3 server directly."""
    from shared.storage.local import LocalObjectStore

    if not isinstance(ctx.store, LocalObjectStore):
        raise NotFound("files are served by the object store itself in this setup")
    expires = ctx.request.args.get("expires", "")
    if not expires.isdigit():
        raise BadRequest("expires must be a Unix time", "expires")
    sig = ctx.request.args.get("sig", "")
    if not ctx.store.verify_signed_url(key, expires, sig, now=time.time()):
        raise Forbidden("Liên kết đã hết hạn hoặc không hợp lệ / the link expired or is invalid")
    info = ctx.store.stat(key)
    ctype = info.content_type or mimetypes.guess_type(key)[0] or "application/octet-stream"
    resp = Response(ctx.store.open(key), mimetype=ctype, direct_passthrough=True)
    resp.headers["Content-Length"] = str(info.size)
    resp.headers["Content-Disposition"] = "attachment"
    return resp
