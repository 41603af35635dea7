"""Portal submissions: tracking code, public look-up without personal data, events, bad input."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.feedback.domain.codes import normalize_code
from tests.conftest import wait_until
from tests.feedback.conftest import PII_KEY, drain, feedback_events


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)
def test_submission_gives_a_code_and_a_lookup_without_personal_data(stack, fb_settings) -> None:
    queue = feedback_events(fb_settings)
    resp = stack.submit(
        description="Cho hỏi thủ tục cấp lại CMND <script>alert(1)</script>",
        contact={"name": "Nguyễn Văn Bình", "phone": "0912 345 678", "email": "binh@example.vn"},
        is_public=True,
    )
    assert resp.status_code == 201, resp.text
    code = resp.json()["code"]
    assert normalize_code(code) == code and len(code) == 19
    # A code read over the phone in lower case without dashes is still found.
    look = stack.get("/api/feedback/track/" + code.replace("-", "").lower())
    assert look.status_code == 200, look.text
    data = look.json()
    assert data["status"] == "assigned"
    assert data["unit"] == "Trung tâm Phục vụ hành chính công"
    text = look.text
    for secret in ("0912", "Bình", "binh@example", "345 678"):
        assert secret not in text

    # The events carry no personal data; the description stays stored as typed (text).
    # drain() takes messages off for good: keep what every poll took, not only the last one.
    events: list[dict[str, Any]] = []

    def types() -> list[str]:
        events.extend(drain(fb_settings, queue))
        return [e["type"] for e in events]

    wanted = ["feedback.ticket_received", "feedback.ticket_assigned"]
    wait_until(lambda: len(types()) >= len(wanted), what="the ticket's events")
    assert types() == wanted
    staff = stack.get(f"/api/feedback/staff/tickets/{code}", role="operator").json()
    # Events name the ticket by its public id, never by the secret tracking code.
    assert all(e["payload"]["code"] == staff["public_id"] for e in events)
    assert code not in str(events)
    assert "0912" not in str(events) and "Bình" not in str(events)
    assert staff["description"].endswith("<script>alert(1)</script>")
    assert staff["contact"]["phone"] == "0912 345 678"
    masked = stack.get(f"/api/feedback/staff/tickets/{code}", "officer", "ttphvhcc").json()
    assert masked["contact"]["phone"] == "09*******678"
    assert masked["contact"]["name"] == "N. V. B."


def test_personal_data_is_encrypted_at_rest(stack, fb_settings) -> None:
    from cryptography.fernet import Fernet
    from sqlalchemy import create_engine, text

    code = stack.submit(contact={"phone": "0987654321", "name": "Trần Thị Cúc"}).json()["code"]
    engine = create_engine(fb_settings.database_url("feedback"))
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT contact_enc, caller_hash FROM tickets WHERE code = :c"), {"c": code}
        ).one()
        dump = "\n".join(str(r) for r in conn.execute(text("SELECT * FROM tickets")))
    engine.dispose()
    assert "0987654321" not in dump and "Cúc" not in dump
    assert "0987654321" in Fernet(PII_KEY.encode()).decrypt(row.contact_enc.encode()).decode()


def test_unknown_category_and_bad_input_are_named(stack) -> None:
    resp = stack.submit(category="khong_co")
    assert resp.status_code == 422
    problem = resp.json()
    assert problem["errors"][0]["field"] == "category" and "thu_tuc" in problem["detail"]
    resp = stack.submit(description="")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "description"
    resp = stack.submit(contact={"phone": "1", "ssn": "x"})
    assert resp.status_code == 422 and "contact.ssn" in resp.text
    assert stack.get("/api/feedback/track/AAA-AAA-AAA").status_code == 404
    assert stack.get("/api/feedback/track/not-a-code").json()["errors"][0]["field"] == "code"


def test_attachments_are_stored_and_oversized_ones_refused(stack) -> None:
    small = base64.b64encode(b"\x89PNG" + b"0" * 100).decode()
    ok = stack.submit(
        attachments=[{"filename": "a.png", "content_type": "image/png", "data": small}]
    )
    assert ok.status_code == 201, ok.text
    staff = stack.get(f"/api/feedback/staff/tickets/{ok.json()['code']}", role="operator").json()
    assert staff["attachments"][0]["size"] == 104
    big = base64.b64encode(b"0" * 5000).decode()  # the test limit is 4096 bytes
    resp = stack.submit(
        attachments=[{"filename": "b.png", "content_type": "image/png", "data": big}]
    )
    assert resp.status_code == 413 and resp.json()["errors"][0]["field"] == "attachments.0.data"
    resp = stack.submit(
        attachments=[{"filename": "x.exe", "content_type": "application/x-msdos", "data": small}]
    )
    assert resp.status_code == 422


def test_portal_is_rate_limited_per_client(stack, fb_settings) -> None:
    from services.gateway.routes import feedback as routes

    routes.limiter._buckets.clear()
    original = fb_settings.feedback_portal_rate
    object.__setattr__(fb_settings, "feedback_portal_rate", "3/60")
    try:
        statuses = [stack.submit().status_code for _ in range(5)]
    finally:
        object.__setattr__(fb_settings, "feedback_portal_rate", original)
        routes.limiter._buckets.clear()
    assert statuses == [201, 201, 201, 429, 429]
