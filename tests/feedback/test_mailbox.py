"""The feedback mailbox: mail sent with smtplib to the service's real SMTP intake (aiosmtpd)
becomes tickets; replies thread by In-Reply-To/References or by the code in the subject; the
desk's answers go out through a real local SMTP server (aiosmtpd) standing in for the relay."""

from __future__ import annotations

import mailbox
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.feedback.conftest import free_port

MAILBOX = "gopy@hcc.test"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


class Relay:
    """The center's outgoing SMTP relay: a real aiosmtpd server in its own process, keeping what
    it is given in a Maildir (one asyncio SMTP server per process: the intake is in this one)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(folder),
            ]
        )
        wait_until(self._listening, what="the relay's SMTP port")

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    @property
    def messages(self) -> list[EmailMessage]:
        box = mailbox.Maildir(self.folder, factory=None, create=True)
        raw = [bytes(box.get_bytes(key)) for key in box.iterkeys()]
        return [
            message_from_bytes(r, policy=policy.default)  # type: ignore[misc]
            for r in raw
        ]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    r = Relay(tmp_path / "relay-maildir")
    yield r
    r.stop()


@pytest.fixture
def fb_extra(relay: Relay) -> dict[str, Any]:
    return {
        "feedback_smtp_port": free_port(),
        "feedback_mailbox": MAILBOX,
        # A relay on this host taking mail without a login (TLS relays: tests/security).
        "feedback_smtp_relay_url": f"smtp+plain://127.0.0.1:{relay.port}",
    }


def send(
    settings: Any,
    sender: str,
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    to: str = MAILBOX,
    files: tuple[tuple[str, str, bytes], ...] = (),
) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="citizen.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    for filename, ctype, data in files:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    with smtplib.SMTP("127.0.0.1", settings.feedback_smtp_port, timeout=20) as smtp:
        smtp.send_message(msg)
    return str(msg["Message-ID"])


def email_tickets(stack: Any) -> list[dict[str, Any]]:
    resp = stack.get("/api/feedback/staff/tickets?channel=email", role="operator")
    assert resp.status_code == 200, resp.text
    return list(resp.json())


def tick(stack: Any) -> dict[str, Any]:
    from nameko.standalone.rpc import ServiceRpcProxy

    from shared.runtime.config import nameko_config

    with ServiceRpcProxy("feedback", nameko_config(stack.settings)) as proxy:
        return dict(proxy.tick())


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)
def test_mail_becomes_a_ticket_and_replies_keep_it(stack, fb_settings) -> None:
    citizen = "Trần Thị Hoa <hoa@citizen.test>"
    first_id = send(
        fb_settings,
        citizen,
        "Hỏi về đăng ký kết hôn",
        "Cho tôi hỏi đăng ký kết hôn cần giấy tờ gì?",
        files=(
            ("cccd.png", "image/png", PNG),
            ("setup.exe", "application/x-msdownload", b"MZ" + b"0" * 50),
        ),
    )
    (ticket,) = wait_until(lambda: email_tickets(stack), what="a ticket from the mail")
    code = ticket["code"]
    assert ticket["title"] == "Hỏi về đăng ký kết hôn"
    staff = stack.get(f"/api/feedback/staff/tickets/{code}", role="operator").json()
    assert staff["contact"] == {"email": "hoa@citizen.test", "name": "Trần Thị Hoa"}
    # Photos and documents are kept; anything else is refused and the desk is told.
    (att,) = staff["attachments"]
    assert att["filename"] == "cccd.png" and att["size"] == len(PNG)
    assert "setup.exe" in staff["history"][-1]["note"]

    # The same message delivered twice (a relay's retry) is one ticket.
    send(fb_settings, citizen, "Hỏi về đăng ký kết hôn", "Cho tôi hỏi...", message_id=first_id)
    # A reply to her own message (In-Reply-To) continues the ticket.
    send(
        fb_settings,
        citizen,
        "Re: Hỏi về đăng ký kết hôn",
        "Bổ sung: tôi ở Thủ Dầu Một.\n> Cho tôi hỏi đăng ký kết hôn",
        in_reply_to=first_id,
    )
    # The code in the subject, from the same address, continues it too.
    send(fb_settings, citizen, f"Về phản ánh {code}", "Xin cho biết tiến độ.")
    # Someone else quoting the code does not get into her ticket: a new one is opened.
    send(fb_settings, "other@evil.test", f"[{code}] xem hộ", "Cho tôi xem phản ánh này.")

    def settled() -> list[dict[str, Any]] | None:
        tickets = email_tickets(stack)
        view = stack.get(f"/api/feedback/staff/tickets/{code}", role="operator").json()
        return tickets if len(tickets) == 2 and len(view["messages"]) == 2 else None

    tickets = wait_until(settled, what="threaded replies and one new ticket")
    view = stack.get(f"/api/feedback/staff/tickets/{code}", role="operator").json()
    bodies = [m["body"] for m in view["messages"]]
    assert bodies == ["Bổ sung: tôi ở Thủ Dầu Một.", "Xin cho biết tiến độ."]
    assert {t["code"] for t in tickets} - {code}

    # Mail for any other address is refused: the intake is no relay.
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(fb_settings, citizen, "x", "y", to="someone@else.test")


def test_answer_goes_out_by_mail_and_the_citizens_reply_resumes_the_ticket(
    stack, fb_settings, relay
) -> None:
    send(fb_settings, "binh@citizen.test", "Phí chứng thực", "Phí chứng thực bản sao là bao nhiêu?")
    (ticket,) = wait_until(lambda: email_tickets(stack), what="a ticket from the mail")
    code = ticket["code"]
    asked = stack.post(
        f"/api/feedback/staff/tickets/{code}/ask",
        role="operator",
        json={"question": "Anh cần chứng thực loại giấy tờ nào?"},
    )
    assert asked.status_code == 200, asked.text
    assert tick(stack)["replies"]["sent"] == 1
    (out,) = wait_until(lambda: relay.messages, what="the reply at the relay")
    assert out["To"] == "binh@citizen.test"
    assert MAILBOX in str(out["From"])
    assert code in str(out["Subject"])
    assert "loại giấy tờ nào" in out.get_body(preferencelist=("plain",)).get_content()
    assert out["In-Reply-To"]  # threaded under the citizen's message

    # Her mail client answers our message: the ticket resumes, the clock runs again.
    send(
        fb_settings,
        "binh@citizen.test",
        "Re: " + str(out["Subject"]),
        "Giấy khai sinh.",
        in_reply_to=str(out["Message-ID"]),
    )

    def resumed() -> dict[str, Any] | None:
        view = stack.get(f"/api/feedback/staff/tickets/{code}", role="operator").json()
        return view if view["status"] == "in_progress" else None

    view = wait_until(resumed, what="the ticket resumed by the reply")
    assert [m["direction"] for m in view["messages"]] == ["out", "in"]
    assert len(email_tickets(stack)) == 1
