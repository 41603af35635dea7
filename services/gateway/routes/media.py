"""Media routes: tus 1.0.0 resumable uploads, a plain form upload, and the asset API.

The gateway streams each PATCH body straight into object storage, part by part (a bounded buffer
of one part, so a 4 GB upload needs a few MiB of memory), while the media service owns the
upload's state (offset, parts, lease) through RPC. Everything after the last byte (assembly,
hashing, probing, transcoding) happens off-request in media's work queues.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
import unicodedata
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Response

from services.gateway.auth import require
from services.gateway.auth.policy import MEDIA_WRITE
from services.gateway.http import RequestContext, json_response, problem_response, route
from shared.actor import account_actor
from shared.errors import BadRequest, Conflict, LoaError, NotFound, PayloadTooLarge
from shared.runtime.rpc import as_loa_error
from shared.storage.base import MIN_PART_SIZE

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,expiration,checksum,termination"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
OCTETS = "application/offset+octet-stream"
READ_CHUNK = 1024 * 1024
RENEW_EVERY_S = 30.0
TAGS = ["media"]


# --------------------------------------------------------------------------------- tus errors


class TusPreconditionFailed(LoaError):
    status = 412
    title = "Phiên bản tus không hỗ trợ / Unsupported tus version"
    slug = "tus-version"


class Gone(LoaError):
    status = 410
    title = "Lượt tải lên đã hết hạn hoặc bị huỷ / Upload expired or terminated"
    slug = "gone"


class Locked(LoaError):
    status = 423
    title = "Đang có yêu cầu khác ghi vào lượt tải này / Upload is locked"
    slug = "locked"


class ChecksumMismatch(LoaError):
    status = 460
    title = "Sai mã kiểm tra / Checksum mismatch"
    slug = "checksum-mismatch"


class UnsupportedContentType(LoaError):
    status = 415
    title = "Kiểu nội dung không hỗ trợ / Unsupported media type"
    slug = "unsupported-media-type"


def _tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
    headers.update(extra or {})
    return headers


def _tus(ctx: RequestContext, fn: Any) -> Response:
    """Run a tus handler: every answer, errors included, carries the tus headers."""
    try:
        if ctx.request.method != "OPTIONS":
            version = ctx.request.headers.get("Tus-Resumable")
            if version != TUS_VERSION:
                raise TusPreconditionFailed(
                    f"Tus-Resumable must be {TUS_VERSION} (got {version or 'nothing'})",
                    "Tus-Resumable",
                )
        response: Response = fn()
    except Exception as exc:  # noqa: BLE001 - turned into a problem with tus headers
        known = as_loa_error(exc)
        if known is None:
            raise
        extra = {"Tus-Version": TUS_VERSION} if known.status == 412 else {}
        return problem_response(known.to_problem(ctx.request.path), _tus_headers(extra))
    for key, value in _tus_headers().items():
        response.headers.setdefault(key, value)
    return response


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(status=status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_date(iso: str | None) -> str | None:
    return format_datetime(datetime.fromisoformat(iso), usegmt=True) if iso else None


def _int_header(ctx: RequestContext, name: str) -> int:
    raw = ctx.request.headers.get(name)
    if raw is None or not raw.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer", name)
    return int(raw)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """Upload-Metadata: 'key base64,key2 base64' (values optional), NFC text."""
    meta: dict[str, str] = {}
    if not raw:
        return meta
    for pair in raw.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        if not key or " " in value.strip():
            raise BadRequest("Upload-Metadata is malformed", "Upload-Metadata")
        try:
            text = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(
                f"Upload-Metadata value of {key!r} is not base64 UTF-8", "Upload-Metadata"
            ) from None
        meta[key] = unicodedata.normalize("NFC", text)
    return meta


def _checksum(ctx: RequestContext) -> tuple[Any, bytes] | None:
    raw = ctx.request.headers.get("Upload-Checksum")
    if not raw:
        return None
    algorithm, _, value = raw.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise BadRequest(
            f"checksum algorithm {algorithm!r} is not supported (use {', '.join(CHECKSUMS)})",
            "Upload-Checksum",
        )
    try:
        expected = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise BadRequest("Upload-Checksum value is not base64", "Upload-Checksum") from None
    return CHECKSUMS[algorithm](), expected


# --------------------------------------------------------------------------------- streaming


class PartWriter:
    """Fills one part-sized buffer from the request and sends each full buffer as a part.

    What is left at the end of a PATCH (less than a part) is kept as a small 'tail' object and
    put in front of the next PATCH's bytes, because S3 parts other than the last must be 5 MiB.
    """

    def __init__(self, ctx: RequestContext, upload: dict[str, Any], part_size: int) -> None:
        self.store = ctx.store
        self.upload = upload
        self.buffer = bytearray(part_size)
        self.view = memoryview(self.buffer)
        self.fill = 0
        self.next_part = int(upload["next_part"])
        self.new_parts: list[list[Any]] = []
        if upload["tail_key"]:
            with self.store.open(upload["tail_key"]) as reader:
                for chunk in reader:
                    self._copy(chunk)

    def _copy(self, data: bytes | memoryview) -> None:
        data = memoryview(data)
        while data:
            take = min(len(data), len(self.buffer) - self.fill)
            self.view[self.fill : self.fill + take] = data[:take]
            self.fill += take
            data = data[take:]
            if self.fill == len(self.buffer):
                self._flush()

    def write(self, data: bytes) -> None:
        self._copy(data)

    def _flush(self) -> None:
        u = self.upload
        etag = self.store.put_part(
            u["storage_key"],
            u["multipart_id"],
            self.next_part,
            self.view[: self.fill],
            size=self.fill,
        )
        self.new_parts.append([self.next_part, etag, self.fill])
        self.next_part += 1
        self.fill = 0

    def finish(self, complete: bool) -> tuple[str | None, int]:
        """Send the rest as a part if allowed, else store it as the new tail."""
        if self.fill == 0:
            return None, 0
        if complete or self.fill >= MIN_PART_SIZE:
            self._flush()
            return None, 0
        key = f"uploads/{self.upload['id']}/tail-{self.next_part}-{secrets.token_hex(4)}"
        self.store.put(key, self.view[: self.fill], size=self.fill)
        return key, self.fill


def _receive(ctx: RequestContext, upload: dict[str, Any], lease: str) -> Response:
    """Stream the body into storage and report it to media; the PATCH core of tus."""
    req = ctx.request
    offset, length = int(upload["offset"]), int(upload["length"])
    checksum = _checksum(ctx)
    declared = req.content_length
    if declared is not None and offset + declared > length:
        ctx.services.call("media", "upload_release", upload["id"], lease)  # nothing was read
        raise PayloadTooLarge(
            f"the body would take the upload past its Upload-Length of {length} bytes",
            "Content-Length",
        )
    config = _config(ctx)
    writer = PartWriter(ctx, upload, int(config["part_size"]))
    received = 0
    interrupted = False
    last_renew = time.monotonic()
    try:
        while True:
            chunk = req.stream.read(READ_CHUNK)
            if not chunk:
                break
            if offset + received + len(chunk) > length:
                raise PayloadTooLarge(
                    f"the body goes past the upload's length of {length} bytes", "Content-Length"
                )
            if checksum is not None:
                checksum[0].update(chunk)
            writer.write(chunk)
            received += len(chunk)
            if time.monotonic() - last_renew > RENEW_EVERY_S:
                ctx.services.call("media", "upload_renew", upload["id"], lease)
                last_renew = time.monotonic()
    except LoaError:
        ctx.services.call("media", "upload_release", upload["id"], lease)
        raise
    except Exception:  # noqa: BLE001 - the client went away: keep what arrived (tus core)
        interrupted = True
    if checksum is not None and (interrupted or checksum[0].digest() != checksum[1]):
        ctx.services.call("media", "upload_release", upload["id"], lease)
        if interrupted:
            return _empty(400)
        raise ChecksumMismatch(
            "Mã kiểm tra không khớp, phần này bị bỏ / the checksum of this chunk does not match; "
            "it was discarded, send it again",
            "Upload-Checksum",
        )
    complete = offset + received == length
    tail_key, tail_size = writer.finish(complete)
    stored = ctx.services.call(
        "media",
        "upload_commit",
        upload["id"],
        lease,
        writer.new_parts,
        tail_key,
        tail_size,
        offset + received,
        actor=uploader(ctx),
    )
    return _empty(204, _offset_headers(stored))


def _offset_headers(upload: dict[str, Any]) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload["offset"])}
    expires = _http_date(upload.get("expires_at"))
    if expires and upload["state"] == "uploading":
        headers["Upload-Expires"] = expires
    return headers


_CONFIG: dict[str, Any] = {}


def _config(ctx: RequestContext) -> dict[str, Any]:
    """Limits from media (cached a minute: they change only with media's configuration)."""
    if not _CONFIG or time.monotonic() - _CONFIG["at"] > 60:
        _CONFIG.update(ctx.services.call("media", "upload_config"), at=time.monotonic())
    return _CONFIG


def uploader(ctx: RequestContext) -> dict[str, Any]:
    """The signed-in account: an upload is its creator's (media checks it on every call)."""
    return account_actor(require(ctx))


def _get_upload(ctx: RequestContext, upload_id: str) -> dict[str, Any]:
    upload = ctx.services.call("media", "upload_get", upload_id, uploader(ctx))
    if upload["state"] in ("expired", "terminated"):
        raise Gone(f"the upload is {upload['state']}; start a new one", "upload_id")
    return dict(upload)


# --------------------------------------------------------------------------------- tus routes


def _options(ctx: RequestContext) -> Response:
    config = _config(ctx)
    return _empty(
        204,
        {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(config["max_size"]),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


@route("OPTIONS", "/api/media/uploads", summary="tus: what this server supports", tags=TAGS)
def tus_options(ctx: RequestContext) -> Response:
    return _tus(ctx, lambda: _options(ctx))


@route("OPTIONS", "/api/media/uploads/<upload_id>", summary="tus: server support", tags=TAGS)
def tus_options_upload(ctx: RequestContext, upload_id: str) -> Response:
    return _tus(ctx, lambda: _options(ctx))


@route(
    "POST",
    "/api/media/uploads",
    summary="tus: create an upload (optionally with its first bytes)",
    tags=TAGS,
    responses={201: "Created", 400: "Bad headers", 412: "tus version", 413: "Too large"},
    body="upload",  # creation-with-upload: the first bytes stream like a PATCH
)
def tus_create(ctx: RequestContext) -> Response:
    """Headers: Upload-Length, Upload-Metadata (filename, filetype, title…)."""

    def create() -> Response:
        if ctx.request.headers.get("Upload-Defer-Length"):
            raise BadRequest("Upload-Defer-Length is not supported; send Upload-Length")
        length = _int_header(ctx, "Upload-Length")
        meta = parse_metadata(ctx.request.headers.get("Upload-Metadata"))
        upload = ctx.services.call("media", "upload_create", length, meta, actor=uploader(ctx))
        # from LOA_PUBLIC_URL, never from the request's Host header (which a client forges)
        location = f"{ctx.settings.public_url.rstrip('/')}/api/media/uploads/{upload['id']}"
        headers = {"Location": location, **_offset_headers(upload)}
        has_body = (ctx.request.content_length or 0) > 0
        if has_body and (ctx.request.mimetype or "") == OCTETS:
            begin = ctx.services.call(
                "media", "upload_begin_patch", upload["id"], 0, actor=uploader(ctx)
            )
            patched = _receive(ctx, begin["upload"], begin["lease"])
            headers["Upload-Offset"] = patched.headers["Upload-Offset"]
        return _empty(201, headers)

    return _tus(ctx, create)


@route("HEAD", "/api/media/uploads/<upload_id>", summary="tus: current offset", tags=TAGS)
def tus_head(ctx: RequestContext, upload_id: str) -> Response:
    def head() -> Response:
        upload = _get_upload(ctx, upload_id)
        headers = {"Upload-Length": str(upload["length"]), **_offset_headers(upload)}
        if upload["meta"]:
            headers["Upload-Metadata"] = ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in upload["meta"].items()
            )
        return _empty(200, headers)

    return _tus(ctx, head)


@route(
    "PATCH",
    "/api/media/uploads/<upload_id>",
    summary="tus: append bytes at Upload-Offset",
    tags=TAGS,
    request_content_type=OCTETS,
    responses={204: "Stored", 409: "Wrong offset", 410: "Expired", 460: "Checksum mismatch"},
)
def tus_patch(ctx: RequestContext, upload_id: str) -> Response:
    def patch() -> Response:
        if (ctx.request.mimetype or "") != OCTETS:
            raise UnsupportedContentType(f"Content-Type must be {OCTETS}", "Content-Type")
        offset = _int_header(ctx, "Upload-Offset")
        _checksum(ctx)  # a malformed header is a 400 before any byte is read
        begin = ctx.services.call(
            "media", "upload_begin_patch", upload_id, offset, actor=uploader(ctx)
        )
        result, upload = begin["result"], begin["upload"]
        if result == "gone":
            raise Gone(f"the upload is {upload['state']}; start a new one", "upload_id")
        if result == "complete":
            if offset == upload["length"] and not ctx.request.content_length:
                return _empty(204, _offset_headers(upload))
            raise Conflict("the upload is already complete", "Upload-Offset")
        if result == "offset":
            raise Conflict(
                f"Upload-Offset {offset} does not match the server's {upload['offset']}; "
                "ask with HEAD and resume from there",
                "Upload-Offset",
            )
        if result == "locked":
            raise Locked("another request is writing to this upload; retry shortly", "upload_id")
        return _receive(ctx, upload, begin["lease"])

    return _tus(ctx, patch)


@route("DELETE", "/api/media/uploads/<upload_id>", summary="tus: terminate an upload", tags=TAGS)
def tus_delete(ctx: RequestContext, upload_id: str) -> Response:
    def delete() -> Response:
        _get_upload(ctx, upload_id)
        ctx.services.call("media", "upload_terminate", upload_id, actor=uploader(ctx))
        return _empty(204)

    return _tus(ctx, delete)


class UploadStatus(BaseModel):
    id: str
    state: str
    length: int
    offset: int
    asset_id: str | None = None
    reason: str | None = None
    expires_at: str | None = None


@route(
    "GET",
    "/api/media/uploads/<upload_id>/status",
    summary="What became of an upload (asset id, or why it was rejected)",
    tags=TAGS,
    response_model=UploadStatus,
)
def upload_status(ctx: RequestContext, upload_id: str) -> Any:
    return UploadStatus.model_validate(
        ctx.services.call("media", "upload_get", upload_id, uploader(ctx))
    )


@route(
    "POST",
    "/api/media/assets",
    summary="Upload a small file in one multipart/form-data request (fields: file, title)",
    tags=TAGS,
    request_content_type="multipart/form-data",
    response_model=UploadStatus,
    responses={202: "Stored; processing follows", 413: "Too large"},
)
def form_upload(ctx: RequestContext) -> Any:
    req = ctx.request
    config = _config(ctx)
    if (req.content_length or 0) > int(config["max_form_size"]) + 64 * 1024:
        raise PayloadTooLarge(
            f"use the resumable (tus) upload for files over {config['max_form_size']} bytes",
            "file",
        )
    if req.mimetype != "multipart/form-data":
        raise UnsupportedContentType("send multipart/form-data with a 'file' field", "file")
    ctx.limit_body(int(config["max_form_size"]) + 64 * 1024)  # a chunked form too
    file = req.files.get("file")
    if file is None:
        raise BadRequest("Thiếu tệp / the 'file' field is missing", "file")
    stream = file.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    meta = {"filename": file.filename or "upload", "filetype": file.mimetype or ""}
    for name in ("title", "description", "tags", "unit_id", "logo", "burn_subtitles"):
        if req.form.get(name):
            meta[name] = req.form[name]
    upload = ctx.services.call("media", "upload_create", size, meta, True, actor=uploader(ctx))
    if size:
        ctx.store.put(
            upload["storage_key"],
            stream,
            size=size,
            content_type=meta["filetype"] or "application/octet-stream",
        )
        upload = ctx.services.call("media", "upload_stored", upload["id"], actor=uploader(ctx))
    return 202, UploadStatus.model_validate(upload)


# --------------------------------------------------------------------------------- assets


class AssetPage(BaseModel):
    items: list[dict[str, Any]]
    next: str | None = None


@route(
    "GET",
    "/api/media/assets",
    summary="List assets, newest first",
    tags=TAGS,
    response_model=AssetPage,
    query={
        "status": "processing | ready | partial | deleted",
        "kind": "video | audio",
        "q": "text in the title or file name",
        "limit": "1..200 (default 50)",
        "before": "id of the last asset of the previous page",
    },
)
def list_assets(ctx: RequestContext) -> Any:
    args = ctx.request.args
    filters: dict[str, Any] = {k: args[k] for k in ("status", "kind", "q", "before") if args.get(k)}
    if args.get("limit"):
        if not args["limit"].isdigit():
            raise BadRequest("limit must be a number", "limit")
        filters["limit"] = int(args["limit"])
    return ctx.services.call("media", "list_assets", **filters)


@route(
    "GET",
    "/api/media/assets/<asset_id>",
    summary="One asset: probe data, renditions with download URLs, jobs with progress",
    tags=TAGS,
)
def get_asset(ctx: RequestContext, asset_id: str) -> Any:
    detail = ctx.services.call("media", "get_asset", asset_id)
    base = f"{ctx.settings.public_url.rstrip('/')}/api/media/assets/{asset_id}/files"
    for r in detail["renditions"]:
        relative = r["key"].split("/", 4)[-1]  # after assets/<id>/<profile>/<generation>/
        r["play_url"] = f"{base}/{r['profile']}/{relative}"
    return detail


class JobSelection(BaseModel):
    profiles: list[str] | None = Field(None, description="Only these profiles (default: all)")


@route(
    "POST",
    "/api/media/assets/<asset_id>/retry",
    summary="Retry failed or cancelled jobs (never duplicates a rendition)",
    tags=TAGS,
    request_model=JobSelection,
)
def retry(ctx: RequestContext, asset_id: str) -> Any:
    body = _selection(ctx)
    return 202, {"retried": ctx.services.call("media", "retry", asset_id, body.profiles)}


@route(
    "POST",
    "/api/media/retry-failed",
    summary="Retry every failed job of every asset",
    tags=TAGS,
)
def retry_failed(ctx: RequestContext) -> Any:
    return 202, {"retried": ctx.services.call("media", "retry_failed")}


@route(
    "POST",
    "/api/media/assets/<asset_id>/cancel",
    summary="Cancel queued or running jobs",
    tags=TAGS,
    request_model=JobSelection,
)
def cancel(ctx: RequestContext, asset_id: str) -> Any:
    body = _selection(ctx)
    return {"cancelled": ctx.services.call("media", "cancel", asset_id, body.profiles)}


def _selection(ctx: RequestContext) -> JobSelection:
    if not ctx.request.content_length:
        return JobSelection()
    return ctx.json(JobSelection)


@route(
    "DELETE",
    "/api/media/assets/<asset_id>",
    summary="Delete an asset: originals and renditions go, the id stays as deleted",
    tags=TAGS,
    responses={204: "Deleted"},
)
def delete_asset(ctx: RequestContext, asset_id: str) -> Response:
    ctx.services.call("media", "delete_asset", asset_id)
    return Response(status=204)


@route(
    "GET",
    "/api/media/assets/<asset_id>/files/<profile>/<path:path>",
    summary="A published file (HLS playlists and segments resolve relative to each other)",
    tags=TAGS,
    response_content_type="application/octet-stream",
)
def asset_file(ctx: RequestContext, asset_id: str, profile: str, path: str) -> Response:
    key = ctx.services.call("media", "file_key", asset_id, profile, path)
    try:
        info = ctx.store.stat(key)
    except NotFound:
        raise NotFound("no such file", "path") from None
    response = Response(ctx.store.open(key), mimetype=info.content_type, direct_passthrough=True)
    response.headers["Content-Length"] = str(info.size)
    return response


# --------------------------------------------------------------------------------- extras


SUBTITLE_TYPES = ("text/vtt", "application/x-subrip", "text/srt", "text/plain", "")


@route(
    "PUT",
    "/api/media/assets/<asset_id>/subtitles",
    summary="Attach the clip's subtitles (SRT or WebVTT body); web and social are made again",
    tags=TAGS,
    request_content_type="text/vtt",
    query={"lang": "language code (default vi)"},
    responses={200: "Stored", 413: "Too large", 422: "Not a subtitle file"},
    roles=MEDIA_WRITE,
    max_body=2 * 1024 * 1024,
)
def put_subtitles(ctx: RequestContext, asset_id: str) -> Any:
    """The body is the file itself (UTF-8, UTF-16 with BOM or Windows-1258). Web carries it as a
    WebVTT track (HLS) and a text track (MP4); social burns it in when burn_subtitles is on."""
    req = ctx.request
    if (req.mimetype or "") not in SUBTITLE_TYPES:
        raise UnsupportedContentType(
            "send the SRT or WebVTT file as text/vtt or application/x-subrip", "Content-Type"
        )
    data = ctx.file_body(2 * 1024 * 1024, "subtitle files")
    lang = req.args.get("lang") or "vi"
    encoded = base64.b64encode(data).decode("ascii")
    return ctx.services.call("media", "set_subtitles", asset_id, encoded, lang)


@route(
    "DELETE",
    "/api/media/assets/<asset_id>/subtitles",
    summary="Remove the clip's subtitles; web (and social if burnt in) are made again",
    tags=TAGS,
    roles=MEDIA_WRITE,
)
def delete_subtitles(ctx: RequestContext, asset_id: str) -> Any:
    return ctx.services.call("media", "delete_subtitles", asset_id)


@route(
    "PUT",
    "/api/media/logos/<name>",
    summary="Store a logo image (PNG, JPEG or WebP body) as branding/<name>; clips name it in "
    "their logo option",
    tags=TAGS,
    request_content_type="image/png",
    responses={200: "Stored", 413: "Too large", 422: "Not a usable image or a bad name"},
    roles=MEDIA_WRITE,
    max_body=2 * 1024 * 1024,
)
def put_logo(ctx: RequestContext, name: str) -> Any:
    data = ctx.file_body(2 * 1024 * 1024, "logo images")
    encoded = base64.b64encode(data).decode("ascii")
    return ctx.services.call("media", "put_logo", name, encoded)


@route(
    "GET", "/api/media/logos", summary="The logo images in storage", tags=TAGS, roles=MEDIA_WRITE
)
def list_logos(ctx: RequestContext) -> Any:
    return {"logos": ctx.services.call("media", "list_logos")}


class AssetDetails(BaseModel):
    """Only the fields sent change; what people search the clip by."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=500, examples=["Hướng dẫn nộp hồ sơ trực tuyến"])
    description: str | None = Field(None, max_length=20000)
    tags: list[str] | None = Field(None, max_length=20, examples=[["dịch vụ công", "một cửa"]])
    unit_id: str | None = Field(None, max_length=64, examples=["so-tttt"])


@route(
    "PATCH",
    "/api/media/assets/<asset_id>",
    summary="Change a clip's title, description, tags or unit (search sees it at once)",
    tags=TAGS,
    request_model=AssetDetails,
    responses={200: "The asset", 404: "No such asset", 409: "Deleted", 422: "Invalid field"},
    roles=MEDIA_WRITE,
)
def patch_asset(ctx: RequestContext, asset_id: str) -> Any:
    body = ctx.json(AssetDetails)
    return ctx.services.call("media", "update_asset", asset_id, body.model_dump(exclude_unset=True))


class AssetOptions(BaseModel):
    logo: str | None = Field(
        None, description="'default' (the center's logo), 'none', or an image key under branding/"
    )
    burn_subtitles: bool | None = Field(None, description="Burn the subtitles into social")


@route(
    "PATCH",
    "/api/media/assets/<asset_id>/options",
    summary="Per-clip logo and subtitle burn-in; the profiles they change are made again",
    tags=TAGS,
    request_model=AssetOptions,
    roles=MEDIA_WRITE,
)
def patch_options(ctx: RequestContext, asset_id: str) -> Any:
    body = ctx.json(AssetOptions)
    return ctx.services.call("media", "set_options", asset_id, body.logo, body.burn_subtitles)


__all__ = ["json_response", "parse_metadata"]
