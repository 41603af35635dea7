"""Issue 13, finding 11: one Fernet key, no rotation, the look-up hash key derived from it, key
and database files readable by everyone on the machine.

Now the personal-data keys are a ring (LOA_FEEDBACK_PII_KEYS, newest first); `loa keys rotate`
re-encrypts every row and object under the newest key in batches, idempotently, while the old key
still reads; then the old key is dropped and everything still reads, and the look-up hashes (a key
of their own, LOA_FEEDBACK_LOOKUP_KEY, pinned to the derived value on an existing install) still
find a caller's earlier tickets. The embedded start keeps key, database and object files 0600 in
0700 folders.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import MetaData, create_engine, text

from services.feedback.domain import attachments, catalog
from services.feedback.domain.pii import DecryptFailed, Vault, derived_lookup_key
from services.feedback.domain.tickets import Actor, Desk, Intake
from services.feedback.models import metadata
from shared.db import Database
from shared.migrations import upgrade
from shared.storage import LocalObjectStore, make_object_store

ROOT = Path(__file__).resolve().parents[2]
MARK = secrets.token_hex(6)
ADMIN = Actor("a1", "admin")
PHOTO = b"\x89PNG\r\n\x1a\n" + f"anh-{MARK}".encode() * 40


@pytest.fixture(params=["sqlite+local", "postgresql+s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path, pg_database: Any) -> dict[str, str]:
    """The environment of one feedback install: its database and object store."""
    env = {"LOA_DATA_DIR": str(tmp_path / "data"), "LOA_SIGNING_KEY": "test-signing-key"}
    if request.param.startswith("sqlite"):
        env["LOA_FEEDBACK_DATABASE_URL"] = f"sqlite:///{tmp_path}/feedback.db"
    else:
        env.update(
            LOA_FEEDBACK_DATABASE_URL=pg_database("keys"),
            LOA_STORAGE_BACKEND="s3",
            LOA_S3_ENDPOINT=os.environ["LOA_TEST_S3_ENDPOINT"],
            LOA_S3_ACCESS_KEY=os.environ["LOA_TEST_S3_ACCESS_KEY"],
            LOA_S3_SECRET_KEY=os.environ["LOA_TEST_S3_SECRET_KEY"],
            LOA_S3_BUCKET=f"loa-rot-{secrets.token_hex(5)}",
        )
    return env


def loa(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
    return subprocess.run(
        [sys.executable, "-m", "loa.cli", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_of(env: dict[str, str]) -> Any:
    from shared.config import Settings

    values = {k.removeprefix("LOA_").lower(): v for k, v in env.items()}
    return Settings(**values)


def test_rotate_under_a_new_key_then_drop_the_old_one(place: dict[str, str]) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = settings_of(place)
    url = settings.database_url("feedback")
    upgrade("feedback", url)
    db = Database("feedback", url, metadata)
    store = make_object_store(settings)
    desk = Desk(events=db, vault=Vault(old))  # an install from before: one key, derived hashes
    with db.session() as s:
        catalog.seed_defaults(s)
        ticket = desk.submit(
            s,
            Intake(
                channel="portal",
                category="thu_tuc",
                description=f"Ông Bảy ở tổ 3 xin giữ kín {MARK}",
                contact={"phone": "0911 222 333"},
            ),
        )
        desk.ask_citizen(s, ticket["id"], f"Ông cho xin địa chỉ {MARK}", ADMIN)
        desk.answer(s, ticket["id"], f"Đã xử lý {MARK}", ADMIN)
        att = attachments.store(
            s, store, ticket["id"], "a.png", "image/png", PHOTO, vault=desk.vault
        )
        # A row written before descriptions were encrypted: plain text, as the upgrade finds it.
        legacy = desk.submit(
            s, Intake(channel="portal", category="thu_tuc", description="placeholder")
        )
        s.execute(
            text("UPDATE tickets SET description = :d WHERE id = :id"),
            {"d": f"Bà Năm hỏi chuyện riêng {MARK}", "id": legacy["id"]},
        )
    db.dispose()

    ring = {**place, "LOA_FEEDBACK_PII_KEYS": f"{new},{old}"}
    first = loa(ring, "keys", "rotate", "--batch", "2")
    assert first.returncode == 0, first.stderr
    assert "rewritten" in first.stdout
    again = loa(ring, "keys", "rotate")
    assert again.returncode == 0, again.stderr
    assert "rewritten 0" in again.stdout, again.stdout  # idempotent: nothing left to do

    # The old key alone no longer reads anything; the new key alone reads everything.
    db = Database("feedback", url, metadata)
    lookup = derived_lookup_key(old)
    only_new = Vault([new], lookup_key=lookup)
    desk = Desk(events=db, vault=only_new)
    with db.session() as s:
        view = desk.staff_view(s, ticket["id"], ADMIN)
        assert view["description"].endswith(MARK) and view["answer"] == f"Đã xử lý {MARK}"
        assert view["contact"] == {"phone": "0911 222 333"}
        assert [m["body"] for m in view["messages"]][0] == f"Ông cho xin địa chỉ {MARK}"
        assert desk.staff_view(s, legacy["id"], ADMIN)["description"].endswith(MARK)
        earlier = desk.earlier_tickets(s, only_new.lookup_hash("phone", "0911222333"))
        assert [t["id"] for t in earlier] == [ticket["id"]]
        assert attachments.read(s, store, only_new, att["id"]) == ("a.png", "image/png", PHOTO)
        with pytest.raises(DecryptFailed):
            Desk(events=db, vault=Vault(old)).staff_view(s, ticket["id"], ADMIN)
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        dump = "\n".join(
            " ".join(map(str, row)) for t in meta.sorted_tables for row in conn.execute(t.select())
        )
    engine.dispose()
    db.dispose()
    assert MARK not in dump
    raw = b"".join(store.open(att["key"]))
    assert PHOTO[:8] not in raw and MARK.encode() not in raw


def test_keys_generate_prints_new_keys() -> None:
    out = loa({}, "keys", "generate")
    assert out.returncode == 0, out.stderr
    lines = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    Fernet(lines["LOA_FEEDBACK_PII_KEYS"].encode())
    assert len(bytes.fromhex(lines["LOA_FEEDBACK_LOOKUP_KEY"])) == 32


def test_a_wrong_key_is_loud_not_a_dict() -> None:
    sealed = Vault(Fernet.generate_key().decode()).seal({"phone": "0909"})
    with pytest.raises(DecryptFailed) as caught:
        Vault(Fernet.generate_key().decode()).open(sealed)
    assert caught.value.status == 500


def test_embedded_start_keeps_files_owner_only(tmp_path: Path) -> None:
    from loa.runner import embedded_settings
    from shared.config import Settings

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    # An install from before: its key file and database readable by everyone.
    old_key = Fernet.generate_key().decode()
    (data / ".feedback-pii-key").write_text(old_key)
    (data / ".feedback-pii-key").chmod(0o644)
    (data / "feedback.sqlite3").write_bytes(b"")
    (data / "feedback.sqlite3").chmod(0o644)
    previous = os.umask(0o022)
    try:
        settings = embedded_settings(Settings(data_dir=data))
        upgrade("gateway", f"sqlite:///{data}/gateway-new.sqlite3")
        LocalObjectStore(str(data / "objects"), "k", "http://x").put("feedback/t/a", b"x")
    finally:
        os.umask(previous)
    # Existing hashes keep matching: the look-up key is pinned to the one derived before.
    assert settings.feedback_lookup_key == derived_lookup_key(old_key)
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{path.relative_to(tmp_path)}: {oct(mode)}"
    assert (data / ".feedback-lookup-key").exists()


def test_a_fresh_embedded_start_gets_its_own_lookup_key(tmp_path: Path) -> None:
    from loa.runner import embedded_settings
    from shared.config import Settings

    settings = embedded_settings(Settings(data_dir=tmp_path / "data"))
    assert settings.feedback_pii_keys and settings.feedback_lookup_key
    assert settings.feedback_lookup_key != derived_lookup_key(settings.feedback_pii_keys)


def test_a_malformed_key_stops_any_start_naming_the_variable(tmp_path: Path) -> None:
    """Checked with the other settings, before anything runs (here: a migration)."""
    url = f"sqlite:///{tmp_path}/f.db"
    for variable, value in (
        ("LOA_FEEDBACK_PII_KEYS", f"{Fernet.generate_key().decode()},not-a-key"),
        ("LOA_FEEDBACK_LOOKUP_KEY", "abc"),
    ):
        out = loa({variable: value, "LOA_FEEDBACK_DATABASE_URL": url}, "migrate", "feedback")
        assert out.returncode == 2 and variable in out.stderr, out
        assert not (tmp_path / "f.db").exists()
