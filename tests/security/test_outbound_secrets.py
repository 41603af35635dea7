"""Finding 6 of the security review: secrets never end up where viewers (or log readers) see them.

A known secret is planted in every channel's settings; each channel is made to fail by a local
'platform' that echoes the whole request it got (URL, query string, headers) in its error, as
real APIs and proxies do. The secret must then be nowhere: not in the delivery rows (read by every
signed-in role through the API), not in any other row or event of the database, not in the logs
the service writes (captured through loa's own log handler).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import text

from services.feedback.adapters.mail import EmailSender
from services.feedback.adapters.replies import ReplyFailed
from services.publishing.config import ChannelSettings
from services.publishing.domain import schedule
from services.publishing.domain.dispatch import DispatchConfig, Dispatcher
from services.publishing.transmitters.base import PermanentError, TransientError
from services.publishing.transmitters.filedrop import FileDropTransmitter
from services.publishing.transmitters.smtp import SmtpTransmitter
from services.publishing.transmitters.youtube import QUANTUM
from services.publishing.wiring import Transmitters
from shared.db import Database
from shared.logging import configure_logging
from tests.feedback.conftest import (  # noqa: F401 - fixtures
    db_backend,
    fb_extra,
    fb_settings,
    platform,
    stack,
)
from tests.feedback.test_channels import facebook_body, post_facebook, post_zalo, zalo_body
from tests.feedback.test_mailbox import tick
from tests.publishing.conftest import (  # noqa: F401 - fixtures
    PUBLISHER,
    approved_item,
    free_port,
    sqlite_db,
    store,
)
from tests.publishing.test_youtube import video_item
from tests.security.test_outbound_tls import BULLETIN, DROP, OneList, _job, pki  # noqa: F401

SECRET = "S3cr3t-" + secrets.token_hex(8)


class Echo:
    """A platform that refuses every request and says back everything it received."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                echo = f"{self.command} {self.path} headers={dict(self.headers)!r}"
                seen.append(echo)
                if self.path.startswith("/zalo"):
                    status, body = 200, {"error": -201, "message": echo}
                elif self.path.startswith("/yt"):
                    errors = [{"reason": "invalid", "message": echo}]
                    status, body = 400, {"error": {"code": 400, "message": echo, "errors": errors}}
                else:
                    status, body = 400, {"error": {"message": echo, "code": 100}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815 - http.server API

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.close()


@pytest.fixture
def loa_log(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """loa's own JSON log handler, writing into the captured stderr."""
    configure_logging("DEBUG", "json")
    yield lambda: capsys.readouterr().err
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_loa", False):
            root.removeHandler(handler)


def every_row(engine: Any) -> str:
    """Every row of every table, as text."""
    from sqlalchemy import inspect

    out = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: {tuple(row)!r}")
    return "\n".join(out)


def test_publishing_failures_store_and_log_no_secret(
    sqlite_db: Database,  # noqa: F811
    store: Any,  # noqa: F811
    echo: Echo,
    loa_log: Any,
) -> None:
    closed = free_port()
    cfg = ChannelSettings(
        facebook_graph_url=f"{echo.url}/fb/v21.0", facebook_page_id="104857600",
        facebook_page_token=SECRET + "-fb",
        zalo_api_url=f"{echo.url}/zalo", zalo_access_token=SECRET + "-za",
        zalo_cover_url="https://loa.test/cover.jpg",
        youtube_api_url=f"{echo.url}/yt", youtube_access_token=SECRET + "-yt",
        press_target=f"ftpes://press:{SECRET}-ftp@127.0.0.1:{closed}/in",
        tv_target=f"s3://tv:{SECRET}-s3@127.0.0.1:{closed}/bucket/in",
        smtp_host="127.0.0.1", smtp_port=closed, smtp_user="bulletin",
        smtp_password=SECRET + "-smtp", http_timeout_s=5,
    )  # fmt: skip
    transmitters = Transmitters(cfg, sqlite_db, store, "http://loa.test")
    transmitters("youtube").chunk_size = QUANTUM
    d = Dispatcher(sqlite_db, transmitters, DispatchConfig(portal_url="http://loa.test/portal",
                   attention_after=1), sleep=lambda _s: None)  # fmt: skip
    from services.publishing.domain import items

    actor = items.Actor(**PUBLISHER)
    article = approved_item(sqlite_db)
    video = video_item(sqlite_db, store)
    planned = {}
    with sqlite_db.session() as s:
        for channel, item in (("facebook", article), ("zalo", article), ("press", article),
                              ("tv", video), ("youtube", video)):  # fmt: skip
            planned[channel] = schedule.schedule_delivery(
                s, item["id"], channel, actor, cfg, sqlite_db.record_event
            )["id"]
    for _ in range(3):
        d.run_once()
        with sqlite_db.engine.begin() as conn:  # retries due at once
            conn.execute(text("UPDATE deliveries SET next_attempt_at = '2000-01-01 00:00:00'"))
    assert echo.seen, "the platforms were not called"
    assert any(SECRET in seen for seen in echo.seen), "the echo does not carry the secret"
    with sqlite_db.session() as s:
        reasons = {c: schedule.get_delivery(s, i)["reason"] for c, i in planned.items()}
    for channel in ("facebook", "zalo", "youtube"):
        assert reasons[channel], (channel, reasons)
    for channel, reason in reasons.items():
        assert SECRET not in (reason or ""), (channel, reason)
    rows = every_row(sqlite_db.engine)
    assert SECRET not in rows, [line for line in rows.splitlines() if SECRET in line][:3]
    logged = loa_log()
    assert SECRET not in logged, [line for line in logged.splitlines() if SECRET in line][:3]


def test_feedback_reply_failures_store_no_secret(
    stack: Any,  # noqa: F811
    platform: Any,  # noqa: F811
    fb_settings: Any,  # noqa: F811
    loa_log: Any,
) -> None:
    """The feedback platforms' tokens (configured as PAGE-TOKEN and ZALO-TOKEN) echoed back in
    the platforms' errors: the reply's recorded failure, the ticket as staff read it, the events
    and the logs never show them."""
    tokens = (
        fb_settings.feedback_facebook_page_token,
        fb_settings.feedback_zalo_access_token,
        fb_settings.feedback_hotline_secret,
        fb_settings.feedback_facebook_app_secret,
        fb_settings.feedback_zalo_oa_secret,
    )
    fb = post_facebook(stack, facebook_body("m-1", "psid-1", "Đèn đường hỏng"))
    zalo = post_zalo(stack, zalo_body("z-1", "zuser-1", "Ống nước vỡ"))
    codes = [fb.json()["tickets"][0], zalo.json()["tickets"][0]]
    echoes = [
        (400, {"error": {"code": 100, "message": "echo: /me/messages?access_token=PAGE-TOKEN"}}),
        (200, {"error": -201, "message": "echo: headers {'access_token': 'ZALO-TOKEN'}"}),
    ]
    for code, failure in zip(codes, echoes, strict=True):
        platform.fail_next.append(failure)
        answered = stack.post(
            f"/api/feedback/staff/tickets/{code}/answer",
            role="operator",
            json={"answer": "Chúng tôi đã nhận phản ánh."},
        )
        assert answered.status_code == 200, answered.text
        assert tick(stack)["replies"]["failed"] == 1
    views = [stack.get(f"/api/feedback/staff/tickets/{c}", role="operator") for c in codes]
    errors = [n["last_error"] for v in views for n in v.json()["notifications"]]
    assert len(errors) == 2 and all(errors), errors
    from sqlalchemy import create_engine

    engine = create_engine(fb_settings.database_url("feedback"))
    rows = every_row(engine)
    engine.dispose()
    logged = loa_log()
    for token in tokens:
        for where, content in (
            ("API", "\n".join(v.text for v in views)),
            ("rows", rows),
            ("logs", logged),
        ):
            assert token not in content, (token, where, errors)


def test_smtp_and_drop_failures_carry_no_password(
    pki: Any,  # noqa: F811
    loa_log: Any,
) -> None:
    """An SMTP server (STARTTLS, verified by the test's CA) that refuses the login quoting the
    password back; FTPS and S3 drops that cannot be reached: no error text holds the password."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    password = SECRET + "-smtp"
    port = free_port()

    def refuse(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        said = data.password.decode() if hasattr(data, "password") else repr(data)
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 wrong password {said}")

    controller = Controller(
        object(), hostname="127.0.0.1", port=port, authenticator=refuse, auth_required=True,
        tls_context=pki.server_context(), require_starttls=True, ready_timeout=10.0,
    )  # fmt: skip
    controller.start()
    try:
        bulletin = SmtpTransmitter(
            "localhost", port, "Bản tin <bantin@loa.example>", OneList(), "http://loa.test/u",
            user="bulletin", password=password, timeout=10, ca_file=str(pki.ca),
        )  # fmt: skip
        with pytest.raises(PermanentError) as err:
            bulletin.send(_job(BULLETIN))
        reply = EmailSender(f"smtp://bulletin:{password}@localhost:{port}", "gopy@loa.example",
                            timeout=10, ca_file=str(pki.ca))  # fmt: skip
        with pytest.raises(ReplyFailed) as failed:
            reply.send_reply("dan@example.vn", "Đã nhận", "", [])
    finally:
        controller.stop()
    assert "535" in err.value.reason and "535" in failed.value.reason
    closed = free_port()
    reasons = [err.value.reason, failed.value.reason]
    for target in (f"ftpes://press:{password}@127.0.0.1:{closed}/in",
                   f"s3://tv:{password}@127.0.0.1:{closed}/bucket/in"):  # fmt: skip
        with pytest.raises((PermanentError, TransientError)) as drop:
            FileDropTransmitter("press", target, None, timeout=5).send(_job(DROP))
        reasons.append(drop.value.reason)
    for reason in reasons:
        assert password not in reason, reason
    assert password not in loa_log()
