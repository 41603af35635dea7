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
from typing import Any

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


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.script: list[Scripted] = []
        self.lock = threading.Lock()
        self._ids = itertools.count(1001)

    def start(self) -> FakeServer:
        self.sock = eventlet.listen(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = eventlet.spawn(
            eventlet.wsgi.server, self.sock, self._wsgi, log_output=False, log=_Quiet()
        )
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
    ) -> None:
        for _ in range(times):
            self.script.append(Scripted(path_end, status, body, headers or {}, apply_first, delay))

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append((request.method, request.path))
        scripted = None
        for s in self.script:
            if request.path.endswith(s.path_end):
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
        if values.get("access_token") != self.TOKEN:
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
