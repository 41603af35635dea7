"""Objects in an S3 bucket (MinIO, versitygw, AWS, any S3 server), through the minio SDK.

Writes go through one part-sized buffer: an object smaller than a part is one PutObject, a larger
one a multipart upload of part-sized pieces sent one after the other. minio's own put_object is
not used for that: with an unknown length it holds two to three copies of every part and uploads
three parts in parallel (about 150 MiB per upload with 16 MiB parts), and it sends the metadata
before the sha256 of the stream can be known.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import NoReturn
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import REPLACE, ComposeSource, CopySource
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from urllib3.response import BaseHTTPResponse

from shared.errors import InvalidInput, LoaError, NotFound, Unavailable
from shared.storage.base import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    MAX_PART_NUMBER,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    ChunkSource,
    Data,
    MiB,
    ObjectInfo,
    ObjectReader,
    ObjectStore,
    Parts,
    check_lifetime,
    check_part_number,
    check_parts,
    check_range,
    check_size,
    validate_key,
    validate_prefix,
)

log = logging.getLogger(__name__)

SHA256_HEADER = "x-amz-meta-sha256"
MAX_COPY_SIZE = MAX_PART_SIZE
"""CopyObject refuses sources above 5 GiB; larger copies go part by part (compose_object)."""

_NOT_FOUND = {"NoSuchKey", "NoSuchUpload", "NoSuchVersion"}
_INVALID = {
    "EntityTooSmall",
    "EntityTooLarge",
    "InvalidPart",
    "InvalidPartOrder",
    "InvalidRange",
    "InvalidArgument",
    "KeyTooLongError",
    "IncompleteBody",
    "BadDigest",
    "InvalidDigest",
    "ObjectParentIsFile",  # versitygw (posix): 'a' is an object, so 'a/b' cannot be
    "ExistingObjectIsDirectory",  # versitygw (posix): 'a/b' exists, so 'a' cannot be
}
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
_CONNECTION_ERRORS = (urllib3.exceptions.HTTPError, OSError, ServerError, InvalidResponseError)


def _http_client(retries: int, connect_timeout: float, read_timeout: float) -> urllib3.PoolManager:
    """minio's default client retries 5 times with 5-minute timeouts: far too long to notice
    that S3 is down. Certificates come from SSL_CERT_FILE or certifi, as minio does."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=32,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=retries,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
        ),
    )


def _split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """Accept 'host:port' (the setting's form) and also a full http(s):// URL."""
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        return parts.netloc, parts.scheme == "https"
    return endpoint.rstrip("/"), secure


class S3ObjectStore(ObjectStore):
    """ObjectStore over one S3 bucket, created on first use if missing."""

    kind = "s3"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        *,
        part_size: int = 16 * MiB,
        public_endpoint: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        """part_size bounds the memory of one upload (one part buffer); public_endpoint, if users
        reach S3 under another name than the services do, is the host presigned URLs point at;
        timeout is the read timeout of one request (completing a multi-GB upload is slow)."""
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError("part_size must be between 5 MiB and 5 GiB")
        host, secure = _split_endpoint(endpoint, secure)
        self.endpoint = host
        self.bucket = bucket
        self.part_size = part_size
        self._client = Minio(
            host,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=_http_client(3, 5.0, timeout),
        )
        # Health checks must answer fast: no retries, short timeouts.
        self._ping_client = Minio(
            host,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=_http_client(0, 2.0, 5.0),
        )
        self._url_client = self._client
        if public_endpoint:
            # Presigning is offline when the region is known: this client never connects.
            public_host, public_secure = _split_endpoint(public_endpoint, secure)
            self._url_client = Minio(
                public_host,
                access_key=access_key,
                secret_key=secret_key,
                secure=public_secure,
                region=region,
            )
        self._bucket_ready = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.endpoint!r}, bucket={self.bucket!r})"

    # ---------------------------------------------------------------- errors and bucket

    def _raise(self, exc: Exception, what: str) -> NoReturn:
        """Translate an SDK or connection failure into the project's errors."""
        if isinstance(exc, S3Error):
            code = exc.code or ""
            if code in _NOT_FOUND:
                raise NotFound(f"{what}: not found ({code})") from exc
            if code in _INVALID:
                raise InvalidInput(f"{what}: {exc.message or code} ({code})") from exc
            if code == "NoSuchBucket":
                self._bucket_ready = False
                raise Unavailable(f"S3 at {self.endpoint}: bucket {self.bucket!r} is gone") from exc
            if code in _REFUSED:
                raise Unavailable(
                    f"S3 at {self.endpoint} refused access ({code}): check LOA_S3_ACCESS_KEY, "
                    "LOA_S3_SECRET_KEY and the bucket policy"
                ) from exc
            raise Unavailable(f"S3 at {self.endpoint}: {what} failed ({code})") from exc
        reason = getattr(exc, "reason", None) or exc
        raise Unavailable(f"S3 at {self.endpoint} unreachable ({what}): {reason}") from exc

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except LoaError:
            raise
        except (MinioException, *_CONNECTION_ERRORS) as exc:
            self._raise(exc, what)

    def _ready(self, client: Minio | None = None, *, force: bool = False) -> None:
        """Make sure the bucket exists; concurrent creators (other replicas) are fine."""
        if self._bucket_ready and not force:
            return
        client = client or self._client
        with self._lock, self._errors(f"open bucket {self.bucket!r}"):
            if self._bucket_ready and not force:
                return
            if not client.bucket_exists(self.bucket):
                try:
                    client.make_bucket(self.bucket)
                    log.info("created bucket %s on %s", self.bucket, self.endpoint)
                except S3Error as exc:
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
                    if not client.bucket_exists(self.bucket):
                        raise
            self._bucket_ready = True

    # ---------------------------------------------------------------- multipart primitives
    # minio 7.2 exposes multipart only inside put_object/compose_object. Its private methods
    # _create_multipart_upload, _upload_part, _complete_multipart_upload, _abort_multipart_upload
    # (and _put_object, which sends a memoryview of our part buffer without copying it) have been
    # stable through the 7.x series. They are called here and nowhere else, so a change in minio
    # is fixed in this one place; the tests run every one of them against a real S3 server.

    def _mp_create(self, key: str, content_type: str) -> str:
        return self._client._create_multipart_upload(
            self.bucket, key, {"Content-Type": content_type}
        )

    def _mp_upload(self, key: str, upload_id: str, number: int, data: memoryview) -> str:
        # a memoryview goes to the socket as is: no copy of the part buffer
        return self._client._upload_part(self.bucket, key, data, None, upload_id, number)  # type: ignore[arg-type]

    def _mp_complete(self, key: str, upload_id: str, parts: Parts) -> str:
        result = self._client._complete_multipart_upload(
            self.bucket, key, upload_id, [Part(number, etag) for number, etag in parts]
        )
        return (result.etag or "").strip('"')

    def _mp_abort(self, key: str, upload_id: str) -> None:
        self._client._abort_multipart_upload(self.bucket, key, upload_id)

    def _put_single(self, key: str, data: memoryview, headers: dict[str, str]) -> str:
        result = self._client._put_object(self.bucket, key, data, headers)  # type: ignore[arg-type]
        return (result.etag or "").strip('"')

    # ---------------------------------------------------------------- objects

    def put(
        self,
        key: str,
        stream: Data,
        *,
        size: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectInfo:
        validate_key(key)
        self._ready()
        content_type = content_type or DEFAULT_CONTENT_TYPE
        source = ChunkSource(stream)
        buffer = bytearray(self.part_size)
        view = memoryview(buffer)
        filled = source.readinto(buffer)
        if source.at_end():
            check_size(size, filled)
            digest = source.sha256()
            headers = {"Content-Type": content_type, SHA256_HEADER: digest}
            with self._errors(f"put {key!r}"):
                etag = self._put_single(key, view[:filled], headers)
            return ObjectInfo(key, filled, etag, content_type, digest)

        with self._errors(f"put {key!r}"):
            upload_id = self._mp_create(key, content_type)
        try:
            parts: Parts = []
            while filled:
                number = len(parts) + 1
                if number > MAX_PART_NUMBER:
                    raise InvalidInput("object is too large for this part size", "stream")
                if size is not None and source.consumed > size:
                    check_size(size, source.consumed)
                with self._errors(f"put {key!r} part {number}"):
                    parts.append((number, self._mp_upload(key, upload_id, number, view[:filled])))
                filled = source.readinto(buffer)
            check_size(size, source.consumed)
            with self._errors(f"put {key!r}"):
                etag = self._mp_complete(key, upload_id, parts)
        except BaseException:
            with suppress(Exception):
                self._mp_abort(key, upload_id)
            raise
        digest = source.sha256()
        etag = self._store_sha256(key, etag, content_type, digest, source.consumed)
        return ObjectInfo(key, source.consumed, etag, content_type, digest)

    def _store_sha256(self, key: str, etag: str, content_type: str, digest: str, size: int) -> str:
        """Record the hash known only after a multipart upload, by copying the object onto itself
        with new metadata (S3 cannot change metadata in place). Best effort: the caller already
        has the hash; only a later stat() would miss it. Returns the object's etag afterwards."""
        if size > MAX_COPY_SIZE:
            return etag
        try:
            result = self._client.copy_object(
                self.bucket,
                key,
                CopySource(self.bucket, key, match_etag=etag),  # not if replaced meanwhile
                metadata={"Content-Type": content_type, SHA256_HEADER: digest},
                metadata_directive=REPLACE,
            )
        except (MinioException, *_CONNECTION_ERRORS) as exc:
            log.warning("could not record sha256 of %s: %s", key, exc)
            return etag
        return (result.etag or etag).strip('"')

    def _info(self, key: str, headers: urllib3.HTTPHeaderDict, size: int) -> ObjectInfo:
        modified = headers.get("last-modified")
        return ObjectInfo(
            key=key,
            size=size,
            etag=(headers.get("etag") or "").strip('"'),
            content_type=headers.get("content-type") or DEFAULT_CONTENT_TYPE,
            sha256=headers.get(SHA256_HEADER),
            modified=parsedate_to_datetime(modified) if modified else None,
        )

    def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        self._ready()
        with self._errors(f"stat {key!r}"):
            obj = self._client.stat_object(self.bucket, key)
        metadata = obj.metadata or {}
        return ObjectInfo(
            key=key,
            size=obj.size or 0,
            etag=(obj.etag or "").strip('"'),
            content_type=obj.content_type or DEFAULT_CONTENT_TYPE,
            sha256=metadata.get(SHA256_HEADER),
            modified=obj.last_modified,
        )

    def _reader(self, key: str, start: int, length: int) -> ObjectReader:
        validate_key(key)
        self._ready()
        with self._errors(f"read {key!r}"):
            response = self._client.get_object(self.bucket, key, offset=start, length=length)
        headers = response.headers
        count = int(headers.get("content-length") or 0)
        total = count
        content_range = headers.get("content-range") or ""
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])

        def release() -> None:
            response.close()
            response.release_conn()

        chunks = self._chunks(key, response)
        return ObjectReader(chunks, release, self._info(key, headers, total), count)

    def _chunks(self, key: str, response: BaseHTTPResponse) -> Iterator[bytes]:
        with self._errors(f"read {key!r}"):
            # decode_content=False: bytes as stored, even for objects saved with Content-Encoding
            yield from response.stream(CHUNK_SIZE, decode_content=False)

    def open(self, key: str) -> ObjectReader:
        return self._reader(key, 0, 0)

    def get_range(self, key: str, start: int, length: int) -> ObjectReader:
        check_range(start, length)
        return self._reader(key, start, length)

    def delete(self, key: str) -> None:
        validate_key(key)
        self._ready()
        with self._errors(f"delete {key!r}"):
            self._client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix, for_delete=True)
        self._ready()
        count = 0

        def doomed() -> Iterator[DeleteObject]:
            nonlocal count
            for info in self.list(prefix):
                count += 1
                yield DeleteObject(info.key)

        with self._errors(f"delete {prefix!r}"):
            for error in self._client.remove_objects(self.bucket, doomed()):
                raise Unavailable(
                    f"S3 at {self.endpoint}: could not delete {error.name!r} ({error.code})"
                )
        return count

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        self._ready()
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._errors(f"list {prefix!r}"):
            for obj in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.is_dir or not obj.object_name:
                    continue
                yield ObjectInfo(
                    key=obj.object_name,
                    size=obj.size or 0,
                    etag=(obj.etag or "").strip('"'),
                    content_type=None,  # ListObjectsV2 does not return it
                    sha256=None,
                    modified=obj.last_modified,
                )

    def url(self, key: str, expires: timedelta) -> str:
        validate_key(key)
        seconds = check_lifetime(expires)
        with self._errors(f"sign a URL for {key!r}"):
            return self._url_client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=seconds)
            )

    def copy(self, src: str, dst: str) -> ObjectInfo:
        validate_key(dst)
        info = self.stat(src)
        with self._errors(f"copy {src!r} to {dst!r}"):
            if info.size <= MAX_COPY_SIZE:
                # the default metadata directive COPY keeps content type and sha256
                result = self._client.copy_object(
                    self.bucket, dst, CopySource(self.bucket, src, match_etag=info.etag)
                )
            else:
                metadata = {"Content-Type": info.content_type or DEFAULT_CONTENT_TYPE}
                if info.sha256:
                    metadata[SHA256_HEADER] = info.sha256
                result = self._client.compose_object(
                    self.bucket,
                    dst,
                    [ComposeSource(self.bucket, src, match_etag=info.etag)],
                    metadata=metadata,  # type: ignore[arg-type]
                )
        return ObjectInfo(
            key=dst,
            size=info.size,
            etag=(result.etag or "").strip('"'),
            content_type=info.content_type,
            sha256=info.sha256,
            modified=result.last_modified or datetime.now(UTC),
        )

    def ping(self) -> None:
        self._ready(self._ping_client, force=True)

    # ---------------------------------------------------------------- multipart

    def start_multipart(self, key: str, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        validate_key(key)
        self._ready()
        with self._errors(f"start upload of {key!r}"):
            return self._mp_create(key, content_type or DEFAULT_CONTENT_TYPE)

    def put_part(
        self, key: str, upload_id: str, part_number: int, data: Data, size: int | None = None
    ) -> str:
        """The part is held in memory while it is sent (S3 needs its length and hash first):
        keep parts to tens of MiB."""
        validate_key(key)
        _check_upload_id(upload_id)
        check_part_number(part_number)
        source = ChunkSource(data)
        if size is not None:
            if not 0 <= size <= MAX_PART_SIZE:
                raise InvalidInput("a part must be at most 5 GiB", "size")
            buffer = bytearray(size)
            check_size(size, source.readinto(buffer))
            if not source.at_end():
                raise InvalidInput(f"received more than the declared {size} bytes", "size")
        else:
            buffer = source.read_all(MAX_PART_SIZE)
        self._ready()
        with self._errors(f"upload part {part_number} of {key!r}"):
            return self._mp_upload(key, upload_id, part_number, memoryview(buffer))

    def complete_multipart(self, key: str, upload_id: str, parts: Parts) -> ObjectInfo:
        """sha256 is None here: parts arrive in separate requests, so no one saw the whole."""
        validate_key(key)
        _check_upload_id(upload_id)
        parts = check_parts(parts)
        self._ready()
        with self._errors(f"complete upload of {key!r}"):
            etag = self._mp_complete(key, upload_id, parts)
        info = self.stat(key)
        return ObjectInfo(key, info.size, etag or info.etag, info.content_type, None, info.modified)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        validate_key(key)
        _check_upload_id(upload_id)
        self._ready()
        try:
            with self._errors(f"abort upload of {key!r}"):
                self._mp_abort(key, upload_id)
        except NotFound:
            pass


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or not upload_id or len(upload_id) > 1024:
        raise NotFound("no such upload", "upload_id")
