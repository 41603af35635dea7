"""Citizens' requests to see or delete their personal data (Law 91/2025, Decree 356/2025):
verified by tracking code and contact, recorded with the 2-working-day acknowledgement deadline,
answered by an export or by erasing and anonymizing while the statistics stay."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from services.feedback.domain import privacy
from services.feedback.domain.tickets import Actor, Intake
from services.feedback.models import data_requests
from tests.feedback.test_deadlines import desk  # noqa: F401 - the domain fixture

ADMIN = Actor("dpo", "admin")


def test_acknowledgement_deadline_counts_working_days_across_tet(desk) -> None:  # noqa: F811
    db, d, clock = desk
    with db.session() as s:
        t = d.submit(
            s,
            Intake(
                channel="portal",
                category="thu_tuc",
                description="Hỏi thủ tục",
                contact={"phone": "0912 345 678"},
            ),
        )
    # Friday 13 February 2026, the last working day before Tết (16–20 February): two working
    # days later is Tuesday 24 February, end of day in Hồ Chí Minh City.
    clock.now = datetime(2026, 2, 13, 3, 0, tzinfo=UTC)
    with db.session() as s:
        req = privacy.file_request(d, s, "access", t["code"], phone="+84 912345678")
    assert req["ack_deadline_at"] == datetime(2026, 2, 24, 16, 59, 59, tzinfo=UTC)
    with db.session() as s:
        stored = s.execute(select(data_requests)).one()
        assert stored.status == "received" and stored.ticket_id == t["id"]
        assert "0912" not in str(stored.contact_enc) and "912345678" not in str(stored)
    clock.now = datetime(2026, 2, 25, 2, 0, tzinfo=UTC)
    with db.session() as s:
        (late,) = privacy.list_requests(d, s, ADMIN)
        assert late["ack_overdue"] is True
        with pytest.raises(Exception, match="role"):
            privacy.list_requests(d, s, Actor("v", "viewer"))
        privacy.acknowledge(d, s, late["id"], ADMIN)
        (done,) = privacy.list_requests(d, s, ADMIN)
        assert done["ack_overdue"] is False and done["status"] == "acknowledged"


def post_request(stack: Any, **body: Any) -> Any:
    return stack.post("/api/feedback/privacy/requests", json=body)


def admin(stack: Any, path: str, **body: Any) -> Any:
    return stack.post(path, role="admin", json=body) if body else stack.post(path, role="admin")


@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)
def test_access_export_and_erasure_keep_statistics(stack, fb_settings) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 100).decode()
    contact = {"name": "Nguyễn Văn Bình", "phone": "0912345678", "email": "binh@example.vn"}
    first = stack.submit(
        description="Tôi là Nguyễn Văn Bình, số 0912345678, hỏi về cấp phép xây dựng",
        contact=contact,
        attachments=[{"filename": "giay-to.png", "content_type": "image/png", "data": png}],
    ).json()["code"]
    second = stack.submit(
        description="Anh Bình hỏi thêm về lệ phí", contact={"phone": "0912 345 678"}
    ).json()["code"]
    other = stack.submit(
        description="Người khác hỏi về hộ tịch", contact={"phone": "0987000111"}
    ).json()["code"]

    # Wrong contact and unknown code get the same answer; nothing is recorded.
    wrong = post_request(stack, kind="access", code=first, phone="0987000111")
    unknown = post_request(stack, kind="access", code="AAA-AAA-AAA", phone="0912345678")
    assert wrong.status_code == 404 and unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert post_request(stack, kind="sell", code=first, phone="0912345678").status_code == 422
    # Every code presented must carry the contact given (the second ticket has no e-mail).
    mixed = post_request(stack, kind="access", code=first, codes=[second], email="BINH@example.vn")
    assert mixed.status_code == 404 and mixed.json()["detail"] == wrong.json()["detail"]

    access = post_request(stack, kind="access", code=first, codes=[second], phone="+84912345678")
    assert access.status_code == 201, access.text
    assert access.json()["status"] == "received" and access.json()["ack_deadline_at"]
    listed = stack.get("/api/feedback/privacy/requests?open=1", role="admin").json()
    assert [r["id"] for r in listed] == [access.json()["request_id"]]
    assert "contact_enc" not in listed[0] and "subject_hash" not in listed[0]
    assert stack.get("/api/feedback/privacy/requests", role="officer").status_code == 403

    rid = access.json()["request_id"]
    assert admin(stack, f"/api/feedback/privacy/requests/{rid}/acknowledge").status_code == 200
    exported = admin(stack, f"/api/feedback/privacy/requests/{rid}/export")
    assert exported.status_code == 200, exported.text
    codes = {t["code"]: t for t in exported.json()["tickets"]}
    assert set(codes) == {first, second}  # the codes presented; not the other citizen's ticket
    assert codes[first]["contact"]["email"] == "binh@example.vn"
    assert codes[first]["attachments"][0]["filename"] == "giay-to.png"
    again = admin(stack, f"/api/feedback/privacy/requests/{rid}/export")
    assert again.status_code == 409

    report_before = stack.get(f"/api/feedback/reports/{month_now()}", role="admin").json()
    delete = post_request(
        stack, kind="delete", code=second, codes=[first], phone="0912345678"
    ).json()
    erase_on_access = admin(stack, f"/api/feedback/privacy/requests/{rid}/erase")
    assert erase_on_access.status_code == 409
    erased = admin(stack, f"/api/feedback/privacy/requests/{delete['request_id']}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["tickets_anonymized"] == 2
    assert erased.json()["attachments_deleted"] == 1

    for code in (first, second):
        view = stack.get(f"/api/feedback/staff/tickets/{code}", role="admin").json()
        assert view["contact"] == {}
        assert view["attachments"] == []
        text = str(view)
        for secret in ("0912345678", "Nguyễn Văn Bình", "binh@example", "Anh Bình"):
            assert secret not in text
        assert view["category"] == "thu_tuc" and view["status"] in ("assigned", "received")
        assert view["history"][-1]["action"] == "personal_data_erased"
    kept = stack.get(f"/api/feedback/staff/tickets/{other}", role="admin").json()
    assert kept["contact"] == {"phone": "0987000111"}
    # The statistics do not change; the erased tickets can no longer be claimed by phone.
    assert stack.get(f"/api/feedback/reports/{month_now()}", role="admin").json() == report_before
    assert post_request(stack, kind="access", code=first, phone="0912345678").status_code == 404
    done = stack.get("/api/feedback/privacy/requests", role="admin").json()
    assert {r["status"] for r in done} == {"completed"}
    assert all(r["tickets_affected"] == 2 for r in done)


def month_now() -> str:
    from services.feedback.domain.workdays import TZ

    return datetime.now(TZ).strftime("%Y-%m")
