"""The console's static files (CSS, JavaScript modules) from services/gateway/static/.

Names are resolved with werkzeug's safe_join inside that one folder (no `..`, no absolute paths,
no hidden files), only a short list of types is served, and every answer carries a strong ETag.
A URL made by `static_url` carries the file's content hash (?v=…) and may be cached for a year;
a bare URL (the way JS modules import each other) is revalidated on every use (304 when unchanged).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from services.gateway.http import RequestContext, route
from shared.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TYPES: dict[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}
YEAR_S = 365 * 24 * 3600


@dataclass(frozen=True)
class StaticFile:
    path: Path
    body: bytes
    etag: str
    content_type: str


@lru_cache(maxsize=256)
def _load(path: Path, mtime_ns: int, size: int) -> StaticFile:
    """One file's bytes and hash, cached per (path, mtime, size): edits show up at once."""
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:16]
    return StaticFile(path, body, digest, TYPES[path.suffix.lower()])


def find(name: str) -> StaticFile:
    """The static file called name, or NotFound for anything outside the folder or unknown."""
    parts = name.split("/")
    if not name or any(p.startswith(".") or not p for p in parts):
        raise NotFound("Không có tệp này / no such file", "name")
    joined = safe_join(str(STATIC_DIR), name)
    if joined is None:
        raise NotFound("Không có tệp này / no such file", "name")
    path = Path(joined)
    if path.suffix.lower() not in TYPES or not path.is_file():
        raise NotFound("Không có tệp này / no such file", "name")
    stat = path.stat()
    return _load(path, stat.st_mtime_ns, stat.st_size)


def static_url(name: str) -> str:
    """A cache-busting URL of a static file: /static/<name>?v=<content hash>."""
    return f"/static/{name}?v={find(name).etag}"


@route(
    "GET",
    "/static/<path:name>",
    summary="The web console's CSS and JavaScript",
    tags=["console"],
    response_content_type="text/javascript",
    responses={200: "The file", 304: "Not modified", 404: "No such file"},
    roles=(),
)
def static_file(ctx: RequestContext, name: str) -> Response:
    found = find(name)
    etag = f'"{found.etag}"'
    if ctx.request.args.get("v") == found.etag:
        cache = f"public, max-age={YEAR_S}, immutable"
    else:
        cache = "no-cache"
    headers = {"ETag": etag, "Cache-Control": cache}
    if etag in [t.strip() for t in ctx.request.headers.get("If-None-Match", "").split(",")]:
        response = Response(status=304)
    else:
        response = Response(found.body, content_type=found.content_type)
    for key, value in headers.items():
        response.headers[key] = value
    return response
