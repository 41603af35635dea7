"""Request bodies at the gateway's edge (services/gateway/server.py): read whole under a deadline
and a cap before a worker is taken, or, for media uploads, streamed into the route under the same
deadline and cap."""

from __future__ import annotations

import time
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import Any

import eventlet

from services.gateway.http import RequestTimeout
from shared.config import Settings
from shared.errors import PayloadTooLarge

READ = 64 * 1024
IN_MEMORY = 1024 * 1024  # a spooled body past this goes to a temporary file


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float
    body_timeout_s: float
    body_min_rate: int
    keepalive_s: float
    concurrency: int
    max_connections: int
    max_upload_bytes: int

    @classmethod
    def of(cls, s: Settings) -> Limits:
        return cls(
            s.http_header_timeout_s,
            s.http_body_timeout_s,
            s.http_body_min_rate,
            s.http_keepalive_s,
            s.http_concurrency,
            s.http_max_connections,
            s.http_max_upload_bytes,
        )

    def budget(self, started: float, received: int, want: int) -> float:
        """Seconds left to receive `want` more bytes: LOA_HTTP_BODY_TIMEOUT_S, then at least
        LOA_HTTP_BODY_MIN_RATE on average since the body began."""
        return started + self.body_timeout_s + (received + want) / self.body_min_rate - (
            time.monotonic()
        )


class BodyTooSlow(Exception):
    pass


class ClientGone(Exception):
    pass


def too_large(limit: int, field: str = "body") -> PayloadTooLarge:
    size = f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
    what = "no body" if limit == 0 else f"at most {size}"
    return PayloadTooLarge(
        f"Nội dung quá lớn / the body is too large: this route takes {what}", field
    )


def body_timeout() -> RequestTimeout:
    return RequestTimeout("Nội dung đến quá chậm / the request body did not arrive in time")


def spool(
    stream: Any, limit: int, length: int | None, limits: Limits, field: str = "body"
) -> tuple[Any, int]:
    """Read the whole body under its deadline and cap; kept in memory up to 1 MiB."""
    out = SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115 - handed on as wsgi.input
    started, received = time.monotonic(), 0
    try:
        while length is None or received < length:
            want = READ if length is None else min(READ, length - received)
            budget = limits.budget(started, received, want)
            if budget <= 0:
                raise BodyTooSlow
            with eventlet.Timeout(budget, BodyTooSlow):
                chunk = stream.read(want)
            if not chunk:
                if length is not None:
                    raise ClientGone
                break
            received += len(chunk)
            if received > limit:
                raise too_large(limit, field)
            out.write(chunk)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, received


class StreamedBody:
    """wsgi.input of a route that streams its body (media uploads): the same deadline and cap
    as a spooled body, enforced on each read inside the worker."""

    def __init__(self, stream: Any, limit: int, length: int | None, limits: Limits) -> None:
        self._stream, self.limit, self._length, self._limits = stream, limit, length, limits
        self._started, self.received, self._eof = time.monotonic(), 0, False

    @property
    def exhausted(self) -> bool:
        return self._eof or (self._length is not None and self.received >= self._length)

    def read(self, size: int = -1) -> bytes:
        return self._timed(self._stream.read, READ if size is None or size < 0 else size)

    def readline(self, size: int = -1) -> bytes:
        return self._timed(self._stream.readline, READ if size is None or size < 0 else size)

    def _timed(self, fn: Any, size: int) -> bytes:
        budget = self._limits.budget(self._started, self.received, size)
        try:
            if budget <= 0:
                raise BodyTooSlow
            with eventlet.Timeout(budget, BodyTooSlow):
                chunk = fn(size)
        except (BodyTooSlow, TimeoutError):
            raise body_timeout() from None
        if not chunk:
            self._eof = True
        self.received += len(chunk)
        if self.received > self.limit:
            raise too_large(self.limit, "file")
        return bytes(chunk)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")
