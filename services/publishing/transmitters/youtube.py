"""YouTube through the Data API v3: videos.insert by the resumable upload protocol.

1. POST {api}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status with the
   metadata (title, description, privacyStatus, publishAt) → 200 and the session URI (Location).
2. PUT the file to the session URI in chunks (multiples of 256 KiB), each with
   Content-Range: bytes first-last/total. 308 Resume Incomplete answers a chunk with
   Range: bytes=0-N (what the server has); 200/201 with the video resource ends the upload.
3. After an interruption, PUT an empty body with Content-Range: bytes */total: 308 with the
   Range received so far (resume from N+1), or 200/201 if the upload had completed. 404/410: the
   session is gone; start again.

The session URI and the video id are checkpointed on the delivery, so a worker that dies mid
upload is resumed by the next one from where the server says it is, never re-sent from zero and
never uploaded twice. Errors are read as Google documents them: 401 an invalid or expired token
(permanent), 403 quotaExceeded (the daily quota: wait for its reset at midnight Pacific time),
403 rateLimitExceeded/userRateLimitExceeded and 429 (wait), 400 invalid metadata (permanent),
5xx (resume later).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from services.publishing.transmitters.base import (
    Job,
    PermanentError,
    SendResult,
    TransientError,
    Transmitter,
)
from services.publishing.transmitters.http import call, retry_after
from shared.logging import register_secrets

QUANTUM = 256 * 1024
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "uploadRateLimitExceeded"}
PACIFIC = ZoneInfo("America/Los_Angeles")


def _watch_url(video_id: str) -> str:
    return f"https://www.youtube.com/watch?v={video_id}"


def _until_quota_reset(now: datetime | None = None) -> float:
    """Seconds until YouTube's daily quota resets (midnight, Pacific time)."""
    now = (now or datetime.now(PACIFIC)).astimezone(PACIFIC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
    return (midnight - now).total_seconds()


class YouTubeTransmitter(Transmitter):
    channel = "youtube"

    def __init__(
        self, api_url: str, token: str, store: Any, timeout: float = 30.0,
        chunk_size: int = 32 * QUANTUM,
    ) -> None:  # fmt: skip
        if chunk_size % QUANTUM:
            raise ValueError("YouTube upload chunks are multiples of 256 KiB")
        self.api = api_url.rstrip("/")
        self.token = token
        register_secrets([token])
        self.store = store
        self.timeout = timeout
        self.chunk_size = chunk_size
        self.http = requests.Session()

    # --- errors ---------------------------------------------------------------------------
    def _check(self, resp: requests.Response, what: str) -> None:
        """Raise the error a non-2xx answer means; return when it is a success."""
        if resp.status_code < 300:
            return
        try:
            err = resp.json().get("error") or {}
        except ValueError:
            err = {}
        reasons = {e.get("reason") for e in err.get("errors") or [] if isinstance(e, dict)}
        message = err.get("message") or resp.reason or "unknown error"
        named = ", ".join(sorted(r for r in reasons if r))
        text = f"YouTube {what}: HTTP {resp.status_code}{f' {named}' if named else ''}: {message}"
        status = resp.status_code
        if status == 401:
            raise PermanentError(
                f"{text}. Mã truy cập YouTube không hợp lệ hoặc đã hết hạn; hãy cấp lại "
                "LOA_PUB_YOUTUBE_ACCESS_TOKEN / the OAuth token is invalid or expired; renew it"
            )
        if "quotaExceeded" in reasons:
            raise TransientError(
                f"{text} (hết hạn mức ngày / the daily quota is spent; it resets at midnight "
                "Pacific time)",
                _until_quota_reset(),
            )
        if status == 429 or reasons & RATE_REASONS:
            raise TransientError(f"{text} (rate limited)", retry_after(resp, 60))
        if status >= 500:
            hdr = "Retry-After" in resp.headers
            raise TransientError(text, retry_after(resp, 30) if hdr else None)
        raise PermanentError(f"{text} (YouTube refused the video or its metadata)")

    # --- protocol -------------------------------------------------------------------------
    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def _start(self, meta: dict[str, Any], size: int, content_type: str) -> str:
        resp = call(
            self.http, "POST", f"{self.api}/upload/youtube/v3/videos", self.timeout,
            params={"uploadType": "resumable", "part": "snippet,status"},
            data=json.dumps(meta, ensure_ascii=False).encode("utf-8"),
            headers=self._headers(**{
                "Content-Type": "application/json; charset=UTF-8",
                "X-Upload-Content-Length": str(size), "X-Upload-Content-Type": content_type,
            }),
        )  # fmt: skip
        self._check(resp, "upload start")
        location = resp.headers.get("Location")
        if not location:
            raise TransientError("YouTube upload start: no session URI (Location) in the answer")
        return location

    def _status(self, session: str, size: int) -> int | SendResult | None:
        """Ask an upload session how far it got: the next offset, the finished video, or None
        when the session no longer exists."""
        resp = call(
            self.http, "PUT", session, self.timeout, data=b"",
            headers=self._headers(**{"Content-Range": f"bytes */{size}", "Content-Length": "0"}),
        )  # fmt: skip
        if resp.status_code in (404, 410):
            return None
        return self._progress(resp, "upload status")

    def _progress(self, resp: requests.Response, what: str) -> int | SendResult:
        if resp.status_code in (200, 201):
            video_id = str(resp.json()["id"])
            return SendResult(remote_id=video_id, url=_watch_url(video_id))
        if resp.status_code == 308:
            received = re.fullmatch(r"bytes=0-(\d+)", resp.headers.get("Range", "").strip())
            return int(received.group(1)) + 1 if received else 0
        self._check(resp, what)
        raise TransientError(f"YouTube {what}: unexpected HTTP {resp.status_code}")

    # --- send -----------------------------------------------------------------------------
    def send(self, job: Job) -> SendResult:
        meta = json.loads(job.file("video.json").text or "{}")
        try:
            video = job.file("video.mp4")
        except KeyError:
            raise PermanentError(
                "the video post has no web rendition to upload (the media asset has none)"
            ) from None
        key = video.store_key or ""
        size = self.store.stat(key).size
        session: str | None = job.progress.get("upload_url")
        status: int | SendResult | None = None
        if session:
            status = self._status(session, size)
            if isinstance(status, SendResult):
                return self._done(job, status)
        if session is None or not isinstance(status, int):  # none yet, or it expired: anew
            session = self._start(meta, size, video.content_type)
            job.checkpoint(upload_url=session, offset=0)
            offset = 0
        else:
            offset = status
        while True:
            length = min(self.chunk_size, size - offset)
            with self.store.get_range(key, offset, length) as reader:
                chunk = reader.read()
            last = offset + len(chunk) - 1
            resp = call(
                self.http, "PUT", session, self.timeout, data=chunk,
                headers=self._headers(**{"Content-Range": f"bytes {offset}-{last}/{size}",
                                         "Content-Type": video.content_type}),
            )  # fmt: skip
            if resp.status_code in (404, 410):
                job.checkpoint(upload_url=None, offset=0)
                raise TransientError("YouTube upload session expired; it starts again")
            step = self._progress(resp, "upload")
            if isinstance(step, SendResult):
                return self._done(job, step)
            if step <= offset and len(chunk):
                raise TransientError(f"YouTube kept no bytes of the chunk at {offset}; later")
            offset = step
            job.checkpoint(upload_url=session, offset=offset)

    def _done(self, job: Job, result: SendResult) -> SendResult:
        job.checkpoint(video_id=result.remote_id)
        return result

    # --- unknown outcome ------------------------------------------------------------------
    def find(self, job: Job) -> SendResult | None:
        """The video this delivery made, if any: by its id, or by asking its upload session.
        An unfinished session is not a video: send() resumes it."""
        video_id = job.progress.get("video_id")
        if video_id:
            resp = call(
                self.http, "GET", f"{self.api}/youtube/v3/videos", self.timeout,
                params={"part": "status", "id": video_id}, headers=self._headers(),
            )  # fmt: skip
            self._check(resp, "videos.list")
            if resp.json().get("items"):
                return SendResult(remote_id=video_id, url=_watch_url(video_id))
            return None
        session = job.progress.get("upload_url")
        if not session:
            return None
        try:
            video = job.file("video.mp4")
        except KeyError:
            return None
        status = self._status(session, self.store.stat(video.store_key or "").size)
        return self._done(job, status) if isinstance(status, SendResult) else None

    def close(self) -> None:
        self.http.close()
