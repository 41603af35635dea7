"""Zalo Official Account through its Open API (openapi.zalo.me, token in the access_token header).

Articles are made in steps, as Zalo documents them, each one checkpointed on the delivery:
1. POST /v2.0/article/create with status "hide" → a token (Zalo processes it asynchronously);
2. POST /v2.0/article/verify {token} → the article id (still hidden: nobody sees it yet);
3. only then, with loa's approval still standing at send time, POST /v2.0/article/update with
   status "show" → a token, verified again → the article is visible on the OA.
A video post first uploads its clip: POST /v2.0/article/upload_video/preparevideo (multipart)
→ a token; GET /v2.0/article/upload_video/verify (token header) → video_id and a status (1 ready,
3 processing, 2 locked, 4 failed, 5 deleted); the article is then of type "video".
Broadcasting an article to the followers is never a side effect: it is its own delivery, scheduled
explicitly once the article is on Zalo (options.broadcast, POST /v2.0/oa/message with a media
template). A broadcast whose outcome is unknown is not repeated: Zalo offers no way to ask.

Zalo answers HTTP 200 with {"error": <code>, "message": …}; 0 is success. Read as documented:
-216 / -124 invalid or expired access token (permanent: renew it), -32 the app's per-minute
request limit (wait a minute), -211 the OA's broadcast quota (wait a day), other negative codes a
refused request (permanent), HTTP 5xx or 429 transient.
"""

from __future__ import annotations

import json
from datetime import timedelta
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

TOKEN_CODES = {-216, -124}
RATE_CODES = {-32}
QUOTA_CODES = {-211}
VIDEO_READY, VIDEO_PROCESSING = 1, 3
VIDEO_STATES = {0: "unknown", 1: "ready", 2: "locked", 3: "processing", 4: "failed", 5: "deleted"}


class ZaloTransmitter(Transmitter):
    channel = "zalo"

    def __init__(
        self, api_url: str, token: str, store: Any, timeout: float = 30.0,
        cover_url: str | None = None, video_poll_s: float = 30.0,
    ) -> None:  # fmt: skip
        self.api = api_url.rstrip("/")
        self.token = token
        register_secrets([token])
        self.store = store
        self.timeout = timeout
        self.cover_url = cover_url
        self.video_poll_s = video_poll_s
        self.http = requests.Session()

    # --- Open API -------------------------------------------------------------------------
    def _api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"access_token": self.token, **kwargs.pop("headers", {})}
        resp = call(self.http, method, f"{self.api}{path}", self.timeout, headers=headers, **kwargs)
        if resp.status_code == 429:
            raise TransientError(f"Zalo {path}: HTTP 429 (rate limited)", retry_after(resp, 60))
        if resp.status_code >= 500:
            raise TransientError(f"Zalo {path}: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise TransientError(f"Zalo {path}: HTTP {resp.status_code}, not JSON") from None
        code = int(body.get("error") or 0)
        if resp.status_code < 400 and code == 0:
            return body.get("data") or {}  # type: ignore[no-any-return]
        what = (
            f"Zalo error {code or resp.status_code} on {path}: {body.get('message') or resp.reason}"
        )
        if code in TOKEN_CODES:
            raise PermanentError(
                f"{what}. Mã truy cập OA không hợp lệ hoặc đã hết hạn; hãy cấp lại "
                "LOA_PUB_ZALO_ACCESS_TOKEN / the OA access token is invalid or expired; renew it"
            )
        if code in RATE_CODES:
            raise TransientError(f"{what} (rate limited)", 60)
        if code in QUOTA_CODES:
            raise TransientError(f"{what} (quota spent)", 24 * 3600)
        raise PermanentError(f"{what} (Zalo refused the request)")

    # --- send -----------------------------------------------------------------------------
    def send(self, job: Job) -> SendResult:
        if job.options.get("broadcast"):
            return self._broadcast(job)
        article = json.loads(job.file("article.json").text or "{}")
        if article.get("type") == "video":
            article["video_id"] = self._video(job)
            avatar = self._cover({"photo_key": article.pop("avatar_key", None)})
            article["avatar"] = avatar["photo_url"]
        else:
            article["cover"] = self._cover(article.get("cover") or {})
        article_id = job.progress.get("article_id")
        if not article_id:
            token = job.progress.get("article_token")
            if not token:
                job.checkpoint(create_attempted=True)
                hidden = {**article, "status": "hide"}
                token = self._api("POST", "/v2.0/article/create", json=hidden)["token"]
                job.checkpoint(article_token=token)
            article_id = self._verify(token)
            job.checkpoint(article_id=article_id)
        if not job.progress.get("shown"):
            shown = {**article, "id": article_id, "status": "show"}
            token = self._api("POST", "/v2.0/article/update", json=shown)["token"]
            self._verify(token)
            job.checkpoint(shown=True)
        return SendResult(remote_id=article_id)

    def _verify(self, token: str) -> str:
        data = self._api("POST", "/v2.0/article/verify", json={"token": token})
        if not data.get("id"):
            raise TransientError("Zalo is still processing the article; asking again later", 30)
        return str(data["id"])

    def _cover(self, cover: dict[str, Any]) -> dict[str, Any]:
        """A photo cover needs a URL Zalo can fetch: a signed link to the stored image, or the
        configured default cover."""
        key = cover.pop("photo_key", None)
        if key:
            cover["photo_url"] = self.store.url(key, timedelta(days=7))
        elif self.cover_url:
            cover = {"cover_type": "photo", "photo_url": self.cover_url, "status": "show"}
        else:
            raise PermanentError(
                "Bài Zalo cần ảnh bìa: thêm ảnh vào bài hoặc đặt LOA_PUB_ZALO_COVER_URL / a Zalo "
                "article needs a cover photo: add an image or set LOA_PUB_ZALO_COVER_URL"
            )
        return cover

    def _video(self, job: Job) -> str:
        """The clip on Zalo: uploaded once (token checkpointed), then verified until ready."""
        if job.progress.get("video_id"):
            return str(job.progress["video_id"])
        token = job.progress.get("video_token")
        if not token:
            try:
                key = job.file("video.mp4").store_key or ""
            except KeyError:
                raise PermanentError("the video post has no rendition to upload") from None
            with self.store.open(key) as reader:
                data = reader.read()
            token = self._api(
                "POST", "/v2.0/article/upload_video/preparevideo",
                files={"file": (key.rsplit("/", 1)[-1], data, "video/mp4")},
            )["token"]  # fmt: skip
            job.checkpoint(video_token=token)
        info = self._api("GET", "/v2.0/article/upload_video/verify", headers={"token": token})
        status = int(info.get("status") or 0)
        if status == VIDEO_READY and info.get("video_id"):
            job.checkpoint(video_id=str(info["video_id"]))
            return str(info["video_id"])
        if status in (VIDEO_PROCESSING, 0):
            raise TransientError(
                f"Zalo is processing the video ({info.get('convert_percent', 0)}%); later",
                self.video_poll_s,
            )
        raise PermanentError(
            f"Zalo could not take the video: {VIDEO_STATES.get(status, status)}: "
            f"{info.get('status_message') or ''}".strip()
        )

    def _broadcast(self, job: Job) -> SendResult:
        article_id = job.options.get("article_id")
        if not article_id:
            raise PermanentError("a broadcast needs the Zalo article id (options.article_id)")
        job.checkpoint(broadcast_attempted=True)
        body = {
            "recipient": {"target": dict(job.options.get("target") or {})},
            "message": {"attachment": {"type": "template", "payload": {
                "template_type": "media",
                "elements": [{"media_type": "article", "attachment_id": article_id}],
            }}},
        }  # fmt: skip
        data = self._api("POST", "/v2.0/oa/message", json=body)
        return SendResult(remote_id=str(data.get("message_id") or article_id))

    # --- unknown outcome ------------------------------------------------------------------
    def find(self, job: Job) -> SendResult | None:
        """Where the article stands on the OA. A hidden one is not done: send() carries on
        from its checkpoints (never creating a second article)."""
        if job.options.get("broadcast"):
            if job.progress.get("broadcast_attempted"):
                raise PermanentError(
                    "không rõ tin quảng bá đã gửi chưa; không gửi lại / it is unknown whether the "
                    "broadcast went out and Zalo cannot be asked: it is not repeated; check the "
                    "OA's broadcast history"
                )
            return None
        article_id = job.progress.get("article_id")
        if not article_id and job.progress.get("article_token"):
            data = self._api("POST", "/v2.0/article/verify",
                             json={"token": job.progress["article_token"]})  # fmt: skip
            if data.get("id"):
                article_id = str(data["id"])
                job.checkpoint(article_id=article_id)
        if not article_id and job.progress.get("create_attempted"):
            article_id = self._find_by_title(job)
            if article_id:
                job.checkpoint(article_id=article_id)
        if not article_id:
            return None
        detail = self._api("GET", "/v2.0/article/getdetail", params={"id": article_id})
        if detail.get("status") == "show":
            job.checkpoint(shown=True)
            return SendResult(remote_id=article_id)
        return None

    def _find_by_title(self, job: Job) -> str | None:
        """An article whose create call got no answer: look for it among the newest."""
        article = json.loads(job.file("article.json").text or "{}")
        kind = "video" if article.get("type") == "video" else "normal"
        data = self._api("GET", "/v2.0/article/getslice",
                         params={"offset": 0, "limit": 10, "type": kind})  # fmt: skip
        for entry in data.get("medias") or []:
            if entry.get("title") == article.get("title"):
                return str(entry["id"])
        return None

    def close(self) -> None:
        self.http.close()
