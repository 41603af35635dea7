"""Objects as files in one directory: the embedded default for one machine.

Every write goes to a temporary file inside the same root (same filesystem), is fsynced, then
os.replace()d into place: after a crash a key holds either the old object or the new one, never a
half-written file. Content type and sha256 ride along as extended attributes of the file, so they
are published by the same atomic rename. Download URLs are signed with HMAC-SHA256 and served by
the gateway, which checks them with verify_signed_url().
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import mimetypes
import os
import re
import secrets
import shutil
import stat as stat_mod
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from shared.errors import InvalidInput, NotFound, Unavailable
from shared.storage.base import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    MIN_PART_SIZE,
    ChunkSource,
    Data,
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

_TMP = ".tmp"
_MULTIPART = ".multipart"
_XATTR_SHA256 = "user.loa.sha256"
_XATTR_TYPE = "user.loa.content_type"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_NO_XATTR = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def sign_url(signing_key: str, key: str, expires_at: int) -> str:
    """HMAC-SHA256 (hex) over key and expiry: changing either invalidates the URL."""
    message = f"{key}\n{expires_at}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def verify_signed_url(
    signing_key: str,
    key: str,
    expires: int | str,
    sig: str,
    now: datetime | float | None = None,
) -> bool:
    """True if (key, expires, sig) came from url() with this signing key and has not expired.

    Takes the raw query values, so the gateway can pass them unparsed; anything malformed is
    simply False. The signature is compared in constant time.
    """
    try:
        validate_key(key)
        expires_at = int(expires) if isinstance(expires, int) else _parse_unix(expires)
        sig_bytes = sig.encode("ascii")
    except (InvalidInput, ValueError, UnicodeEncodeError, AttributeError):
        return False
    if now is None:
        current = time.time()
    elif isinstance(now, datetime):
        current = now.timestamp()
    else:
        current = float(now)
    if current > expires_at:
        return False
    expected = sign_url(signing_key, key, expires_at).encode("ascii")
    return hmac.compare_digest(expected, sig_bytes)


def _parse_unix(value: str) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise ValueError("not a unix time")
    return int(value)


@contextmanager
def _disk_errors(what: str) -> Iterator[None]:
    """Turn OS failures that are not the caller's fault into Unavailable, naming the cause."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | NotADirectoryError | IsADirectoryError):
            raise
        raise Unavailable(f"object folder: cannot {what}: {exc.strerror or exc}") from exc


class LocalObjectStore(ObjectStore):
    """ObjectStore over a directory; keys map to relative paths below root."""

    kind = "local"

    def __init__(self, root: Path, signing_key: str, public_url: str) -> None:
        if not signing_key:
            raise ValueError("LocalObjectStore needs a signing key for download URLs")
        self.root = Path(os.path.realpath(root))
        self._root_str = str(self.root)
        self._signing_key = signing_key
        self._public_url = public_url.rstrip("/")
        self._xattrs = True
        with _disk_errors("create the object folder"):
            (self.root / _TMP).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalObjectStore({self._root_str!r})"

    # ---------------------------------------------------------------- paths and files

    def _path(self, key: str) -> Path:
        """Path of key, refusing any path that resolves (through symlinks) outside root."""
        validate_key(key)
        path = self.root / key
        real = os.path.realpath(path)
        if not real.startswith(self._root_str + os.sep):
            raise InvalidInput("key resolves outside the object folder", "key")
        return path

    def _temp_path(self) -> Path:
        return self.root / _TMP / f"{secrets.token_hex(12)}.tmp"

    def _write_temp(
        self, data: Data, size: int | None, content_type: str | None
    ) -> tuple[Path, os.stat_result, str]:
        """Stream data into a new fsynced temp file; returns (path, its stat, sha256)."""
        tmp = self._temp_path()
        source = ChunkSource(data)
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        try:
            fd = self._open_temp(tmp)
            try:
                # only our own disk calls map to Unavailable: a failing input stream (the
                # uploading client went away) keeps its own exception
                while n := source.readinto(buffer):
                    with _disk_errors("write"):
                        _write_all(fd, view[:n])
                check_size(size, source.consumed)
                digest = source.sha256()
                with _disk_errors("write"):
                    if content_type is not None:
                        self._set_xattrs(fd, digest, content_type)
                    os.fsync(fd)
                    st = os.fstat(fd)
            finally:
                os.close(fd)
        except BaseException:
            with suppress(OSError):
                tmp.unlink()
            raise
        return tmp, st, digest

    def _open_temp(self, tmp: Path) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        with _disk_errors("write"):
            try:
                return os.open(tmp, flags, 0o644)
            except FileNotFoundError:  # the temp folder was removed by hand: make it again
                tmp.parent.mkdir(exist_ok=True)
                return os.open(tmp, flags, 0o644)

    def _set_xattrs(self, fd: int, sha256: str, content_type: str) -> None:
        if not self._xattrs:
            return
        try:
            os.setxattr(fd, _XATTR_SHA256, sha256.encode())
            os.setxattr(fd, _XATTR_TYPE, content_type.encode())
        except OSError as exc:
            if exc.errno not in _NO_XATTR:
                raise
            self._xattrs = False
            log.warning(
                "filesystem of %s has no user xattrs: content types are guessed, no sha256 "
                "in stat()",
                self.root,
            )

    def _publish(self, tmp: Path, dest: Path) -> None:
        """Atomically move a finished temp file to dest, then make the rename durable."""
        try:
            for _attempt in range(5):
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, dest)
                    break
                except FileNotFoundError:
                    continue  # a concurrent delete pruned the new parent folder: make it again
                except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                    raise InvalidInput(
                        "key clashes with an existing object or folder of the same name "
                        "(one key cannot be both 'a' and 'a/b')",
                        "key",
                    ) from exc
            else:
                raise Unavailable("object folder: could not publish the object")
            with _disk_errors("sync"):
                _fsync_dir(dest.parent)
        except BaseException:
            with suppress(OSError):
                tmp.unlink()
            raise

    def _prune(self, folder: Path) -> None:
        """Remove now-empty parent folders so a deleted 'a/b' leaves 'a' free to be a key."""
        while folder != self.root and str(folder).startswith(self._root_str + os.sep):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _info(
        self,
        key: str,
        path: Path | None,
        st: os.stat_result,
        sha256: str | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """ObjectInfo from a stat result, reading xattrs from path unless they are given."""
        if self._xattrs and path is not None:
            with suppress(OSError):
                sha256 = os.getxattr(path, _XATTR_SHA256).decode()
            with suppress(OSError):
                content_type = os.getxattr(path, _XATTR_TYPE).decode()
        if content_type is None:
            content_type = mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=sha256 if sha256 and self._xattrs else f"{st.st_mtime_ns:x}-{st.st_size:x}",
            content_type=content_type,
            sha256=sha256,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
        )

    # ---------------------------------------------------------------- objects

    def put(
        self,
        key: str,
        stream: Data,
        *,
        size: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectInfo:
        path = self._path(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        tmp, st, digest = self._write_temp(stream, size, content_type)
        self._publish(tmp, path)
        # Built from what was written, not re-read: a concurrent put may already have replaced it.
        return self._info(key, None, st, digest, content_type)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            with _disk_errors("stat"):
                st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no object {key!r}", "key") from None
        if not stat_mod.S_ISREG(st.st_mode):
            raise NotFound(f"no object {key!r}", "key")
        return self._info(key, path, st)

    def _reader(self, key: str, start: int, length: int | None) -> ObjectReader:
        path = self._path(key)
        try:
            with _disk_errors("read"):
                f = open(path, "rb")  # noqa: SIM115 - closed by the reader
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"no object {key!r}", "key") from None
        try:
            st = os.fstat(f.fileno())
            info = self._info(key, path, st)
            if length is None:
                length = st.st_size
            else:
                if start >= st.st_size:
                    raise InvalidInput("range starts past the end of the object", "range")
                length = min(length, st.st_size - start)
                f.seek(start)
        except BaseException:
            f.close()
            raise
        return ObjectReader(_file_chunks(f, length), f.close, info, length)

    def open(self, key: str) -> ObjectReader:
        return self._reader(key, 0, None)

    def get_range(self, key: str, start: int, length: int) -> ObjectReader:
        check_range(start, length)
        return self._reader(key, start, length)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with _disk_errors("delete"):
                path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix, for_delete=True)
        count = 0
        for info in self.list(prefix):
            self.delete(info.key)
            count += 1
        return count

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        start = prefix[: prefix.rfind("/") + 1]
        folder = self.root / start if start else self.root
        if start and not os.path.realpath(folder).startswith(self._root_str + os.sep):
            return iter(())
        return self._walk(folder, start, prefix)

    def _walk(self, folder: Path, rel: str, prefix: str) -> Iterator[ObjectInfo]:
        """Depth-first in the order S3 lists: by UTF-8 bytes of the full key, lazily."""
        try:
            with _disk_errors("list"), os.scandir(folder) as it:
                entries = [e for e in it if rel or not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return
        keyed: list[tuple[bytes, str, os.DirEntry[str], bool]] = []
        for entry in entries:
            name = rel + entry.name
            if entry.is_dir(follow_symlinks=False):
                name += "/"
                if name.startswith(prefix) or prefix.startswith(name):
                    keyed.append((name.encode("utf-8", "surrogateescape"), name, entry, True))
            elif entry.is_file(follow_symlinks=False) and name.startswith(prefix):
                keyed.append((name.encode("utf-8", "surrogateescape"), name, entry, False))
        keyed.sort(key=lambda item: item[0])
        for _, name, entry, is_dir in keyed:
            if is_dir:
                yield from self._walk(Path(entry.path), name, prefix)
                continue
            try:
                validate_key(name)
                st = entry.stat(follow_symlinks=False)
            except (InvalidInput, FileNotFoundError):
                continue  # placed there by hand with an unusable name, or deleted meanwhile
            yield self._info(name, Path(entry.path), st)

    def url(self, key: str, expires: timedelta) -> str:
        validate_key(key)
        expires_at = int(time.time()) + check_lifetime(expires)
        sig = sign_url(self._signing_key, key, expires_at)
        return f"{self._public_url}/files/{quote(key, safe='/')}?expires={expires_at}&sig={sig}"

    def verify_signed_url(
        self, key: str, expires: int | str, sig: str, now: datetime | float | None = None
    ) -> bool:
        """Check a URL made by url(); for the gateway's /files/ route."""
        return verify_signed_url(self._signing_key, key, expires, sig, now)

    def file_path(self, key: str) -> Path:
        """Where key lives on disk, for a server that can send files itself (sendfile)."""
        return self._path(key)

    def copy(self, src: str, dst: str) -> ObjectInfo:
        """A hard link: objects are never modified in place, so sharing the inode is safe."""
        src_path = self._path(src)
        dst_path = self._path(dst)
        self.stat(src)
        tmp = self._temp_path()
        try:
            os.link(src_path, tmp)
        except FileNotFoundError:
            raise NotFound(f"no object {src!r}", "src") from None
        except OSError:  # no hard links here (EPERM, EMLINK): copy the bytes
            with self.open(src) as reader:
                return self.put(
                    dst,
                    reader,
                    size=reader.length,
                    content_type=reader.info.content_type or DEFAULT_CONTENT_TYPE,
                )
        self._publish(tmp, dst_path)
        return self.stat(dst)

    def ping(self) -> None:
        if not self.root.is_dir():
            raise Unavailable(f"object folder {self.root} does not exist")
        probe = self._temp_path()
        try:
            probe.parent.mkdir(exist_ok=True)
            with open(probe, "wb") as f:
                f.write(b"ping")
            probe.unlink()
        except OSError as exc:
            raise Unavailable(
                f"object folder {self.root} is not writable: {exc.strerror or exc}"
            ) from exc

    # ---------------------------------------------------------------- multipart

    def _upload_dir(self, key: str, upload_id: str) -> tuple[Path, dict[str, object]]:
        """The upload's folder and metadata, if upload_id names a live upload of this key."""
        validate_key(key)
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise NotFound("no such upload", "upload_id")
        folder = self.root / _MULTIPART / upload_id
        try:
            meta = json.loads((folder / "meta.json").read_text("utf-8"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise NotFound("no such upload", "upload_id") from None
        if meta.get("key") != key:
            raise NotFound("no such upload for this key", "upload_id")
        return folder, meta

    def start_multipart(self, key: str, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        self._path(key)
        content_type = content_type or DEFAULT_CONTENT_TYPE
        upload_id = secrets.token_hex(16)
        folder = self.root / _MULTIPART / upload_id
        meta = json.dumps(
            {"key": key, "content_type": content_type, "started": time.time()},
            ensure_ascii=False,
        ).encode()
        with _disk_errors("start an upload"):
            folder.mkdir(parents=True)
        tmp, _, _ = self._write_temp(meta, None, None)
        self._publish(tmp, folder / "meta.json")
        return upload_id

    def put_part(
        self, key: str, upload_id: str, part_number: int, data: Data, size: int | None = None
    ) -> str:
        check_part_number(part_number)
        folder, _ = self._upload_dir(key, upload_id)
        tmp, _, digest = self._write_temp(data, size, None)
        try:
            os.replace(tmp, folder / f"{part_number:05d}.part")
        except FileNotFoundError:
            with suppress(OSError):
                tmp.unlink()
            raise NotFound("the upload was aborted or completed meanwhile", "upload_id") from None
        return digest

    def complete_multipart(self, key: str, upload_id: str, parts: Parts) -> ObjectInfo:
        parts = check_parts(parts)
        path = self._path(key)
        folder, meta = self._upload_dir(key, upload_id)
        content_type = str(meta.get("content_type") or DEFAULT_CONTENT_TYPE)
        files: list[Path] = []
        for index, (number, _) in enumerate(parts):
            part = folder / f"{number:05d}.part"
            try:
                part_size = part.stat().st_size
            except FileNotFoundError:
                raise InvalidInput(f"part {number} was never uploaded", "parts") from None
            if index < len(parts) - 1 and part_size < MIN_PART_SIZE:
                raise InvalidInput(f"part {number} is smaller than 5 MiB", "parts")
            files.append(part)
        tmp, st, digest = self._write_temp(_joined_parts(files, parts), None, content_type)
        self._publish(tmp, path)
        shutil.rmtree(folder, ignore_errors=True)
        return self._info(key, None, st, digest, content_type)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            folder, _ = self._upload_dir(key, upload_id)
        except NotFound:
            return
        shutil.rmtree(folder, ignore_errors=True)

    def abort_stale_multipart(self, older_than: timedelta) -> int:
        """Drop uploads started longer ago than older_than (S3 does this by lifecycle rule)."""
        limit = time.time() - older_than.total_seconds()
        count = 0
        with suppress(FileNotFoundError), os.scandir(self.root / _MULTIPART) as it:
            for entry in it:
                with suppress(OSError):
                    if entry.stat().st_mtime < limit:
                        shutil.rmtree(entry.path, ignore_errors=True)
                        count += 1
        return count


def _joined_parts(files: list[Path], parts: Parts) -> Iterator[bytes]:
    """The parts' bytes in order, checking each against the etag put_part returned."""
    for path, (number, etag) in zip(files, parts, strict=True):
        hasher = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                hasher.update(chunk)
                yield chunk
        if not hmac.compare_digest(hasher.hexdigest(), etag):
            raise InvalidInput(f"part {number} does not match its etag", "parts")


def _file_chunks(f: BinaryIO, remaining: int) -> Iterator[bytes]:
    while remaining > 0:
        chunk = f.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
