"""Call recordings: the call center sends a recording's URL; the service downloads it from a
real local HTTP server (bounded size, audio only, outages retried) and stores it in object
storage as an attachment of the call's ticket."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.feedback.test_channels import call_event, hotline
from tests.feedback.test_mailbox import tick

AUDIO = b"ID3" + bytes(range(256)) * 40  # ~10 KB of "mp3"


class RecordingServer:
    """The call center's recording server, answering as such servers do (and misbehaving)."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path == "/rec/good.mp3":
                    self._send(200, "audio/mpeg", AUDIO)
                elif self.path == "/rec/flaky.mp3" and server.hits[self.path] == 1:
                    self._send(503, "text/plain", b"busy")
                elif self.path == "/rec/flaky.mp3":
                    self._send(200, "audio/mpeg", AUDIO)
                elif self.path == "/rec/page.mp3":
                    self._send(200, "text/html", b"<html>login</html>")
                elif self.path == "/rec/huge.mp3":
                    self._send(200, "audio/mpeg", AUDIO * 20)  # Content-Length says too big
                elif self.path == "/rec/endless.mp3":
                    # No Content-Length: the size is only found out while streaming.
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/mpeg")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for _ in range(40):
                        self.wfile.write(AUDIO)
                else:
                    self._send(404, "text/plain", b"no")

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/rec/"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def recordings_server() -> Iterator[RecordingServer]:
    s = RecordingServer()
    yield s
    s.close()


@pytest.fixture
def fb_extra(recordings_server: RecordingServer) -> dict[str, Any]:
    return {
        "feedback_recording_origins": recordings_server.url.removesuffix("/rec/"),
        "feedback_recording_max_bytes": 100_000,
    }


def recording(stack: Any, call_id: str, url: str) -> Any:
    return hotline(stack, {**call_event("call.recording", call_id), "recording_url": url})


def test_recording_is_downloaded_and_attached_to_the_calls_ticket(
    stack, fb_settings, recordings_server
) -> None:
    base = recordings_server.url
    assert hotline(stack, call_event("call.new", "C-7")).status_code == 200
    assert recording(stack, "C-7", base + "good.mp3").status_code == 200
    assert recording(stack, "C-7", base + "good.mp3").json()["duplicate"] is True
    assert tick(stack)["recordings"] == {"stored": 1, "retry": 0, "failed": 0}

    body = {"category": "thu_tuc", "description": "Hỏi thủ tục đổi bằng lái xe"}
    created = stack.post("/api/feedback/calls/C-7/ticket", role="operator", json=body)
    assert created.status_code == 201, created.text
    view = stack.get(f"/api/feedback/staff/tickets/{created.json()['code']}", role="operator")
    (att,) = view.json()["attachments"]
    assert att["call_id"] == "C-7" and att["content_type"] == "audio/mpeg"
    assert att["size"] == len(AUDIO)
    assert att["sha256"] == hashlib.sha256(AUDIO).hexdigest()

    from shared.storage import make_object_store

    stored = b"".join(make_object_store(fb_settings).open(att["key"]))
    assert AUDIO[:64] not in stored  # encrypted at rest (tests/security/test_keys_at_rest.py)
    code = created.json()["code"]
    got = stack.get(f"/api/feedback/staff/tickets/{code}/attachments/{att['id']}", role="operator")
    assert got.status_code == 200 and got.content == AUDIO
    assert recordings_server.hits["/rec/good.mp3"] == 1


def test_recording_outages_are_retried_and_bad_ones_refused(
    stack, fb_settings, recordings_server
) -> None:
    base = recordings_server.url
    # Only the call center's recording server: anything else is refused at the webhook.
    outside = recording(stack, "C-8", "http://169.254.169.254/latest/meta-data")
    assert outside.status_code == 400 and "recording_url" in outside.text
    for call_id, name in (
        ("C-9", "flaky.mp3"),
        ("C-10", "page.mp3"),
        ("C-11", "huge.mp3"),
        ("C-12", "endless.mp3"),
        ("C-13", "missing.mp3"),
    ):
        assert recording(stack, call_id, base + name).status_code == 200
    assert tick(stack)["recordings"] == {"stored": 0, "retry": 1, "failed": 4}

    from sqlalchemy import create_engine, text

    engine = create_engine(fb_settings.database_url("feedback"))
    with engine.begin() as conn:
        rows = {
            r.call_id: r
            for r in conn.execute(text("SELECT call_id, status, last_error FROM call_recordings"))
        }
        # The flaky server's retry is due later; bring it forward instead of waiting.
        conn.execute(text("UPDATE call_recordings SET next_attempt_at = '2000-01-01 00:00:00'"))
    assert rows["C-9"].status == "pending" and "503" in rows["C-9"].last_error
    assert "Content-Type text/html" in rows["C-10"].last_error
    assert "more than 100000" in rows["C-11"].last_error
    assert "larger than 100000" in rows["C-12"].last_error
    assert "404" in rows["C-13"].last_error
    assert tick(stack)["recordings"] == {"stored": 1, "retry": 0, "failed": 0}
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM attachments WHERE call_id = 'C-9'")
        ).scalar()
        partial = conn.execute(
            text("SELECT count(*) FROM attachments WHERE call_id = 'C-12'")
        ).scalar()
    engine.dispose()
    assert stored == 1 and partial == 0
