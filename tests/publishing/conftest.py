"""Fixtures of the publishing tests: its database (SQLite or PostgreSQL, migrated), a local object
store, and real local servers standing in for the channels' far ends: FTP (pyftpdlib), SMTP
(aiosmtpd, writing a maildir), and a Graph API server that answers as Facebook documents."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.publishing.models import metadata
from shared.db import Database
from shared.migrations import upgrade
from shared.storage import LocalObjectStore
from tests.publishing.fakes import FakeServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on {port}")


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", "test-key", "http://loa.test")


def _db(url: str) -> Database:
    upgrade("publishing", url)
    return Database("publishing", url, metadata, pool_size=20)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = _db(f"sqlite:///{tmp_path / 'publishing.sqlite3'}")
    yield db
    db.dispose()


@pytest.fixture
def pg_db(pg_database: Any) -> Iterator[Database]:
    db = _db(pg_database("pub"))
    yield db
    db.dispose()


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real FTP server (pyftpdlib) in its own process, user press/secret."""
    root = tmp_path / "ftp"
    root.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port), "-u", "press",
         "-P", "secret", "-d", str(root), "-w"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait_port(port, proc, "FTP server")
    yield {"root": root, "url": f"ftp://press:secret@127.0.0.1:{port}/bao-binh-duong"}
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real SMTP server (aiosmtpd) in its own process, delivering into a maildir."""
    maildir = tmp_path / "maildir"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait_port(port, proc, "SMTP server")
    yield {"port": port, "maildir": maildir}
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def facebook() -> Iterator[FakeServer]:
    from tests.publishing.fakes import FacebookGraph

    server = FacebookGraph().start()
    yield server
    server.stop()


def utcnow() -> datetime:
    return datetime.now(UTC)


EDITOR = {"user": "bien-tap-vien", "role": "editor"}
PUBLISHER = {"user": "lanh-dao", "role": "publisher"}


def events_of(db: Database, event_type: str) -> list[dict[str, Any]]:
    """Events this service recorded in its outbox (the relay publishes them after commit)."""
    from sqlalchemy import select

    outbox = metadata.tables["outbox"]
    with db.session() as s:
        rows = s.execute(select(outbox.c.body).where(outbox.c.type == event_type)).scalars()
        return [json.loads(b)["payload"] for b in rows]


def approved_item(db: Database, **fields: Any) -> dict[str, Any]:
    """An item written by an editor and approved by a publisher."""
    from services.publishing.domain import items

    data = {"kind": "article", "title": "Một cửa liên thông", "summary": "Tóm tắt",
            "body": "<p>Nội dung <b>chính</b></p>", **fields}  # fmt: skip
    editor, publisher = items.Actor(**EDITOR), items.Actor(**PUBLISHER)
    with db.session() as s:
        item = items.create_item(s, items.ItemInput(**data), editor, db.record_event)
        items.transition(s, item["id"], "submit", editor, db.record_event)
        return items.transition(s, item["id"], "approve", publisher, db.record_event)
