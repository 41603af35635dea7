"""The object-store contract every backend keeps, and the checks they share.

Media files run to several GB, so every write streams through a bounded buffer and every read is
a chunk iterator: no method ever holds a whole object in memory. Both backends enforce the same
rules (key syntax, S3 part sizes, URL lifetimes) so code that works on the local directory also
works on S3.
"""

from __future__ import annotations

import hashlib
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import BinaryIO

from shared.errors import InvalidInput, NotFound

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

CHUNK_SIZE = 1 * MiB
"""Size of the chunks readers yield and writers copy with."""
MAX_KEY_BYTES = 512
MAX_SEGMENT_BYTES = 255
"""A key segment becomes a file or directory name on POSIX (local store, versitygw): NAME_MAX."""
MIN_PART_SIZE = 5 * MiB
"""S3 rejects non-last multipart parts smaller than this; the local store enforces it too."""
MAX_PART_SIZE = 5 * GiB
MAX_PART_NUMBER = 10_000
MAX_URL_LIFETIME = timedelta(days=7)
"""SigV4 presigned URLs cannot live longer; the local store keeps the same limit."""
DEFAULT_CONTENT_TYPE = "application/octet-stream"

Data = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]
"""What put() and put_part() accept: bytes, a readable binary stream, or an iterable of chunks."""
Parts = list[tuple[int, str]]
"""(part number, etag) pairs naming the parts of a multipart upload."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store knows about one object.

    put() always returns the sha256 it computed. Later, sha256 is None where the store did not
    keep it: S3 listings, S3 explicit multipart uploads (no one saw the whole stream), S3 objects
    over 5 GiB, a local filesystem without xattrs. content_type is None only in S3 listings
    (ListObjectsV2 does not return it). modified may be None in put() results.
    """

    key: str
    size: int
    etag: str
    content_type: str | None
    sha256: str | None = None
    modified: datetime | None = None


# --------------------------------------------------------------------------------------------
# keys


_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format (bidi overrides, zero-width), surrogate, private, unassigned, line breaks."""


def _check_path(value: str, what: str, *, allow_trailing_slash: bool) -> None:
    if len(value.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidInput(f"{what} is longer than {MAX_KEY_BYTES} bytes", what)
    if value.startswith("/"):
        raise InvalidInput(f"{what} must not start with '/'", what)
    if "\\" in value:
        raise InvalidInput(f"{what} must not contain '\\'", what)
    if "//" in value:
        raise InvalidInput(f"{what} must not contain '//'", what)
    for ch in value:
        if unicodedata.category(ch) in _BAD_CATEGORIES:
            raise InvalidInput(f"{what} contains a control or invisible character", what)
    if not unicodedata.is_normalized("NFC", value):
        raise InvalidInput(f"{what} must be Unicode NFC (two spellings would look the same)", what)
    body = value[:-1] if allow_trailing_slash and value.endswith("/") else value
    if body.endswith("/"):
        raise InvalidInput(f"{what} must not end with '/'", what)
    segments = body.split("/")
    for segment in segments:
        if segment in (".", ".."):
            raise InvalidInput(f"{what} must not contain '.' or '..' segments", what)
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(f"{what} has a segment longer than {MAX_SEGMENT_BYTES} bytes", what)
    if segments[0].startswith("."):
        raise InvalidInput(f"{what} must not start with '.' (reserved for the store)", what)


def validate_key(key: str) -> str:
    """Return key if it is safe on every backend, else raise InvalidInput.

    Keys are made by our code, so anything odd is a bug or an attack: rejecting it is safer than
    guessing what was meant. The same key must name the same file on S3 and on disk.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInput("key must be a non-empty string", "key")
    _check_path(key, "key", allow_trailing_slash=False)
    return key


def validate_prefix(prefix: str, *, for_delete: bool = False) -> str:
    """Return prefix if it may be listed (any key prefix, or '') or bulk-deleted.

    A delete prefix must be a whole folder ('assets/123/') so that 'assets/12' can never wipe
    'assets/123...' by accident.
    """
    if not isinstance(prefix, str):
        raise InvalidInput("prefix must be a string", "prefix")
    if for_delete and (not prefix or not prefix.endswith("/")):
        raise InvalidInput("delete prefix must be a non-empty folder ending with '/'", "prefix")
    if prefix:
        _check_path(prefix, "prefix", allow_trailing_slash=True)
    return prefix


def check_lifetime(expires: timedelta) -> int:
    """Whole seconds of a URL lifetime, within what presigned S3 URLs allow."""
    seconds = int(expires.total_seconds())
    if seconds < 1 or expires > MAX_URL_LIFETIME:
        raise InvalidInput("URL lifetime must be between 1 second and 7 days", "expires")
    return seconds


def check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidInput(f"part number must be 1..{MAX_PART_NUMBER}", "part_number")


def check_parts(parts: Parts) -> Parts:
    """Parts to complete must be listed once each, in ascending order (S3's rule)."""
    if not parts:
        raise InvalidInput("a multipart upload needs at least one part", "parts")
    previous = 0
    clean: Parts = []
    for number, etag in parts:
        check_part_number(number)
        if number <= previous:
            raise InvalidInput("parts must be in strictly ascending order", "parts")
        previous = number
        clean.append((number, etag.strip('"')))
    return clean


def check_range(start: int, length: int) -> None:
    if start < 0 or length < 1:
        raise InvalidInput("range needs start >= 0 and length >= 1", "range")


# --------------------------------------------------------------------------------------------
# streaming helpers


class ChunkSource:
    """Pulls bytes from any Data input into caller-owned buffers, hashing as it goes.

    Filling a preallocated buffer (readinto) means the bytes are copied once, never
    concatenated: a part buffer of N bytes costs N bytes, not 2N or 3N.
    """

    def __init__(self, data: Data, chunk_size: int = CHUNK_SIZE) -> None:
        self._chunks = _iter_chunks(data, chunk_size)
        self._pending = memoryview(b"")
        self._done = False
        self.hasher = hashlib.sha256()
        self.consumed = 0

    def _pull(self) -> bool:
        """Make _pending non-empty; False at end of input."""
        while not self._pending:
            if self._done:
                return False
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._done = True
                return False
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise InvalidInput("object data must be bytes chunks", "data")
            self._pending = memoryview(chunk).cast("B")
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill buffer as far as the input allows; returns the byte count (short only at end)."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._pull():
            take = min(len(view) - filled, len(self._pending))
            piece = self._pending[:take]
            view[filled : filled + take] = piece
            self.hasher.update(piece)
            self._pending = self._pending[take:]
            filled += take
        self.consumed += filled
        return filled

    def at_end(self) -> bool:
        return not self._pull()

    def read_all(self, limit: int) -> bytearray:
        """Everything left, for inputs of unknown size that must be sent in one request."""
        buffer = bytearray()
        while self._pull():
            if len(buffer) + len(self._pending) > limit:
                raise InvalidInput(f"data is larger than {limit} bytes", "data")
            buffer += self._pending
            self.hasher.update(self._pending)
            self.consumed += len(self._pending)
            self._pending = memoryview(b"")
        return buffer

    def sha256(self) -> str:
        return self.hasher.hexdigest()


def _iter_chunks(data: Data, chunk_size: int) -> Iterator[bytes | bytearray | memoryview]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield data
        return
    read = getattr(data, "read", None)
    if callable(read):
        while True:
            chunk = read(chunk_size)
            if not chunk:
                return
            yield chunk
        return
    if isinstance(data, str):
        raise InvalidInput("object data must be bytes, not str", "data")
    yield from data


def check_size(expected: int | None, actual: int) -> None:
    """A declared size that the stream does not deliver means a truncated or padded upload."""
    if expected is not None and expected != actual:
        raise InvalidInput(f"expected {expected} bytes but received {actual}", "size")


class ObjectReader(Iterator[bytes]):
    """Chunks of one object: iterate it, read() it like a file, and close it (or use `with`).

    The file or HTTP connection underneath is released when the chunks run out, on close(), or
    when the `with` block ends, whichever comes first; releasing twice is harmless.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        release: Callable[[], None],
        info: ObjectInfo,
        length: int,
    ) -> None:
        self._chunks = chunks
        self._release = release
        self._rest = b""
        self._closed = False
        self.info = info
        self.length = length
        """How many bytes this reader yields (the range length for get_range)."""

    def __next__(self) -> bytes:
        if self._rest:
            chunk, self._rest = self._rest, b""
            return chunk
        if self._closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:  # the end, an error or a cancel: release the file or connection
            self.close()
            raise

    def read(self, size: int = -1) -> bytes:
        """File-like read, for consumers that want a stream (e.g. subprocess stdin, werkzeug)."""
        if size is None or size < 0:
            return b"".join(self)
        parts: list[bytes] = []
        wanted = size
        while wanted > 0:
            try:
                chunk = next(self)
            except StopIteration:
                break
            if len(chunk) > wanted:
                chunk, self._rest = chunk[:wanted], chunk[wanted:]
            parts.append(chunk)
            wanted -= len(chunk)
        return b"".join(parts)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._rest = b""
            self._release()

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# the contract


class ObjectStore(ABC):
    """Where loa keeps files: a local directory on one machine, S3 at scale.

    Objects are immutable: put() replaces a whole object atomically; readers never see half of
    one. Errors are shared.errors: InvalidInput (bad key or data), NotFound, Unavailable (the store
    cannot be reached or refuses us).
    """

    kind: str = "abstract"

    @abstractmethod
    def put(
        self,
        key: str,
        stream: Data,
        *,
        size: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectInfo:
        """Store the stream under key, computing sha256 on the way; size, if given, is checked."""

    @abstractmethod
    def open(self, key: str) -> ObjectReader:
        """Chunks of the whole object; NotFound is raised here, not on first iteration."""

    @abstractmethod
    def get_range(self, key: str, start: int, length: int) -> ObjectReader:
        """Chunks of bytes [start, start+length), cut at the end (HTTP Range for video seeking)."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size, etag, type and sha256 of key, or NotFound."""

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotFound:
            return False
        return True

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove key; deleting a missing key is not an error (retries must be safe)."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under a folder prefix ('assets/123/'); returns how many."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with prefix, in key order (UTF-8 bytes), lazily."""

    @abstractmethod
    def url(self, key: str, expires: timedelta) -> str:
        """A download URL that stops working after expires (at most 7 days)."""

    @abstractmethod
    def copy(self, src: str, dst: str) -> ObjectInfo:
        """Server-side copy: the bytes do not pass through this process when avoidable."""

    @abstractmethod
    def ping(self) -> None:
        """Raise Unavailable, saying why, unless the store can be read and written now."""

    @abstractmethod
    def start_multipart(self, key: str, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        """Begin a resumable upload; returns its upload id."""

    @abstractmethod
    def put_part(
        self, key: str, upload_id: str, part_number: int, data: Data, size: int | None = None
    ) -> str:
        """Store one part (1..10000; all but the last >= 5 MiB); returns its etag."""

    @abstractmethod
    def complete_multipart(self, key: str, upload_id: str, parts: Parts) -> ObjectInfo:
        """Join the listed parts (ascending part numbers with their etags) into the object."""

    @abstractmethod
    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; aborting an unknown upload is not an error."""
