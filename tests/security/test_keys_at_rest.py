"""Issue 13, finding 11: encryption at rest covered contacts only.

Ticket descriptions, message threads, answers, history notes, attachments and call recordings were
kept in clear. Now the raw database rows and the raw stored objects hold none of what a citizen
wrote or sent, on SQLite + the local folder and on PostgreSQL + S3, while the handler still reads
all of it through the API; a ciphertext that cannot be decrypted is a loud 500 problem and a log
line, never a silent `{"error": …}` shown as contact data.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from kombu import Connection
from sqlalchemy import MetaData, create_engine, text

from services.feedback.domain.pii import Vault, derived_lookup_key
from services.feedback.domain.tickets import Actor, Desk, Intake
from services.feedback.models import metadata
from shared.db import Database
from shared.events.topology import declare_topology
from shared.migrations import upgrade
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from tests.feedback.conftest import (  # noqa: F401 - the feedback stack's fixtures
    fb_settings,
    platform,
    stack,
)
from tests.feedback.test_channels import call_event, hotline
from tests.feedback.test_mailbox import tick
from tests.feedback.test_recordings import AUDIO, RecordingServer

ROOT = Path(__file__).resolve().parents[2]
MARK = secrets.token_hex(6)
DESCRIPTION = f"Chị Lan ở số 12 đường Hùng Vương bị hàng xóm đe doạ {MARK}-mo-ta"
QUESTION = f"Chị cho biết thêm số nhà của người hàng xóm {MARK}-hoi"
CITIZEN_REPLY = f"Số nhà 14, ông Tư {MARK}-tra-loi-cua-dan"
ANSWER = f"Công an phường đã làm việc với ông Tư {MARK}-tra-loi"
PHOTO = b"\x89PNG\r\n\x1a\n" + f"anh-chup-{MARK}".encode() * 50
RECORDING = AUDIO + f"ghi-am-{MARK}".encode()


@pytest.fixture(params=["sqlite+local", "postgresql+s3"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param).split("+")[0]


@pytest.fixture
def recordings_server() -> Any:
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def fb_extra(request: pytest.FixtureRequest, db_backend: str, recordings_server: Any) -> Any:
    extra: dict[str, Any] = {
        "feedback_recording_origins": recordings_server.url.removesuffix("/rec/"),
        "feedback_recording_max_bytes": 100_000,
    }
    if db_backend == "postgresql":
        extra.update(
            storage_backend="s3",
            s3_endpoint=os.environ["LOA_TEST_S3_ENDPOINT"],
            s3_access_key=os.environ["LOA_TEST_S3_ACCESS_KEY"],
            s3_secret_key=os.environ["LOA_TEST_S3_SECRET_KEY"],
            s3_bucket=f"loa-keys-{secrets.token_hex(5)}",
        )
    return extra


def raw_rows(settings: Any) -> str:
    """Every value of every row of every feedback table, as the database holds it."""
    engine = create_engine(settings.database_url("feedback"))
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                out.append(" ".join(str(v) for v in row))
    engine.dispose()
    return "\n".join(out)


def raw_objects(settings: Any) -> list[bytes]:
    """Every stored object's bytes as the store holds them (the folder's files, or S3's)."""
    from shared.storage import make_object_store

    store = make_object_store(settings)
    return [b"".join(store.open(info.key)) for info in store.list("feedback/")]


def test_what_citizens_wrote_and_sent_is_ciphertext_at_rest(
    stack, fb_settings, recordings_server  # noqa: F811 - fixtures
) -> None:
    photo = {
        "filename": "hang-xom.png",
        "content_type": "image/png",
        "data": base64.b64encode(PHOTO).decode(),
    }
    created = stack.submit(
        description=DESCRIPTION, contact={"phone": "0909 111 222"}, attachments=[photo]
    )
    assert created.status_code in (200, 201), created.text
    code = created.json()["code"]
    asked = stack.post(
        f"/api/feedback/staff/tickets/{code}/ask", role="admin", json={"question": QUESTION}
    )
    assert asked.status_code == 200, asked.text
    answered = stack.post(
        f"/api/feedback/staff/tickets/{code}/answer", role="admin", json={"answer": ANSWER}
    )
    assert answered.status_code == 200, answered.text
    reopened = stack.post(f"/api/feedback/track/{code}/reopen", json={"reason": CITIZEN_REPLY})
    assert reopened.status_code == 200, reopened.text

    # A call recording, fetched by the clock and stored as an attachment of the call.
    assert hotline(stack, call_event("call.new", "C-K1")).status_code == 200
    event = {
        **call_event("call.recording", "C-K1"),
        "recording_url": recordings_server.url + "k.mp3",
    }
    recordings_server_bytes(recordings_server)
    assert hotline(stack, event).status_code == 200
    assert tick(stack)["recordings"] == {"stored": 1, "retry": 0, "failed": 0}

    rows = raw_rows(fb_settings)
    assert MARK not in rows, [line for line in rows.splitlines() if MARK in line][:3]
    assert "Hùng Vương" not in rows and "0909" not in rows
    objects = raw_objects(fb_settings)
    assert len(objects) == 2
    for data in objects:
        assert MARK.encode() not in data and AUDIO[:200] not in data and PHOTO[:8] not in data

    # The handler still reads all of it.
    view = stack.get(f"/api/feedback/staff/tickets/{code}", role="admin").json()
    assert view["description"] == DESCRIPTION and view["answer"] == ANSWER
    assert [m["body"] for m in view["messages"]] == [QUESTION, ANSWER, CITIZEN_REPLY]
    assert view["contact"] == {"phone": "0909 111 222"}
    (att,) = view["attachments"]
    assert att["size"] == len(PHOTO) and att["filename"] == "hang-xom.png"
    got = stack.get(f"/api/feedback/staff/tickets/{code}/attachments/{att['id']}", role="admin")
    assert got.status_code == 200, got.text
    assert got.content == PHOTO and got.headers["Content-Type"] == "image/png"
    listed = stack.get("/api/feedback/staff/tickets", role="admin").json()
    assert any(f"{MARK}-mo-ta" in t["title"] for t in listed), listed  # decrypted, redacted

    call_ticket = stack.post(
        "/api/feedback/calls/C-K1/ticket",
        role="operator",
        json={"category": "thu_tuc", "description": "Hỏi thủ tục"},
    ).json()
    cview = stack.get(f"/api/feedback/staff/tickets/{call_ticket['code']}", role="operator").json()
    (rec,) = cview["attachments"]
    got = stack.get(
        f"/api/feedback/staff/tickets/{call_ticket['code']}/attachments/{rec['id']}",
        role="operator",
    )
    assert got.status_code == 200 and got.content == RECORDING
    # An officer of another unit may not fetch it.
    other = stack.get(
        f"/api/feedback/staff/tickets/{code}/attachments/{att['id']}", role="officer", unit="x"
    )
    assert other.status_code == 403
    viewer = stack.get(f"/api/feedback/staff/tickets/{code}/attachments/{att['id']}", role="viewer")
    assert viewer.status_code == 403


def recordings_server_bytes(server: Any) -> None:
    """The recording server answers /rec/k.mp3 with this test's recording."""
    handler = server.http.RequestHandlerClass
    original = handler.do_GET

    def do_get(self: Any) -> None:
        if self.path == "/rec/k.mp3":
            self._send(200, "audio/mpeg", RECORDING)
        else:
            original(self)

    handler.do_GET = do_get


def test_a_ciphertext_that_cannot_be_decrypted_is_a_loud_error(
    stack, fb_settings, caplog  # noqa: F811 - fixtures
) -> None:
    code = stack.submit(description=DESCRIPTION, contact={"phone": "0909 333 444"}).json()["code"]
    engine = create_engine(fb_settings.database_url("feedback"))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE tickets SET contact_enc = :bad WHERE code = :code"),
            {"bad": "gAAAAABnot-a-real-token", "code": code},
        )
    engine.dispose()
    with caplog.at_level(logging.ERROR):
        got = stack.get(f"/api/feedback/staff/tickets/{code}", role="admin")
    assert got.status_code == 500, got.text
    assert got.headers["Content-Type"].startswith("application/problem+json")
    assert "error" not in (got.json().get("contact") or {})
    assert "decrypt" in got.json()["detail"].lower()
    assert any("decrypt" in r.getMessage().lower() for r in caplog.records), caplog.text

    from shared.metrics import render

    assert b"loa_feedback_decrypt_failures_total" in render()[0]


def test_an_altered_attachment_object_is_a_loud_error(stack, fb_settings) -> None:  # noqa: F811
    from shared.storage import make_object_store

    data = base64.b64encode(PHOTO).decode()
    photo = {"filename": "a.png", "content_type": "image/png", "data": data}
    code = stack.submit(description=DESCRIPTION, attachments=[photo]).json()["code"]
    (att,) = stack.get(f"/api/feedback/staff/tickets/{code}", role="admin").json()["attachments"]
    store = make_object_store(fb_settings)
    stored = bytearray(b"".join(store.open(att["key"])))
    stored[-10] ^= 1  # one bit flipped inside the last token
    store.put(att["key"], bytes(stored))
    got = stack.get(f"/api/feedback/staff/tickets/{code}/attachments/{att['id']}", role="admin")
    assert got.status_code == 500, got.text
    assert got.headers["Content-Type"].startswith("application/problem+json")
    assert PHOTO[:8] not in got.content


OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def ring_stack(container_factory, make_settings, platform, tmp_path):  # noqa: F811 - fixtures
    """The feedback stack running on the ring NEW,OLD (step 2 of the rotation), SQLite."""
    from tests.feedback.conftest import Api, free_port

    settings = make_settings(
        http_host="127.0.0.1",
        http_port=free_port(),
        feedback_pii_keys=f"{NEW_KEY},{OLD_KEY}",
        feedback_lookup_key=derived_lookup_key(OLD_KEY),
        feedback_portal_rate="1000/60",
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for service in ("feedback", "gateway"):
        upgrade(service, settings.database_url(service))
    with Connection(settings.amqp_uri) as conn:
        declare_topology(conn)
    from services.feedback.service import FeedbackService
    from services.gateway.service import GatewayService

    for cls in (FeedbackService, GatewayService):
        container_factory(cls, nameko_config(settings)).start()
    yield Api(f"http://127.0.0.1:{settings.http_port}", settings)
    forget_databases()


def test_rotation_while_the_service_runs_then_the_old_key_dropped(ring_stack) -> None:
    settings = ring_stack.settings
    url = settings.database_url("feedback")
    # What the install wrote under its old key, before the new one was put in front.
    db = Database("feedback", url, metadata)
    old_desk = Desk(events=db, vault=Vault(OLD_KEY))
    with db.session() as s:
        old = old_desk.submit(
            s,
            Intake(
                channel="portal",
                category="thu_tuc",
                description=DESCRIPTION,
                contact={"phone": "0909 555 666"},
            ),
        )
        old_desk.ask_citizen(s, old["id"], QUESTION, Actor("a", "admin"))
    db.dispose()

    env = {
        "LOA_FEEDBACK_DATABASE_URL": url,
        "LOA_DATA_DIR": str(settings.data_dir),
        "LOA_SIGNING_KEY": "test-signing-key",
        "LOA_FEEDBACK_PII_KEYS": f"{NEW_KEY},{OLD_KEY}",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOA_")}
    rotating = subprocess.Popen(
        [sys.executable, "-m", "loa.cli", "keys", "rotate", "--batch", "1"],
        cwd=ROOT,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Citizens and staff keep working meanwhile.
    codes = []
    while rotating.poll() is None or len(codes) < 3:
        made = ring_stack.submit(description=f"{DESCRIPTION} {len(codes)}")
        assert made.status_code in (200, 201), made.text
        codes.append(made.json()["code"])
        seen = ring_stack.get(f"/api/feedback/staff/tickets/{old['id']}", role="admin").json()
        assert seen["description"] == DESCRIPTION and seen["contact"]["phone"] == "0909 555 666"
    out, err = rotating.communicate(timeout=60)
    assert rotating.returncode == 0, err
    assert "rewritten" in out

    # The old key dropped: everything still reads; the caller's hash still matches.
    only_new = Vault([NEW_KEY], lookup_key=derived_lookup_key(OLD_KEY))
    db = Database("feedback", url, metadata)
    desk = Desk(events=db, vault=only_new)
    admin = Actor("a", "admin")
    with db.session() as s:
        view = desk.staff_view(s, old["id"], admin)
        assert view["description"] == DESCRIPTION
        assert [m["body"] for m in view["messages"]] == [QUESTION]
        assert desk.earlier_tickets(s, only_new.lookup_hash("phone", "0909555666"))
        for code in codes:
            assert desk.staff_view(s, code, admin)["description"].startswith(DESCRIPTION)
    db.dispose()
