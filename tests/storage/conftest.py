"""The `store` fixture: every storage test runs on the local directory and on a real S3 server.

The S3 server is the versitygw that scripts/test-servers.sh starts; its address and credentials
come from LOA_TEST_S3_* (the root conftest loads .test-servers.env). A missing variable fails the
S3 tests: skipping would let a broken S3 backend pass unnoticed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.storage import LocalObjectStore, ObjectStore, S3ObjectStore
from shared.storage.base import MIN_PART_SIZE

SIGNING_KEY = "test-signing-key"
PUBLIC_URL = "http://loa.test"
TEST_PART_SIZE = MIN_PART_SIZE
"""Smallest S3 part, so a 20 MiB upload takes several parts and the memory bound means something."""


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    secure: bool
    bucket: str

    def store(self, **overrides: object) -> S3ObjectStore:
        values: dict[str, object] = {
            "endpoint": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "bucket": self.bucket,
            "secure": self.secure,
            "part_size": TEST_PART_SIZE,
        }
        values.update(overrides)
        return S3ObjectStore(**values)  # type: ignore[arg-type]


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: start the S3 test server with scripts/test-servers.sh "
            "(it writes .test-servers.env)",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A bucket of its own for this test session, emptied and removed at the end."""
    server = S3Server(
        endpoint=_env("LOA_TEST_S3_ENDPOINT"),
        access_key=_env("LOA_TEST_S3_ACCESS_KEY"),
        secret_key=_env("LOA_TEST_S3_SECRET_KEY"),
        secure=os.environ.get("LOA_TEST_S3_SECURE", "false").lower() in ("1", "true", "yes"),
        bucket=f"loa-test-{secrets.token_hex(6)}",
    )
    store = server.store()
    store.ping()  # creates the bucket; fails loudly if the server is not there
    yield server
    _empty(store)
    store._client.remove_bucket(server.bucket)


def _empty(store: ObjectStore) -> None:
    for info in list(store.list()):
        store.delete(info.key)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """The same contract, checked on both backends."""
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects", SIGNING_KEY, PUBLIC_URL)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    s3 = server.store()
    yield s3
    _empty(s3)
