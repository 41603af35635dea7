"""Issue 13, finding 8 (erasure): a privacy erasure anonymized descriptions and messages, but the
ticket's history notes (the citizen's reopen reason) stayed as written. Now every free-text field
of the covered tickets that can hold the citizen's words is anonymized and sealed again: history
notes, rating comment, answer, pending replies, Open311 attributes. Checked through the API (as
admin) and in the raw rows, decrypted with the vault.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import MetaData, create_engine

from services.feedback.domain.pii import Vault
from tests.feedback import conftest as feedback

# The feedback service + gateway stack of tests/feedback (real RabbitMQ, database, HTTP).
db_backend, fb_extra, fb_settings, platform, stack = (
    feedback.db_backend,
    feedback.fb_extra,
    feedback.fb_settings,
    feedback.platform,
    feedback.stack,
)

MARK = secrets.token_hex(5)
NAME = "Phạm Thị Hồng Nhung"
PHONE = "0934 561 278"
REASON = f"Tôi là {NAME}, gọi lại cho tôi số {PHONE}, vẫn chưa sửa xong {MARK}"
COMMENT = f"{NAME} không hài lòng, số {PHONE}"


def decrypted_rows(settings: Any, vault: Vault) -> str:
    """Every value of every feedback row, each sealed value opened with the vault."""
    engine = create_engine(settings.database_url("feedback"))
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                values = []
                for value in row:
                    if isinstance(value, str) and value.startswith("gAAAA"):
                        value = vault.open_text(value)
                    values.append(str(value))
                out.append(f"{table.name}: " + " ".join(values))
    engine.dispose()
    return "\n".join(out)


def test_erasure_covers_history_notes_and_rating_comments(stack, fb_settings) -> None:
    created = stack.submit(
        description=f"Đèn đường hỏng trước nhà {MARK}",
        contact={"name": NAME, "phone": PHONE},
    )
    assert created.status_code in (200, 201), created.text
    code = created.json()["code"]
    answered = stack.post(f"/api/feedback/staff/tickets/{code}/answer", role="admin",
                          json={"answer": "Đã báo điện lực thay bóng."})  # fmt: skip
    assert answered.status_code == 200, answered.text
    reopened = stack.post(f"/api/feedback/track/{code}/reopen", json={"reason": REASON})
    assert reopened.status_code == 200, reopened.text
    again = stack.post(f"/api/feedback/staff/tickets/{code}/answer", role="admin",
                       json={"answer": "Đã thay bóng đèn."})  # fmt: skip
    assert again.status_code == 200, again.text
    rated = stack.post(f"/api/feedback/track/{code}/rating", json={"score": 2, "comment": COMMENT})
    assert rated.status_code == 200, rated.text

    vault = Vault.from_settings(fb_settings)
    before = decrypted_rows(fb_settings, vault)
    assert REASON in before and COMMENT in before  # planted where the test looks

    filed = stack.post("/api/feedback/privacy/requests",
                       json={"kind": "delete", "code": code, "phone": PHONE})  # fmt: skip
    assert filed.status_code == 201, filed.text
    rid = filed.json()["request_id"]
    erased = stack.post(f"/api/feedback/privacy/requests/{rid}/erase", role="admin", json={})
    assert erased.status_code == 200, erased.text
    assert erased.json()["tickets_anonymized"] == 1

    view = stack.get(f"/api/feedback/staff/tickets/{code}", role="admin")
    assert view.status_code == 200, view.text
    assert view.json()["rating"] == 2  # the statistics stay
    api = view.text
    for planted in (NAME, "Hồng Nhung", PHONE, PHONE.replace(" ", "")):
        assert planted not in api, planted
    assert MARK in api  # anonymized, not emptied
    rows = decrypted_rows(fb_settings, vault)
    leaks = [line for line in rows.splitlines() if NAME in line or PHONE in line]
    assert not leaks, leaks
    assert "Hồng Nhung" not in rows and PHONE.replace(" ", "") not in rows
