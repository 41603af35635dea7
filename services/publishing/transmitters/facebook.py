"""Facebook Page through the Graph API: feed posts with photos, chunked video upload, and the
page's native scheduled publishing as a fallback when loa may not be up at the due time.

Error codes are read as the Graph API documents them: 190 (and 102) an expired or invalid token,
4/17/32/613 rate limits, 1/2 temporary service errors, 368 content blocked, 100 a bad parameter.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

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

RATE_LIMIT_CODES = {4, 17, 32, 613, 80001}
TEMPORARY_CODES = {1, 2}
TOKEN_CODES = {102, 190}
MIN_NATIVE_LEAD = timedelta(minutes=10)


class FacebookTransmitter(Transmitter):
    channel = "facebook"

    def __init__(
        self, graph_url: str, page_id: str, token: str, store: Any, timeout: float = 30.0,
        chunk_size: int = 4 * 1024 * 1024,
    ) -> None:  # fmt: skip
        self.graph = graph_url.rstrip("/")
        self.page_id = page_id
        self.token = token
        register_secrets([token])
        self.store = store
        self.timeout = timeout
        self.chunk_size = chunk_size
        self.http = requests.Session()

    # --- Graph API ------------------------------------------------------------------------
    def _graph(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        # The token goes in a header, never in the URL (URLs end up in errors and logs).
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        resp = call(
            self.http, method, f"{self.graph}/{path}", self.timeout, headers=headers, **kwargs
        )
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code < 400 and "error" not in body:
            return body  # type: ignore[no-any-return]
        err = body.get("error") or {}
        code = int(err.get("code") or 0)
        message = err.get("message") or resp.reason or "unknown error"
        what = f"Facebook error {code or resp.status_code}: {message}"
        if resp.status_code == 429 or code in RATE_LIMIT_CODES:
            raise TransientError(f"{what} (rate limited)", retry_after(resp, 300))
        if code in TOKEN_CODES:
            raise PermanentError(
                f"{what}. Mã truy cập Trang đã hết hạn hoặc bị thu hồi; hãy cấp lại "
                "LOA_PUB_FACEBOOK_PAGE_TOKEN / the Page token expired or was revoked; renew it"
            )
        if code in TEMPORARY_CODES or resp.status_code >= 500 or err.get("is_transient"):
            raise TransientError(
                what, retry_after(resp, 30) if "Retry-After" in resp.headers else None
            )
        raise PermanentError(f"{what} (Facebook refused the content or request)")

    # --- send -----------------------------------------------------------------------------
    def send(self, job: Job) -> SendResult:
        post = json.loads(job.file("post.json").text or "{}")
        schedule = self._native_time(job)
        if any(f.name == "video.mp4" for f in job.files):
            return self._video(job, post, schedule)
        params: dict[str, Any] = {"message": post["message"]}
        photo_ids = [self._photo(key) for key in post.get("photos") or []]
        if photo_ids:
            params["attached_media"] = json.dumps([{"media_fbid": p} for p in photo_ids])
            if post.get("link"):
                params["message"] = f"{post['message']}\n\n{post['link']}"
        elif post.get("link"):
            params["link"] = post["link"]
        if schedule:
            params.update(published="false", scheduled_publish_time=str(schedule))
        body = self._graph("POST", f"{self.page_id}/feed", data=params)
        post_id = str(body["id"])
        return SendResult(remote_id=post_id, url=f"https://www.facebook.com/{post_id}")

    def _native_time(self, job: Job) -> int | None:
        """Unix time for Facebook's own scheduler, when the delivery asks for it."""
        if not job.options.get("native_schedule"):
            return None
        publish_at = job.options.get("publish_at")
        if not publish_at:
            return None
        when = datetime.fromisoformat(publish_at)
        if when - datetime.now(UTC) < MIN_NATIVE_LEAD:
            return None  # too close: Facebook refuses; post now instead
        return int(when.timestamp())

    def _photo(self, key: str) -> str:
        with self.store.open(key) as reader:
            data = reader.read()
            ctype = reader.info.content_type or "image/jpeg"
        body = self._graph(
            "POST", f"{self.page_id}/photos", data={"published": "false"},
            files={"source": (key.rsplit("/", 1)[-1], data, ctype)},
        )  # fmt: skip
        return str(body["id"])

    def _video(self, job: Job, post: dict[str, Any], schedule: int | None) -> SendResult:
        key = job.file("video.mp4").store_key
        info = self.store.stat(key)
        start = self._graph(
            "POST", f"{self.page_id}/videos",
            data={"upload_phase": "start", "file_size": str(info.size)},
        )  # fmt: skip
        session_id, video_id = str(start["upload_session_id"]), str(start["video_id"])
        job.checkpoint(video_id=video_id, upload_session_id=session_id)
        offset, end = int(start["start_offset"]), int(start["end_offset"])
        while offset < end:
            with self.store.get_range(key, offset, end - offset) as reader:
                chunk = reader.read()
            body = self._graph(
                "POST", f"{self.page_id}/videos",
                data={"upload_phase": "transfer", "upload_session_id": session_id,
                      "start_offset": str(offset)},
                files={"video_file_chunk": ("chunk", chunk, "application/octet-stream")},
            )  # fmt: skip
            offset, end = int(body["start_offset"]), int(body["end_offset"])
        finish: dict[str, Any] = {
            "upload_phase": "finish",
            "upload_session_id": session_id,
            "title": post.get("title", ""),
            "description": post.get("description", post.get("message", "")),
        }
        if schedule:
            finish.update(published="false", scheduled_publish_time=str(schedule))
        self._graph("POST", f"{self.page_id}/videos", data=finish)
        return SendResult(remote_id=video_id, url=f"https://www.facebook.com/{video_id}")

    # --- unknown outcome ------------------------------------------------------------------
    def find(self, job: Job) -> SendResult | None:
        """Look on the Page for what this delivery would have created."""
        video_id = job.progress.get("video_id")
        if video_id:
            try:
                body = self._graph("GET", video_id, params={"fields": "id,status"})
            except PermanentError:
                return None
            status = (body.get("status") or {}).get("video_status")
            if status in ("ready", "processing", "upload_complete"):
                return SendResult(remote_id=video_id, url=f"https://www.facebook.com/{video_id}")
            return None
        post = json.loads(job.file("post.json").text or "{}")
        since = (job.claimed_at or datetime.now(UTC)) - timedelta(minutes=10)
        for edge in ("feed", "scheduled_posts"):
            body = self._graph(
                "GET", f"{self.page_id}/{edge}",
                params={"fields": "id,message,created_time", "since": str(int(since.timestamp())),
                        "limit": "100"},
            )  # fmt: skip
            for entry in body.get("data") or []:
                if (entry.get("message") or "").startswith(post["message"]):
                    return SendResult(
                        remote_id=str(entry["id"]), url=f"https://www.facebook.com/{entry['id']}"
                    )
        return None

    def close(self) -> None:
        self.http.close()
