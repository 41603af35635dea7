"""The object-store contract, run unchanged on the local directory and on a real S3 server."""

from __future__ import annotations

import hashlib
import io
import random
import socket
import time
import tracemalloc
import unicodedata
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from shared.config import ConfigError, Settings
from shared.errors import InvalidInput, NotFound, Unavailable
from shared.storage import (
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    make_object_store,
    validate_key,
    verify_signed_url,
)
from shared.storage.base import Data, MiB
from tests.storage.conftest import PUBLIC_URL, SIGNING_KEY, S3Server

VIETNAMESE_KEY = "assets/một-cửa.mp4"
MEMORY_BUDGET = 8 * MiB


def random_chunks(total: int, seed: int, chunk: int = 256 * 1024) -> tuple[Iterator[bytes], str]:
    """A generator of `total` pseudo-random bytes and the sha256 they will have.

    The hash is computed first from a second generator with the same seed, so the data is
    never held whole by the test either.
    """

    def gen() -> Iterator[bytes]:
        rng = random.Random(seed)
        left = total
        while left:
            n = min(chunk, left)
            yield rng.randbytes(n)
            left -= n

    digest = hashlib.sha256()
    for block in gen():
        digest.update(block)
    return gen(), digest.hexdigest()


def sha256_of(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def read_all(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as reader:
        return reader.read()


# ------------------------------------------------------------------------------ streaming


def test_20_mib_streamed_round_trip_stays_within_memory_budget(store: ObjectStore) -> None:
    size = 20 * MiB
    chunks, expected = random_chunks(size, seed=1)
    tracemalloc.start()
    try:
        info = store.put("videos/big.bin", chunks, size=size, content_type="video/mp4")
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with store.open("videos/big.bin") as reader:
            got, got_size = sha256_of(reader)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert put_peak < MEMORY_BUDGET, f"put held {put_peak / MiB:.1f} MiB"
    assert read_peak < MEMORY_BUDGET, f"read held {read_peak / MiB:.1f} MiB"
    assert (info.size, info.sha256, info.content_type) == (size, expected, "video/mp4")
    assert (got, got_size) == (expected, size)
    stat = store.stat("videos/big.bin")
    assert (stat.size, stat.sha256, stat.content_type) == (size, expected, "video/mp4")
    assert stat.etag == info.etag


@pytest.mark.parametrize(
    "make_input",
    [
        lambda data: data,
        lambda data: io.BytesIO(data),
        lambda data: iter([data[:3], b"", data[3:]]),
        lambda data: bytearray(data),
    ],
    ids=["bytes", "stream", "generator", "bytearray"],
)
def test_sha256_is_computed_for_every_input_kind(
    store: ObjectStore, make_input: Callable[[bytes], Data]
) -> None:
    data = "xin chào, một cửa".encode()
    info = store.put("notes/hello.txt", make_input(data), content_type="text/plain; charset=utf-8")
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert store.stat("notes/hello.txt").sha256 == info.sha256
    assert store.stat("notes/hello.txt").content_type == "text/plain; charset=utf-8"
    assert read_all(store, "notes/hello.txt") == data


def test_empty_object(store: ObjectStore) -> None:
    info = store.put("empty", b"")
    assert (info.size, info.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert read_all(store, "empty") == b""
    assert store.stat("empty").size == 0


def test_put_replaces_whole_object(store: ObjectStore) -> None:
    store.put("doc", b"first version, longer")
    store.put("doc", b"second")
    assert read_all(store, "doc") == b"second"


def test_declared_size_must_match(store: ObjectStore) -> None:
    with pytest.raises(InvalidInput):
        store.put("short", b"12345", size=6)
    with pytest.raises(InvalidInput):
        store.put("long", io.BytesIO(b"x" * (6 * MiB)), size=6 * MiB - 1)
    assert not store.exists("short")
    assert not store.exists("long")


@pytest.mark.parametrize("fail_after", [100, 7 * MiB], ids=["small", "multipart"])
def test_failed_upload_leaves_nothing_visible(store: ObjectStore, fail_after: int) -> None:
    store.put("keep/old.bin", b"old")

    def broken() -> Iterator[bytes]:
        sent = 0
        while sent < fail_after:
            yield b"z" * 65536
            sent += 65536
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put("half.bin", broken())
    with pytest.raises(ConnectionResetError):
        store.put("keep/old.bin", broken())
    assert not store.exists("half.bin")
    assert read_all(store, "keep/old.bin") == b"old"
    assert [i.key for i in store.list()] == ["keep/old.bin"]
    if isinstance(store, LocalObjectStore):
        assert list((store.root / ".tmp").iterdir()) == []


def test_reader_is_file_like_and_closable(store: ObjectStore) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB, two chunks
    store.put("r.bin", data)
    reader = store.open("r.bin")
    assert reader.length == len(data)
    assert reader.info.size == len(data)
    assert reader.read(10) == data[:10]
    assert reader.read(CHUNK := 1024 * 1024) == data[10 : 10 + CHUNK]
    reader.close()
    reader.close()
    assert reader.read() == b""
    with store.open("r.bin") as again:
        assert b"".join(again) == data


def test_get_range(store: ObjectStore) -> None:
    data = bytes(range(256)) * 100
    store.put("range.bin", data)
    with store.get_range("range.bin", 1000, 500) as reader:
        assert reader.read() == data[1000:1500]
        assert reader.length == 500
        assert reader.info.size == len(data)
    with store.get_range("range.bin", len(data) - 10, 100) as reader:
        assert reader.read() == data[-10:]
    with pytest.raises(InvalidInput):
        store.get_range("range.bin", len(data), 1)
    with pytest.raises(InvalidInput):
        store.get_range("range.bin", 0, 0)
    with pytest.raises(NotFound):
        store.get_range("missing.bin", 0, 1)


# ------------------------------------------------------------------------------ metadata


def test_stat_exists_delete(store: ObjectStore) -> None:
    with pytest.raises(NotFound):
        store.stat("nope/missing.txt")
    with pytest.raises(NotFound):
        store.open("nope/missing.txt")  # at open, not at first read
    assert not store.exists("nope/missing.txt")
    store.put("a/b.txt", b"hi")
    assert store.exists("a/b.txt")
    assert not store.exists("a")  # a folder is not an object
    store.delete("a/b.txt")
    store.delete("a/b.txt")  # idempotent
    store.delete("never/was")
    assert not store.exists("a/b.txt")
    with pytest.raises(NotFound):
        store.stat("a/b.txt")


def test_list_and_delete_prefix(store: ObjectStore) -> None:
    keys = ["a/1", "a/2", "a/x-y", "a/x/z", "ab/4", "b/5", "a/sub/deep/3"]
    for key in keys:
        store.put(key, key.encode())
    listed = list(store.list("a/"))
    assert [i.key for i in listed] == ["a/1", "a/2", "a/sub/deep/3", "a/x-y", "a/x/z"]
    assert {i.key: i.size for i in listed}["a/x/z"] == len(b"a/x/z")
    assert [i.key for i in store.list("a")] == [i.key for i in listed] + ["ab/4"]
    assert [i.key for i in store.list("a/x")] == ["a/x-y", "a/x/z"]
    assert [i.key for i in store.list()] == sorted(keys, key=str.encode)
    assert list(store.list("zzz/")) == []
    with pytest.raises(InvalidInput):
        store.delete_prefix("a")  # must be a folder: 'a' would also take 'ab/'
    with pytest.raises(InvalidInput):
        store.delete_prefix("")
    assert store.delete_prefix("a/") == 5
    assert store.delete_prefix("a/") == 0
    assert [i.key for i in store.list()] == ["ab/4", "b/5"]


def test_copy(store: ObjectStore) -> None:
    info = store.put("src/one.txt", b"copy me", content_type="text/plain")
    copied = store.copy("src/one.txt", "dst/two.txt")
    assert (copied.key, copied.size, copied.sha256) == ("dst/two.txt", 7, info.sha256)
    stat = store.stat("dst/two.txt")
    assert (stat.content_type, stat.sha256) == ("text/plain", info.sha256)
    store.put("src/one.txt", b"changed")  # the copy is independent of its source
    store.delete("src/one.txt")
    assert read_all(store, "dst/two.txt") == b"copy me"
    with pytest.raises(NotFound):
        store.copy("src/one.txt", "dst/three.txt")


def test_vietnamese_keys_round_trip(store: ObjectStore) -> None:
    info = store.put(VIETNAMESE_KEY, b"video", content_type="video/mp4")
    assert info.key == VIETNAMESE_KEY
    assert [i.key for i in store.list("assets/")] == [VIETNAMESE_KEY]
    assert store.stat(VIETNAMESE_KEY).size == 5
    assert read_all(store, VIETNAMESE_KEY) == b"video"
    store.delete(VIETNAMESE_KEY)
    assert not store.exists(VIETNAMESE_KEY)


def test_a_key_cannot_also_be_a_folder(store: ObjectStore) -> None:
    """On a filesystem 'a' cannot be both a file and a folder; versitygw (posix) has the same
    limit. Loa's keys never do this; both stores must refuse it as bad input, not crash."""
    store.put("clash/a", b"file")
    with pytest.raises(InvalidInput):
        store.put("clash/a/b", b"under a file")
    store.put("clash2/a/b", b"in a folder")
    with pytest.raises(InvalidInput):
        store.put("clash2/a", b"over a folder")
    assert read_all(store, "clash/a") == b"file"


# ------------------------------------------------------------------------------ keys

HOSTILE_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/..",
    "a/./b",
    "a\\b",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    "a//b",
    "a/",
    ".multipart/x",
    ".tmp/x",
    "x" * 513,
    "a/" + "y" * 256,
    "bad\u202etxt.exe",  # right-to-left override
    "zero\u200bwidth",
    unicodedata.normalize("NFD", VIETNAMESE_KEY),
]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
def test_hostile_keys_are_rejected(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        store.put(key, b"x")
    for call in (store.stat, store.open, store.delete, store.exists):
        with pytest.raises(InvalidInput):
            call(key)
    with pytest.raises(InvalidInput):
        store.url(key, timedelta(minutes=5))
    with pytest.raises(InvalidInput):
        store.start_multipart(key)
    assert list(store.list()) == []


def test_longest_allowed_key(store: ObjectStore) -> None:
    key = "/".join(["x" * 200, "y" * 200, "z" * 110])
    assert len(key.encode()) == 512
    validate_key(key)
    store.put(key, b"ok")
    assert [i.key for i in store.list()] == [key]


# ------------------------------------------------------------------------------ multipart


def test_multipart_three_parts(store: ObjectStore) -> None:
    key = "uploads/clip.mov"
    part1 = random.Random(1).randbytes(5 * MiB)
    part2 = random.Random(2).randbytes(5 * MiB + 17)
    part3 = b"tail" * 100
    upload_id = store.start_multipart(key, "video/quicktime")
    # resumable clients send parts in any order, and may resend one
    etag3 = store.put_part(key, upload_id, 3, part3, size=len(part3))
    etag1 = store.put_part(key, upload_id, 1, io.BytesIO(b"garbage" * 10), size=70)
    etag1 = store.put_part(key, upload_id, 1, io.BytesIO(part1), size=len(part1))
    etag2 = store.put_part(key, upload_id, 2, iter([part2[:MiB], part2[MiB:]]))
    assert not store.exists(key)
    info = store.complete_multipart(key, upload_id, [(1, etag1), (2, etag2), (3, etag3)])
    whole = part1 + part2 + part3
    assert (info.key, info.size, info.content_type) == (key, len(whole), "video/quicktime")
    assert info.sha256 in (None, hashlib.sha256(whole).hexdigest())
    with store.open(key) as reader:
        assert sha256_of(reader) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert store.stat(key).content_type == "video/quicktime"
    with pytest.raises(NotFound):  # the upload is gone once completed
        store.put_part(key, upload_id, 4, b"late")


def test_multipart_rules(store: ObjectStore) -> None:
    key = "uploads/rules.bin"
    upload_id = store.start_multipart(key)
    small = store.put_part(key, upload_id, 1, b"a" * 1024)
    last = store.put_part(key, upload_id, 2, b"b" * 1024)
    with pytest.raises(InvalidInput):  # non-last parts must be >= 5 MiB
        store.complete_multipart(key, upload_id, [(1, small), (2, last)])
    with pytest.raises(InvalidInput):
        store.complete_multipart(key, upload_id, [(2, last), (1, small)])
    with pytest.raises(InvalidInput):
        store.complete_multipart(key, upload_id, [])
    with pytest.raises(InvalidInput):
        store.put_part(key, upload_id, 0, b"x")
    with pytest.raises(InvalidInput):
        store.put_part(key, upload_id, 10_001, b"x")
    with pytest.raises(InvalidInput):
        store.put_part(key, upload_id, 3, b"xyz", size=2)
    with pytest.raises(InvalidInput):  # wrong etag
        store.complete_multipart(key, upload_id, [(1, last)])
    with pytest.raises(NotFound):  # an upload belongs to its key
        store.put_part("uploads/other.bin", upload_id, 1, b"x")
    with pytest.raises(NotFound):
        store.put_part(key, "not-an-upload", 1, b"x")
    # a single small part is a valid object (the last part has no minimum)
    info = store.complete_multipart(key, upload_id, [(2, last)])
    assert read_all(store, key) == b"b" * 1024
    assert info.size == 1024


def test_multipart_abort(store: ObjectStore) -> None:
    key = "uploads/aborted.bin"
    upload_id = store.start_multipart(key)
    etag = store.put_part(key, upload_id, 1, b"part")
    store.abort_multipart(key, upload_id)
    store.abort_multipart(key, upload_id)  # idempotent
    with pytest.raises(NotFound):
        store.complete_multipart(key, upload_id, [(1, etag)])
    with pytest.raises(NotFound):
        store.put_part(key, upload_id, 2, b"more")
    assert not store.exists(key)
    assert list(store.list()) == []
    if isinstance(store, LocalObjectStore):
        assert list((store.root / ".multipart").iterdir()) == []


# ------------------------------------------------------------------------------ URLs


def test_download_url(store: ObjectStore) -> None:
    store.put(VIETNAMESE_KEY, b"signed bytes", content_type="video/mp4")
    url = store.url(VIETNAMESE_KEY, timedelta(minutes=5))
    with pytest.raises(InvalidInput):
        store.url(VIETNAMESE_KEY, timedelta(days=8))
    with pytest.raises(InvalidInput):
        store.url(VIETNAMESE_KEY, timedelta(0))
    if isinstance(store, S3ObjectStore):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == b"signed bytes"
        assert response.headers["Content-Type"] == "video/mp4"
        tampered = url.replace("X-Amz-Expires=300", "X-Amz-Expires=600")
        assert requests.get(tampered, timeout=10).status_code == 403
        other = url.replace("m%E1%BB%99t", "hai")
        assert requests.get(other, timeout=10).status_code == 403
        short = store.url(VIETNAMESE_KEY, timedelta(seconds=1))
        time.sleep(2.1)
        assert requests.get(short, timeout=10).status_code == 403
        return
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL
    assert parts.path.startswith("/files/")
    key = unquote(parts.path[len("/files/") :])
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    expires, sig = query["expires"], query["sig"]
    assert key == VIETNAMESE_KEY
    assert isinstance(store, LocalObjectStore)
    assert store.verify_signed_url(key, expires, sig)
    assert verify_signed_url(SIGNING_KEY, key, expires, sig)
    assert not store.verify_signed_url(key, expires, sig, now=int(expires) + 1)  # expired
    assert not store.verify_signed_url(key, str(int(expires) + 60), sig)  # extended
    assert not store.verify_signed_url(key, expires, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert not store.verify_signed_url("assets/other.mp4", expires, sig)
    assert not store.verify_signed_url(key, "soon", sig)
    assert not store.verify_signed_url(key, expires, "ừ")
    assert not store.verify_signed_url("../etc/passwd", expires, sig)
    assert not verify_signed_url("another-key", key, expires, sig)


# ------------------------------------------------------------------------------ health


def test_ping(store: ObjectStore) -> None:
    store.ping()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_s3_ping_unreachable_is_unavailable(s3_server: S3Server) -> None:
    dead = s3_server.store(endpoint=f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(Unavailable, match="unreachable"):
        dead.ping()
    assert time.monotonic() - started < 10
    with pytest.raises(Unavailable):
        dead.stat("anything")


def test_s3_wrong_credentials_are_unavailable(s3_server: S3Server) -> None:
    wrong = s3_server.store(secret_key="not-the-secret")
    with pytest.raises(Unavailable, match="refused"):
        wrong.ping()


def test_local_ping_without_folder_is_unavailable(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", SIGNING_KEY, PUBLIC_URL)
    store.ping()
    (tmp_path / "objects" / ".tmp").rmdir()
    (tmp_path / "objects").rmdir()
    with pytest.raises(Unavailable):
        store.ping()


# ------------------------------------------------------------------------------ local only


def test_local_keys_cannot_escape_through_symlinks(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", SIGNING_KEY, PUBLIC_URL)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "objects" / "link").symlink_to(outside)
    with pytest.raises(InvalidInput):
        store.put("link/x", b"escape")
    with pytest.raises(InvalidInput):
        store.stat("link/x")
    assert list(outside.iterdir()) == []


def test_local_upload_ids_are_checked(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", SIGNING_KEY, PUBLIC_URL)
    for upload_id in ("../../etc", "", "A" * 32, "0" * 31):
        with pytest.raises(NotFound):
            store.put_part("k", upload_id, 1, b"x")
        store.abort_multipart("k", upload_id)


def test_local_stale_uploads_are_cleaned(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", SIGNING_KEY, PUBLIC_URL)
    upload_id = store.start_multipart("k")
    assert store.abort_stale_multipart(timedelta(hours=1)) == 0
    assert store.abort_stale_multipart(timedelta(seconds=-1)) == 1
    with pytest.raises(NotFound):
        store.put_part("k", upload_id, 1, b"x")


# ------------------------------------------------------------------------------ factory


def test_factory_chooses_by_settings(tmp_path: Path, s3_server: S3Server) -> None:
    local = make_object_store(
        Settings(storage_backend="local", data_dir=tmp_path, signing_key="k")  # type: ignore[call-arg]
    )
    assert isinstance(local, LocalObjectStore)
    assert local.root == (tmp_path / "objects").resolve()
    with pytest.raises(ConfigError):
        make_object_store(Settings(storage_backend="local", data_dir=tmp_path))  # type: ignore[call-arg]
    s3 = make_object_store(
        Settings(  # type: ignore[call-arg]
            storage_backend="s3",
            s3_endpoint=s3_server.endpoint,
            s3_access_key=s3_server.access_key,
            s3_secret_key=s3_server.secret_key,
            s3_secure=s3_server.secure,
            s3_bucket=s3_server.bucket,
        )
    )
    assert isinstance(s3, S3ObjectStore)
    s3.ping()
    with pytest.raises(ConfigError):
        make_object_store(Settings(storage_backend="s3"))  # type: ignore[call-arg]
