"""The gateway's HTTP layer: routing, one error format (RFC 9457), OpenAPI from the same table.

Routes are plain functions registered with @route in services/gateway/routes/*.py; each gets a
RequestContext (request, RPC to the services, storage, settings) and returns data (sent as JSON),
(status, data) or a werkzeug Response. Every route appears in /openapi.json because the table
that dispatches requests is the table the document is made from.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

import eventlet
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from shared.actor import account_actor, carrying, sign_actor
from shared.config import Settings
from shared.errors import BadRequest, LoaError, PayloadTooLarge, Unavailable
from shared.logging import correlation_id, redact_url
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS
from shared.runtime.rpc import BROKER_GONE, as_loa_error

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

PROBLEM_JSON = "application/problem+json"
MAX_JSON_BYTES = 2 * 1024 * 1024
BODY_LIMITS = {
    "none": 0,  # GET, HEAD, OPTIONS
    "json": MAX_JSON_BYTES,
    "webhook": 256 * 1024,  # platforms' event notifications are small
    "form": 256 * 1024,  # application/x-www-form-urlencoded (Open311)
    "file": 20 * 1024 * 1024,  # small files sent whole (PDF documents); routes may say less
}
"""The largest body of each class of route, refused on Content-Length before any byte is read
(services/gateway/server.py); "upload" (media, streamed) is LOA_HTTP_MAX_UPLOAD_BYTES."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Callable[..., Any]
    summary: str
    tags: list[str]
    request_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    responses: dict[int, str] = field(default_factory=dict)
    response_content_type: str = "application/json"
    request_content_type: str | None = None
    public: bool = True
    description: str = ""
    query: dict[str, str] = field(default_factory=dict)
    roles: frozenset[str] | None = None
    """Who may call (empty: public); None: as in services/gateway/auth/policy.py's table."""
    max_body: int | None = None
    """Largest request body in bytes; None: BODY_LIMITS of the route's body class."""
    body: str | None = None
    """Body class (a BODY_LIMITS key or "upload"); None: from method, path and content type."""


ROUTES: list[RouteSpec] = []


def route(
    method: str,
    path: str,
    *,
    summary: str,
    tags: list[str] | None = None,
    request_model: type[BaseModel] | None = None,
    response_model: type[BaseModel] | None = None,
    responses: dict[int, str] | None = None,
    response_content_type: str = "application/json",
    request_content_type: str | None = None,
    public: bool = True,
    query: dict[str, str] | None = None,
    roles: Collection[str] | None = None,
    max_body: int | None = None,
    body: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append(
            RouteSpec(
                method=method.upper(),
                path=path,
                handler=fn,
                summary=summary,
                tags=tags or [],
                request_model=request_model,
                response_model=response_model,
                responses=responses or {},
                response_content_type=response_content_type,
                request_content_type=request_content_type,
                public=public,
                description=(fn.__doc__ or "").strip(),
                query=query or {},
                roles=frozenset(roles) if roles is not None else None,
                max_body=max_body,
                body=body,
            )
        )
        return fn

    return register


def body_class(spec: RouteSpec) -> str:
    """What kind of body a route takes, for its size limit and how it is read."""
    if spec.body:
        return spec.body
    if spec.method in ("GET", "HEAD", "OPTIONS"):
        return "none"
    if "/webhooks/" in spec.path:
        return "webhook"
    ctype = spec.request_content_type
    if ctype in (None, "application/json"):
        return "json"
    if ctype == "application/x-www-form-urlencoded":
        return "form"
    if ctype in ("multipart/form-data", "application/offset+octet-stream"):
        return "upload"
    return "file"


def body_limit(spec: RouteSpec, max_upload: int) -> int:
    if spec.max_body is not None:
        return spec.max_body
    kind = body_class(spec)
    return max_upload if kind == "upload" else BODY_LIMITS[kind]


def streams_body(spec: RouteSpec) -> bool:
    """Uploads stream into their route (under the edge's deadline and cap); every other body
    is read whole before a worker is taken."""
    return body_class(spec) == "upload"


class Services:
    """RPC to the other services with a deadline: a service that does not answer is a 503.

    Each call made for a signed-in account carries its identity signed for that call
    (shared/actor.py): the services believe no other actor."""

    def __init__(
        self,
        proxies: dict[str, Any],
        timeout: float = 15.0,
        *,
        signing_key: str | None = None,
        acting: Callable[[], Any] | None = None,
    ) -> None:
        self._proxies = proxies
        self.timeout = timeout
        self._signing_key = signing_key or ""
        self._acting = acting
        """The signed-in account of the request, asked at each call (the guard sets it after
        this object is made)."""

    def _token(self, service: str, method: str, args: Any, kwargs: Any) -> str | None:
        user = self._acting() if self._acting is not None else None
        if user is None:
            return None
        actor = account_actor(user)
        return sign_actor(self._signing_key, actor, service, method, args, kwargs)

    def call(
        self, service: str, method: str, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        proxy = self._proxies[service]
        method_proxy = getattr(proxy, method)
        token = self._token(service, method, args, kwargs)
        try:
            with carrying(method_proxy.worker_ctx.data, token):
                reply = method_proxy.call_async(*args, **kwargs)
        except BROKER_GONE as exc:  # the request could not even be sent: a 503, not a bug
            log.warning("RPC %s.%s not sent, the broker is unreachable: %s", service, method, exc)
            raise Unavailable(
                "Không kết nối được hàng đợi tin nhắn / the message broker is unreachable"
            ) from None
        try:
            with eventlet.Timeout(timeout or self.timeout):
                return reply.result()
        except eventlet.Timeout:
            raise Unavailable(
                f"Dịch vụ {service} không trả lời kịp / the {service} service did not answer "
                f"within {timeout or self.timeout:.0f}s"
            ) from None


@dataclass
class RequestContext:
    request: Request
    services: Services
    settings: Settings
    store: Any
    db: Any
    path_params: dict[str, Any]
    user: Any = None
    """The signed-in account (services.gateway.auth.User) once the guard has looked."""
    auth: Any = None

    def json(self, model: type[M]) -> M:
        """The request body validated against model; clear 4xx errors otherwise."""
        req = self.request
        ctype = (req.mimetype or "").lower()
        if ctype != "application/json":
            raise UnsupportedMediaType(
                f"Nội dung phải là JSON / the body must be JSON (Content-Type: application/json), "
                f"got {ctype or 'nothing'}"
            )
        if req.content_length is not None and req.content_length > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"the body is larger than {MAX_JSON_BYTES} bytes")
        raw = req.get_data(cache=True)
        if len(raw) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"the body is larger than {MAX_JSON_BYTES} bytes")
        if not raw.strip():
            raise BadRequest("Thiếu nội dung / the request body is empty")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"JSON không hợp lệ / malformed JSON: {exc}") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed(exc) from None

    def limit_body(self, limit: int) -> None:
        """Lower the cap of a streamed body (an upload route that knows its own limit): reading
        past it raises a 413."""
        stream = self.request.environ.get("wsgi.input")
        if hasattr(stream, "limit"):
            stream.limit = min(stream.limit, limit)

    def file_body(self, limit: int, what: str) -> bytes:
        """The whole body of a small file upload (a logo, subtitles, a leaflet), refused with 413
        past `limit` bytes, announced or not: a chunked body is read no further than limit + 1."""
        too_big = f"{what} are limited to {limit // 1024} KiB"
        if (self.request.content_length or 0) > limit:
            raise PayloadTooLarge(too_big, "file")
        data = self.request.stream.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(too_big, "file")
        return bytes(data)


class UnsupportedMediaType(LoaError):
    status = 415
    title = "Kiểu nội dung không hỗ trợ / Unsupported media type"
    slug = "unsupported-media-type"


class MethodNotAllowedError(LoaError):
    status = 405
    title = "Phương thức không được phép / Method not allowed"
    slug = "method-not-allowed"

    def __init__(self, detail: str, allowed: str) -> None:
        super().__init__(detail)
        self.headers = {"Allow": allowed}  # RFC 9110 15.5.6


class RequestTimeout(LoaError):
    status = 408
    title = "Hết thời gian chờ yêu cầu / Request timeout"
    slug = "request-timeout"


class ValidationFailed(LoaError):
    status = 422
    title = "Dữ liệu không hợp lệ / Invalid input"
    slug = "invalid-input"

    def __init__(self, exc: ValidationError) -> None:
        self.errors = [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "body",
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in self.errors[:5])
        super().__init__(detail, self.errors[0]["field"] if self.errors else None)

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem = super().to_problem(instance)
        problem["errors"] = self.errors
        return problem


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    problem.setdefault("correlation_id", correlation_id.get())
    resp = Response(
        json.dumps(problem, ensure_ascii=False), status=problem["status"], mimetype=PROBLEM_JSON
    )
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def json_response(data: Any, status: int = 200) -> Response:
    if isinstance(data, BaseModel):
        body = data.model_dump_json()
    else:
        body = json.dumps(data, ensure_ascii=False, default=str)
    return Response(body, status=status, mimetype="application/json")


class Router:
    def __init__(
        self,
        routes: list[RouteSpec],
        guard: Callable[[RequestContext, RouteSpec], None] | None = None,
    ) -> None:
        self.routes = routes
        self.guard = guard  # access control, before the handler reads any of the body
        self.map = Map(
            [Rule(r.path, endpoint=i, methods=[r.method]) for i, r in enumerate(routes)],
            strict_slashes=False,
            merge_slashes=False,  # "//x" is a 404 problem, not a redirect
        )

    def spec_for(self, environ: dict[str, Any]) -> RouteSpec | None:
        """The route a request goes to; None for no route or a method it does not take."""
        try:
            endpoint, _ = self.map.bind_to_environ(environ).match()
        except (RouteNotFound, MethodNotAllowed):
            return None
        except Exception:  # noqa: BLE001 - e.g. a redirect rule: let dispatch answer it
            return None
        return self.routes[endpoint]

    def dispatch(
        self, make_ctx: Callable[[Request, dict[str, Any]], RequestContext], request: Request
    ) -> Response:
        started = time.perf_counter()
        adapter = self.map.bind_to_environ(request.environ)
        label = "unmatched"
        instance = redact_url(request.path)  # a tracking code in a path is a credential
        try:
            try:
                endpoint, params = adapter.match()
            except RouteNotFound:
                raise _NoRoute(
                    "Không có địa chỉ này / no route for "
                    f"{request.method} {redact_url(request.path)}"
                ) from None
            except MethodNotAllowed as exc:
                allowed = ", ".join(sorted(exc.valid_methods or []))
                raise MethodNotAllowedError(
                    f"{request.method} is not allowed on {redact_url(request.path)}; "
                    f"use {allowed}",
                    allowed,
                ) from None
            spec = self.routes[endpoint]
            label = spec.path
            ctx = make_ctx(request, params)
            if self.guard is not None:
                self.guard(ctx, spec)
            result = spec.handler(ctx, **params)
            response = _to_response(result)
        except LoaError as exc:
            response = problem_response(exc.to_problem(instance), getattr(exc, "headers", None))
        except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into 500s
            known = as_loa_error(exc)
            if known is not None:
                response = problem_response(known.to_problem(instance))
            else:
                log.exception(
                    "unhandled error on %s %s", request.method, redact_url(request.path)
                )
                response = problem_response(
                    LoaError(
                        "Đã có lỗi hệ thống; hãy thử lại hoặc báo quản trị viên kèm mã tương quan "
                        "/ an internal error occurred; retry or report it with the correlation id"
                    ).to_problem(instance)
                )
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        cid = correlation_id.get()
        if cid:
            response.headers["X-Correlation-Id"] = cid
        HTTP_REQUESTS.labels(request.method, label, str(response.status_code)).inc()
        HTTP_SECONDS.labels(label).observe(time.perf_counter() - started)
        return response


class _NoRoute(LoaError):
    status = 404
    title = "Không tìm thấy / Not found"
    slug = "not-found"


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        return json_response(result[1], status=result[0])
    return json_response(result)


_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_path(path: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", path)
