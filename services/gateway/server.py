"""The gateway's HTTP server: nameko's WebServer with the edge a public service needs.

nameko gives every connection a green thread but handles each request inside a service worker
(the pool of LOA_MAX_WORKERS shared with RPC and events) and lets that worker read the body, so
ten clients sending a body one byte at a time held every worker and /livez starved (issue 13).
Here, in the connection's own green thread and before any worker is taken:
- the request line and headers must arrive within LOA_HTTP_HEADER_TIMEOUT_S (408 otherwise);
- a body larger than its route allows is refused on Content-Length (413), without reading it;
- a body is read at no less than LOA_HTTP_BODY_MIN_RATE after LOA_HTTP_BODY_TIMEOUT_S (408),
  capped while streaming (413), into a spooled temporary file that becomes the worker's input;
  large media uploads stream into their route instead, under the same deadline and cap;
- /livez is answered at once, and requests that need a worker wait for one of the gateway's
  LOA_HTTP_CONCURRENCY HTTP slots, which come on top of LOA_MAX_WORKERS (RPC and events);
- at most LOA_HTTP_MAX_CONNECTIONS connections are open; more get a 503 and are closed.
Every refusal is problem+json; a refused body is not drained: the connection is closed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from functools import partial
from typing import Any

import eventlet
from eventlet import wsgi
from eventlet.semaphore import Semaphore
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer
from werkzeug.wrappers import Request, Response

from services.gateway.bodies import (
    READ,
    BodyTooSlow,
    ClientGone,
    Limits,
    StreamedBody,
    body_timeout,
    spool,
    too_large,
)
from services.gateway.http import (
    SECURITY_HEADERS,
    RequestTimeout,
    Router,
    body_class,
    body_limit,
    problem_response,
    streams_body,
)
from shared.errors import BadRequest, LoaError, PayloadTooLarge, Unavailable
from shared.ids import new_id
from shared.logging import redact_url
from shared.runtime.config import settings_of
from shared.runtime.dependencies import _SAFE_ID as SAFE_ID

log = logging.getLogger(__name__)
QUEUE_WAIT_S = 30.0  # how long a request waits for an HTTP slot before a 503
LINGER_S, LINGER_BYTES = 1.0, 1024 * 1024  # after a refusal: let the client read the answer


class _HeadersTooSlow(Exception):
    pass


def _raw_problem(exc: LoaError) -> bytes:
    """A complete HTTP answer (closing the connection) for the protocol layer, where no WSGI
    application is running yet."""
    body = json.dumps(exc.to_problem(), ensure_ascii=False).encode()
    head = [
        f"HTTP/1.1 {exc.status} {_REASONS.get(exc.status) or exc.title}",
        "Content-Type: application/problem+json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in SECURITY_HEADERS.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


_REASONS = {408: "Request Timeout", 503: "Service Unavailable"}


class _Malformed(LoaError):
    """A request eventlet's parser refused (bad request line, HTTP version…)."""

    slug = "malformed-request"

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title = status, title  # type: ignore[misc]


def _headers_timeout() -> RequestTimeout:
    return RequestTimeout(
        "Yêu cầu đến quá chậm / the request line and headers did not arrive in time"
    )


def _linger_close(sock: Any) -> None:
    """Close after an answer the client may not have read: stop sending, read (and drop) what
    it is still sending for a moment, then close, so the answer is not lost to a TCP reset."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_S)
        deadline, dropped = time.monotonic() + LINGER_S, 0
        while time.monotonic() < deadline and dropped < LINGER_BYTES:
            chunk = sock.recv(READ)
            if not chunk:
                break
            dropped += len(chunk)
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.close()


class EdgeProtocol(HttpOnlyProtocol):
    """eventlet's HTTP protocol with an idle limit between requests and a deadline for the
    request line and headers (a per-read socket timeout alone lets a byte every few seconds
    hold a connection for ever)."""

    header_timer: Any = None
    linger = False
    served = 0

    def handle_one_request(self) -> None:
        limits: Limits = self.server.loa_limits  # type: ignore[attr-defined]
        # a new connection must start its request at once; between requests it may idle longer
        idle = limits.keepalive_s if self.served else limits.header_timeout_s
        if not self._wait_first_byte(idle):
            self.close_connection = 1
            return
        self.header_timer = eventlet.Timeout(limits.header_timeout_s, _HeadersTooSlow)
        try:
            self.served += 1
            super().handle_one_request()
        except _HeadersTooSlow:
            self.close_connection = 1
            self.linger = True
            try:
                self.wfile.write(_raw_problem(_headers_timeout()))
                self.wfile.flush()
            except OSError:
                pass
        finally:
            self.header_timer.cancel()

    def _wait_first_byte(self, idle_s: float) -> bool:
        """A connection that sends nothing is closed silently: a new one after
        LOA_HTTP_HEADER_TIMEOUT_S, an idle keep-alive one after LOA_HTTP_KEEPALIVE_S."""
        sock = self.connection
        try:
            sock.settimeout(idle_s)
            return bool(self.rfile.peek(1))
        except (OSError, ValueError):
            return False
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(self.server.socket_timeout)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's HTML error page, as a problem instead."""
        short, long = self.responses.get(code, ("Error", ""))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.write(_raw_problem(_Malformed(code, short, message or long or short)))

    def get_environ(self) -> dict[str, Any]:
        env = super().get_environ()
        env["loa.protocol"] = self
        return env

    def headers_received(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()

    def refuse_body(self) -> None:
        """The answer is sent without reading the rest of the body: the connection must end."""
        self.close_connection = 1
        self.linger = True

    def finish(self) -> None:
        if not self.linger:
            super().finish()
            return
        with contextlib.suppress(OSError):
            self.wfile.flush()
        _linger_close(self.connection)


class EdgeApp:
    """The WSGI application in front of the gateway's one entrypoint."""

    def __init__(self, server: EdgeServer) -> None:
        self.server = server

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        proto: EdgeProtocol | None = environ.get("loa.protocol")
        if proto is not None:
            proto.headers_received()
        try:
            response = self._respond(environ, proto)
        except Exception:  # noqa: BLE001 - never let a connection's thread die on a bug
            log.exception("HTTP edge failed on %s", redact_url(environ.get("PATH_INFO", "")))
            response = _problem(LoaError("an internal error occurred"), environ)
        return response(environ, start_response)

    def _respond(self, environ: dict[str, Any], proto: EdgeProtocol | None) -> Response:
        server = self.server
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        if path == "/livez" and method in ("GET", "HEAD"):
            return _livez(environ)
        router = server.router()
        spec = router.spec_for(environ)
        if spec is None:  # 404 or 405 (with Allow): no worker needed
            return router.dispatch(_no_context, Request(environ))
        limits = server.limits
        assert limits is not None, "set up before the first request"
        limit = body_limit(spec, limits.max_upload_bytes)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = int(environ.get("CONTENT_LENGTH") or 0) if not chunked else None
        body = None
        field = "file" if body_class(spec) in ("file", "upload") else "body"
        if length is not None and length > limit:
            return _refuse(too_large(limit, field), environ, proto)
        if chunked or length:
            if streams_body(spec):
                body = StreamedBody(environ["wsgi.input"], limit, length, limits)
                environ["wsgi.input"] = body
                environ["wsgi.input_terminated"] = chunked
            else:
                try:
                    spooled, size = spool(environ["wsgi.input"], limit, length, limits, field)
                except PayloadTooLarge as exc:
                    return _refuse(exc, environ, proto)
                except (BodyTooSlow, TimeoutError):
                    return _refuse(body_timeout(), environ, proto)
                except (ClientGone, OSError, ValueError):
                    if proto is not None:
                        proto.refuse_body()
                    return _problem(BadRequest("the body ended before its length"), environ)
                environ["wsgi.input"] = spooled
                environ["CONTENT_LENGTH"] = str(size)
                environ.pop("HTTP_TRANSFER_ENCODING", None)
                environ["wsgi.input_terminated"] = False
        response = server.entrypoint().handle_request(Request(environ))
        if body is not None and not body.exhausted and proto is not None:
            proto.refuse_body()
        return response


def _no_context(request: Request, params: dict[str, Any]) -> Any:
    raise RuntimeError("a matched route reached the edge's 404/405 path")


def _livez(environ: dict[str, Any]) -> Response:
    """Answered by the connection's own thread: liveness never waits for a worker."""
    response = Response('{"status":"alive"}', mimetype="application/json")
    for k, v in SECURITY_HEADERS.items():
        response.headers[k] = v
    supplied = environ.get("HTTP_X_CORRELATION_ID", "")
    response.headers["X-Correlation-Id"] = supplied if SAFE_ID.fullmatch(supplied) else new_id()
    return response


def _problem(exc: LoaError, environ: dict[str, Any]) -> Response:
    response = problem_response(
        exc.to_problem(redact_url(environ.get("PATH_INFO", ""))), getattr(exc, "headers", None)
    )
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    return response


def _refuse(exc: LoaError, environ: dict[str, Any], proto: EdgeProtocol | None) -> Response:
    if proto is not None:
        proto.refuse_body()
    return _problem(exc, environ)


class _AccessLog:
    """eventlet's access log, with tracking codes and URL signatures taken out."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger

    def info(self, msg: str, *args: Any) -> None:
        self._log.info(redact_url(str(msg)), *args)

    def debug(self, msg: str, *args: Any) -> None:
        self._log.debug(redact_url(str(msg)), *args)

    def error(self, msg: str, *args: Any) -> None:
        self._log.error(redact_url(str(msg)), *args)

    def write(self, msg: str, *args: Any) -> None:
        self.info(msg, *args)


class EdgeServer(WebServer):
    """nameko's WebServer with the limits above (one per gateway container)."""

    def __init__(self) -> None:
        super().__init__()
        self.open_connections = 0
        self.limits: Limits | None = None
        self.slots: Semaphore | None = None

    def setup(self) -> None:
        limits = Limits.of(settings_of(self.container.config))
        self.limits = limits
        self.slots = Semaphore(limits.concurrency)
        # HTTP workers come on top of LOA_MAX_WORKERS, so RPC and events keep theirs.
        pool = self.container._worker_pool  # noqa: SLF001 - nameko has no public setter
        pool.resize(self.container.max_workers + limits.concurrency)

    # methods, not properties: nameko inspects every attribute of an extension when binding
    def router(self) -> Router:
        return self.entrypoint().container.service_cls.router  # type: ignore[no-any-return]

    def entrypoint(self) -> EdgeEntrypoint:
        return next(iter(self._providers))  # type: ignore[no-any-return]

    def get_wsgi_app(self) -> EdgeApp:
        return EdgeApp(self)

    def get_wsgi_server(self, sock: Any, wsgi_app: Any, protocol: Any = None, debug: bool = False):  # type: ignore[no-untyped-def]
        limits = self.limits or Limits.of(settings_of(self.container.config))
        serv = wsgi.Server(
            sock,
            sock.getsockname(),
            wsgi_app,
            protocol=EdgeProtocol,
            debug=False,
            log=_AccessLog(logging.getLogger("nameko.web.server")),
            socket_timeout=max(limits.header_timeout_s, limits.body_timeout_s),
        )
        serv.loa_limits = limits  # type: ignore[attr-defined]
        return serv

    def run(self) -> None:
        while self._is_accepting:
            try:
                sock, addr = self._sock.accept()
            except OSError:
                if not self._is_accepting:
                    return
                log.warning("accept failed", exc_info=True)
                eventlet.sleep(0.05)
                continue
            try:
                sock.settimeout(self._serv.socket_timeout)
                limits = self.limits
                if limits is not None and self.open_connections >= limits.max_connections:
                    self.container.spawn_managed_thread(partial(self._refuse, sock))
                    continue
                self.open_connections += 1
                self.container.spawn_managed_thread(partial(self.process_request, sock, addr))
            except Exception:  # noqa: BLE001 - the accept loop must survive anything
                log.exception("could not start a connection")
                sock.close()

    def process_request(self, sock: Any, address: Any) -> None:
        """One connection; nothing raised here may reach nameko (it would stop the container)."""
        try:
            super().process_request(sock, address)
        except (Exception, eventlet.Timeout):  # noqa: BLE001 - see the docstring
            log.debug("connection ended with an error", exc_info=True)
        finally:
            self.open_connections -= 1
            with contextlib.suppress(OSError):
                sock.close()

    def _refuse(self, sock: Any) -> None:
        """Too many open connections: a 503 problem, then close."""
        try:
            sock.settimeout(2)
            sock.sendall(
                _raw_problem(
                    Unavailable(
                        "Máy chủ đang quá tải / too many open connections; retry shortly"
                    )
                )
            )
            _linger_close(sock)
        except Exception:  # noqa: BLE001 - a refused client's trouble is not ours
            with contextlib.suppress(OSError):
                sock.close()


class EdgeEntrypoint(HttpRequestHandler):
    """The gateway's single HTTP entrypoint: every request, body already read, gets one of
    LOA_HTTP_CONCURRENCY slots, then a worker that runs the router."""

    server = EdgeServer()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("GET", "/", **kwargs)

    def get_entrypoint_parameters(self, request: Request) -> tuple[tuple[Any, ...], dict]:
        return (request,), {}

    def handle_request(self, request: Request) -> Response:
        slots = self.server.slots
        if slots is not None and not slots.acquire(timeout=QUEUE_WAIT_S):
            exc = Unavailable("Máy chủ đang bận / the gateway is busy; retry shortly")
            exc.headers = {"Retry-After": "5"}  # type: ignore[attr-defined]
            return _problem(exc, request.environ)
        try:
            return super().handle_request(request)  # type: ignore[no-any-return]
        finally:
            if slots is not None:
                slots.release()


edge_http = EdgeEntrypoint.decorator
