"""Downloading a call recording from the call center: only from the allowed origins, only audio,
never more than the size limit (checked on Content-Length and again while streaming).

A URL is compared with the allowed origins after parsing (scheme, host and port; user info is
refused), never as text. The host is then resolved once and the connection made to the address
that was checked (no second lookup a DNS answer could change in between): a host name must
resolve to public addresses only; a private, loopback or link-local address is reached only when
the origin lists that very address. Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from shared.config import origin_of
from shared.logging import redact_secrets

AUDIO_TYPES = frozenset(
    {"audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav", "audio/wave", "audio/ogg", "audio/mp4"}
)
CHUNK = 64 * 1024


class FetchFailed(Exception):
    def __init__(self, reason: str, retry: bool) -> None:
        reason = redact_secrets(reason)
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def allowed(url: str, origins: Sequence[str]) -> bool:
    """Whether the URL is http(s), without user info, on one of the origins (scheme://host:port)."""
    try:
        parts = urlsplit(url)
        origin = origin_of(f"{parts.scheme}://{parts.netloc}")
    except ValueError:
        return False
    return origin in origins


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _address(host: str, port: int) -> str:
    """The address to connect to: an IP literal as listed, or the host name's first address once
    every address it resolves to is public."""
    literal = host.strip("[]")
    try:
        ipaddress.ip_address(literal)
        return literal
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchFailed(f"recording host cannot be resolved: {exc}", retry=True) from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(_public(a) for a in addresses):
        raise FetchFailed(
            f"{host} resolves to a private, loopback or link-local address; list the recording "
            "server by its IP address in LOA_FEEDBACK_RECORDING_ORIGINS to allow it",
            retry=False,
        )
    return addresses[0]


@dataclass
class Recording:
    content_type: str
    size: int | None
    chunks: Iterator[bytes]
    response: urllib3.BaseHTTPResponse
    pool: urllib3.HTTPConnectionPool

    def close(self) -> None:
        self.response.release_conn()
        self.response.close()
        self.pool.close()


def open_recording(
    url: str,
    max_bytes: int,
    origins: Sequence[str],
    timeout: float = 30.0,
    ca_file: str | None = None,
) -> Recording:
    """Start the download; the caller streams .chunks into storage and closes it."""
    if not allowed(url, origins):
        raise FetchFailed("recording URL is not on an allowed origin", retry=False)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _address(host, port)
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.HTTPConnectionPool
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=limits, retries=False, ssl_context=context,
            server_hostname=host, assert_hostname=host,
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=limits, retries=False)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        resp = pool.urlopen(
            "GET", target, headers={"Host": parts.netloc}, redirect=False, preload_content=False
        )
    except urllib3.exceptions.HTTPError as exc:
        pool.close()
        raise FetchFailed(f"recording unreachable: {type(exc).__name__}", retry=True) from None
    try:
        if resp.status != 200:
            retry = resp.status >= 500 or resp.status == 429
            raise FetchFailed(f"recording server answered {resp.status}", retry=retry)
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in AUDIO_TYPES:
            raise FetchFailed(f"not an audio recording (Content-Type {ctype or 'none'})", False)
        length = resp.headers.get("Content-Length")
        size = int(length) if length and length.isdigit() else None
        if size is not None and size > max_bytes:
            raise FetchFailed(f"recording is {size} bytes, more than {max_bytes}", retry=False)
    except BaseException:
        resp.close()
        pool.close()
        raise
    return Recording(ctype, size, _bounded(resp, max_bytes), resp, pool)


def _bounded(resp: urllib3.BaseHTTPResponse, max_bytes: int) -> Iterator[bytes]:
    seen = 0
    try:
        for chunk in resp.stream(CHUNK):
            seen += len(chunk)
            if seen > max_bytes:
                raise FetchFailed(f"recording is larger than {max_bytes} bytes", retry=False)
            yield chunk
    except urllib3.exceptions.HTTPError as exc:
        raise FetchFailed(f"recording download broke off: {type(exc).__name__}", True) from None
