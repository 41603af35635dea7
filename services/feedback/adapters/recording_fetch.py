"""Downloading a call recording from the call center: only from the allowed URL prefix, only
audio, never more than the size limit (checked on Content-Length and again while streaming)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import requests

AUDIO_TYPES = frozenset(
    {"audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav", "audio/wave", "audio/ogg", "audio/mp4"}
)
CHUNK = 64 * 1024


class FetchFailed(Exception):
    def __init__(self, reason: str, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def allowed(url: str, prefix: str) -> bool:
    """http(s) only, and under the configured prefix when there is one."""
    if not url.startswith(("http://", "https://")):
        return False
    return not prefix or url.startswith(prefix)


@dataclass
class Recording:
    content_type: str
    size: int | None
    chunks: Iterator[bytes]
    response: requests.Response

    def close(self) -> None:
        self.response.close()


def open_recording(url: str, max_bytes: int, timeout: float = 30.0) -> Recording:
    """Start the download; the caller streams .chunks into storage and closes it."""
    try:
        resp = requests.get(url, stream=True, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise FetchFailed(f"recording unreachable: {type(exc).__name__}", retry=True) from None
    try:
        if resp.status_code != 200:
            retry = resp.status_code >= 500 or resp.status_code == 429
            raise FetchFailed(f"recording server answered {resp.status_code}", retry=retry)
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in AUDIO_TYPES:
            raise FetchFailed(f"not an audio recording (Content-Type {ctype or 'none'})", False)
        length = resp.headers.get("Content-Length")
        size = int(length) if length and length.isdigit() else None
        if size is not None and size > max_bytes:
            raise FetchFailed(f"recording is {size} bytes, more than {max_bytes}", retry=False)
    except BaseException:
        resp.close()
        raise
    return Recording(ctype, size, _bounded(resp, max_bytes), resp)


def _bounded(resp: requests.Response, max_bytes: int) -> Iterator[bytes]:
    seen = 0
    for chunk in resp.iter_content(CHUNK):
        seen += len(chunk)
        if seen > max_bytes:
            raise FetchFailed(f"recording is larger than {max_bytes} bytes", retry=False)
        yield chunk
