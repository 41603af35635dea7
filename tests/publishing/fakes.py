"""Local HTTP servers that answer as the platforms' documentation says, errors included.

They are real HTTP servers on 127.0.0.1 (eventlet's WSGI server); only their far side is made
up. Tests script failures with fail_next(): a status, a Graph-style error body, headers, and
whether the request is applied before the reply (to make an "unknown outcome": applied, but the
reply comes too late).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

import eventlet
import eventlet.wsgi
from werkzeug.wrappers import Request, Response


@dataclass
class Scripted:
    path_end: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    apply_first: bool = False
    delay: float = 0.0
    method: str | None = None


class FakeServer:
    protocol: type = eventlet.wsgi.HttpProtocol

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.script: list[Scripted] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(1001)

    def start(self) -> Self:
        self.sock = eventlet.listen(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = eventlet.spawn(
            eventlet.wsgi.server, self.sock, self._wsgi, log_output=False, log=_Quiet(),
            protocol=self.protocol,
        )  # fmt: skip
        return self

    def stop(self) -> None:
        self.thread.kill()
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_id(self) -> str:
        return str(next(self._ids))

    def fail_next(
        self,
        path_end: str,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        apply_first: bool = False,
        delay: float = 0.0,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        for _ in range(times):
            self.script.append(
                Scripted(path_end, status, body, headers or {}, apply_first, delay, method)
            )

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append((request.method, request.path))
        scripted = None
        for s in self.script:
            if request.path.endswith(s.path_end) and s.method in (None, request.method):
                scripted = s
                self.script.remove(s)
                break
        if scripted is None or scripted.apply_first:
            response = self.handle(request)
        if scripted is not None:
            if scripted.delay:
                eventlet.sleep(scripted.delay)
            response = Response(
                json.dumps(scripted.body), status=scripted.status, headers=scripted.headers,
                mimetype="application/json",
            )  # fmt: skip
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        raise NotImplementedError


class _Quiet:
    def write(self, *_: Any) -> None:
        pass


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                           "fbtrace_id": "AbCdEf"}  # fmt: skip
    if subcode:
        err["error_subcode"] = subcode
    return {"error": err}


class FacebookGraph(FakeServer):
    """Graph API v21.0 for one Page: /feed, /photos, /videos (resumable), /scheduled_posts."""

    PAGE = "104857600"
    TOKEN = "EAAPAGE-TOKEN"

    def __init__(self) -> None:
        super().__init__()
        self.posts: dict[str, dict[str, Any]] = {}
        self.photos: dict[str, int] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.chunk = 1024 * 1024

    def handle(self, request: Request) -> Response:
        values = request.values
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return _json(graph_error(190, "Error validating access token: Session has expired.",
                                     463), 400)  # fmt: skip
        parts = request.path.strip("/").split("/")
        if parts[0] != "v21.0":
            return _json(graph_error(2500, "Unknown path components"), 400)
        node, edge = parts[1], (parts[2] if len(parts) > 2 else "")
        if node == self.PAGE and edge == "feed" and request.method == "POST":
            return self._post(values)
        if node == self.PAGE and edge in ("feed", "scheduled_posts") and request.method == "GET":
            since = int(values.get("since", "0"))
            scheduled = edge == "scheduled_posts"
            data = [
                {"id": pid, "message": p["message"], "created_time": p["created_time"]}
                for pid, p in self.posts.items()
                if p["created"] >= since and (not p["published"]) == scheduled
            ]
            return _json({"data": data})
        if node == self.PAGE and edge == "photos" and request.method == "POST":
            upload = request.files.get("source")
            if upload is None:
                return _json(graph_error(324, "Requires upload file"), 400)
            data = upload.read()
            if len(data) > 4 * 1024 * 1024:
                return _json(graph_error(100, "Photo too large"), 400)
            pid = self.next_id()
            self.photos[pid] = len(data)
            return _json({"id": pid})
        if node == self.PAGE and edge == "videos" and request.method == "POST":
            return self._video(request)
        if node in self.videos and request.method == "GET":
            v = self.videos[node]
            return _json({"id": node, "status": {"video_status": v["status"]}})
        return _json(graph_error(100, f"Unsupported request {request.method} {request.path}"), 400)

    def _post(self, values: Any) -> Response:
        message = values.get("message", "")
        if not message and not values.get("link"):
            return _json(graph_error(100, "Invalid parameter"), 400)
        published = values.get("published", "true") != "false"
        if not published and not values.get("scheduled_publish_time"):
            return _json(graph_error(100, "scheduled_publish_time is required"), 400)
        pid = f"{self.PAGE}_{self.next_id()}"
        now = datetime.now(UTC)
        self.posts[pid] = {
            "message": message,
            "link": values.get("link"),
            "attached_media": json.loads(values.get("attached_media", "[]")),
            "published": published,
            "scheduled_publish_time": values.get("scheduled_publish_time"),
            "created": int(now.timestamp()),
            "created_time": now.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        }
        return _json({"id": pid})

    def _video(self, request: Request) -> Response:
        values = request.values
        phase = values.get("upload_phase")
        if phase == "start":
            size = int(values["file_size"])
            vid, session = self.next_id(), self.next_id()
            self.videos[vid] = {"session": session, "size": size, "data": bytearray(),
                                "status": "uploading", "title": None}  # fmt: skip
            return _json({"video_id": vid, "upload_session_id": session, "start_offset": "0",
                          "end_offset": str(min(self.chunk, size))})  # fmt: skip
        video = next((v for v in self.videos.values() if v["session"] == values.get(
            "upload_session_id")), None)  # fmt: skip
        if video is None:
            return _json(graph_error(6000, "Invalid upload session"), 400)
        if phase == "transfer":
            start = int(values["start_offset"])
            if start != len(video["data"]):
                return _json(graph_error(6001, "Bad start offset", 1363037), 400)
            video["data"] += request.files["video_file_chunk"].read()
            end = min(len(video["data"]) + self.chunk, video["size"])
            return _json({"start_offset": str(len(video["data"])), "end_offset": str(end)})
        if phase == "finish":
            if len(video["data"]) != video["size"]:
                return _json(graph_error(6001, "Upload incomplete"), 400)
            video["status"] = "ready"
            video["title"] = values.get("title")
            return _json({"success": True})
        return _json(graph_error(100, "Invalid upload_phase"), 400)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def google_error(status: int, reason: str, message: str, domain: str = "youtube") -> dict[str, Any]:
    """An error body as Google APIs send it."""
    detail = {"domain": domain, "reason": reason, "message": message}
    return {"error": {"code": status, "message": message, "errors": [detail]}}


class YouTubeApi(FakeServer):
    """YouTube Data API v3: videos.insert by the resumable upload protocol, and videos.list.

    interrupt_at: once the stored bytes of an upload reach this many, the rest of that request
    is dropped and its reply comes too late (a connection cut mid-upload, as the client sees
    it); the server keeps what it got, as YouTube does.
    """

    TOKEN = "ya29.loa-test-token"

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.interrupt_at: int | None = None
        self.interrupt_delay = 1.5
        self.received_bytes = 0

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            return _json(google_error(401, "authError", "Invalid Credentials", "global"), 401)
        path = request.path
        if path == "/upload/youtube/v3/videos" and request.method == "POST":
            return self._start(request)
        if path == "/upload/youtube/v3/videos" and request.method == "PUT":
            return self._put(request)
        if path == "/youtube/v3/videos" and request.method == "GET":
            ids = request.args.get("id", "").split(",")
            return _json({"kind": "youtube#videoListResponse",
                          "items": [self.videos[i] for i in ids if i in self.videos]})  # fmt: skip
        return _json(google_error(404, "notFound", "Not Found", "global"), 404)

    def _start(self, request: Request) -> Response:
        if request.args.get("uploadType") != "resumable":
            return _json(google_error(400, "invalidParameter", "uploadType"), 400)
        if set(request.args.get("part", "").split(",")) < {"snippet", "status"}:
            return _json(google_error(400, "invalidPart", "part"), 400)
        size = request.headers.get("X-Upload-Content-Length", "")
        if not size.isdigit():
            return _json(google_error(400, "invalidValue", "X-Upload-Content-Length"), 400)
        meta = json.loads(request.get_data() or b"{}")
        title = (meta.get("snippet") or {}).get("title") or ""
        if not title or len(title) > 100 or "<" in title or ">" in title:
            return _json(google_error(400, "invalidTitle", "The video title is invalid."), 400)
        status = meta.get("status") or {}
        if status.get("privacyStatus") not in ("public", "private", "unlisted"):
            return _json(google_error(400, "invalidVideoMetadata", "privacyStatus"), 400)
        if status.get("publishAt") and status["privacyStatus"] != "private":
            return _json(google_error(400, "invalidPublishAt",
                                      "publishAt needs privacyStatus private"), 400)  # fmt: skip
        sid = f"up-{self.next_id()}"
        self.sessions[sid] = {"meta": meta, "size": int(size), "data": bytearray(),
                              "type": request.headers.get("X-Upload-Content-Type")}  # fmt: skip
        location = f"{self.url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={sid}"
        return Response("", status=200, headers={"Location": location})

    def _put(self, request: Request) -> Response:
        session = self.sessions.get(request.args.get("upload_id", ""))
        if session is None:
            return _json(google_error(404, "notFound", "Upload session not found"), 404)
        data, size = session["data"], session["size"]
        spec = request.headers.get("Content-Range", "")
        body = request.get_data()
        if not spec.startswith("bytes */"):
            first = int(spec.split(" ", 1)[1].split("-", 1)[0])
            if first != len(data):
                return self._incomplete(session)  # the client resumes from what we have
            self.received_bytes += len(body)
            if self.interrupt_at is not None and len(data) + len(body) > self.interrupt_at:
                data += body[: max(0, self.interrupt_at - len(data))]
                self.interrupt_at = None
                eventlet.sleep(self.interrupt_delay)  # the reply never reaches the client
                return self._incomplete(session)
            data += body
        if len(data) < size:
            return self._incomplete(session)
        if "video_id" not in session:
            vid = f"yt{self.next_id()}"
            session["video_id"] = vid
            self.videos[vid] = {"kind": "youtube#video", "id": vid,
                                "snippet": session["meta"]["snippet"],
                                "status": {**session["meta"]["status"],
                                           "uploadStatus": "uploaded"},
                                "bytes": bytes(data)}  # fmt: skip
        video = {k: v for k, v in self.videos[session["video_id"]].items() if k != "bytes"}
        return _json(video, 201)

    @staticmethod
    def _incomplete(session: dict[str, Any]) -> Response:
        headers = {"Range": f"bytes=0-{len(session['data']) - 1}"} if session["data"] else {}
        return Response("", status=308, headers=headers)


def zalo_error(code: int, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


class _UnderscoreHeaders(eventlet.wsgi.HttpProtocol):  # type: ignore[misc]
    """Zalo's headers are access_token and token: keep them (eventlet drops such names)."""

    def formalize_key_naming(self, k: str) -> str:
        return k.replace("-", "_").upper()


class ZaloOA(FakeServer):
    """Zalo Official Account Open API v2.0 articles, article videos and broadcast; failures
    come as HTTP 200 with a negative "error" code, as Zalo sends them."""

    TOKEN = "zalo-oa-access-token"
    protocol = _UnderscoreHeaders

    def __init__(self) -> None:
        super().__init__()
        self.articles: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.broadcasts: list[dict[str, Any]] = []
        self.video_checks_until_ready = 1

    def handle(self, request: Request) -> Response:
        if request.headers.get("access_token") != self.TOKEN:
            return _json(zalo_error(-216, "Access token is invalid"))
        path, method = request.path, request.method
        body = json.loads(request.get_data() or b"{}") if request.is_json else {}
        if path == "/v2.0/article/create" and method == "POST":
            return self._create(body)
        if path == "/v2.0/article/update" and method == "POST":
            article = self.articles.get(str(body.get("id")))
            if article is None:
                return _json(zalo_error(-201, "Article id is invalid"))
            problem = self._invalid(body)
            if problem:
                return _json(zalo_error(-201, problem))
            article.update({k: v for k, v in body.items() if k != "id"})
            token = f"tok-{self.next_id()}"
            self.tokens[token] = article["id"]
            return _ok({"token": token})
        if path == "/v2.0/article/verify" and method == "POST":
            article_id = self.tokens.get(str(body.get("token")))
            if article_id is None:
                return _json(zalo_error(-201, "Token is invalid"))
            return _ok({"id": article_id})
        if path == "/v2.0/article/getdetail" and method == "GET":
            article = self.articles.get(request.args.get("id", ""))
            return _ok(article) if article else _json(zalo_error(-201, "Article not found"))
        if path == "/v2.0/article/getslice" and method == "GET":
            kind = request.args.get("type", "normal")
            medias = [{"id": a["id"], "title": a["title"], "status": a["status"],
                       "type": a["type"]} for a in reversed(self.articles.values())
                      if a["type"] == kind]  # fmt: skip
            limit = min(int(request.args.get("limit", "10")), 10)
            return _ok({"medias": medias[:limit], "total": len(medias)})
        if path == "/v2.0/article/upload_video/preparevideo" and method == "POST":
            upload = request.files.get("file")
            if upload is None:
                return _json(zalo_error(-201, "File is missing"))
            data = upload.read()
            if len(data) > 50 * 1024 * 1024:
                return _json(zalo_error(-210, "File size exceeds 50MB"))
            token = f"vtok-{self.next_id()}"
            self.videos[token] = {"video_id": f"v{self.next_id()}", "size": len(data),
                                  "checks": 0}  # fmt: skip
            return _ok({"token": token})
        if path == "/v2.0/article/upload_video/verify" and method == "GET":
            video = self.videos.get(request.headers.get("token", ""))
            if video is None:
                return _json(zalo_error(-201, "Token is invalid"))
            video["checks"] += 1
            ready = video["checks"] >= self.video_checks_until_ready
            return _ok({"video_id": video["video_id"] if ready else "",
                        "status": 1 if ready else 3, "convert_percent": 100 if ready else 40,
                        "status_message": "ok" if ready else "processing"})  # fmt: skip
        if path == "/v2.0/oa/message" and method == "POST":
            elements = (((body.get("message") or {}).get("attachment") or {}).get("payload")
                        or {}).get("elements") or []  # fmt: skip
            ids = [e.get("attachment_id") for e in elements if e.get("media_type") == "article"]
            if not ids or any(self.articles.get(i, {}).get("status") != "show" for i in ids):
                return _json(zalo_error(-201, "Attachment is invalid or not published"))
            self.broadcasts.append(body)
            return _ok({"message_id": f"msg-{self.next_id()}"})
        return _json(zalo_error(-201, f"Unsupported {method} {path}"))

    @staticmethod
    def _invalid(article: dict[str, Any]) -> str | None:
        if not article.get("title") or len(article["title"]) > 150:
            return "title is required, at most 150 characters"
        if len(article.get("description") or "") > 300:
            return "description is at most 300 characters"
        if article.get("type") == "video":
            if not article.get("video_id") or not article.get("avatar"):
                return "a video article needs video_id and avatar"
            return None
        cover = article.get("cover") or {}
        if cover.get("cover_type") != "photo" or not cover.get("photo_url"):
            return "cover with photo_url is required"
        if not article.get("author") or len(article["author"]) > 50:
            return "author is required, at most 50 characters"
        if not article.get("body"):
            return "body is required"
        return None

    def _create(self, body: dict[str, Any]) -> Response:
        problem = self._invalid(body)
        if problem:
            return _json(zalo_error(-201, problem))
        if body.get("type") == "video" and not any(
            v["video_id"] == body["video_id"] for v in self.videos.values()
        ):
            return _json(zalo_error(-201, "video_id is invalid"))
        article_id = f"art{self.next_id()}"
        self.articles[article_id] = {**body, "id": article_id}
        token = f"tok-{self.next_id()}"
        self.tokens[token] = article_id
        return _ok({"token": token})


def _ok(data: Any) -> Response:
    return _json({"error": 0, "message": "Success", "data": data})
