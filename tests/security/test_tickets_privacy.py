"""Issue 13, finding 8: privacy requests could be made for someone else.

A request covered every ticket with the same phone hash, and a portal phone is never verified:
file a ticket with the victim's number, then ask for export or erasure of all their tickets. Now
a request covers the tickets whose secret codes were presented; a request for all tickets of a
phone waits for staff (operator or admin) to record an identity check.
"""

from __future__ import annotations

from typing import Any

from tests.security._feedback import *  # noqa: F403 - the stack's fixtures

VICTIM_PHONE = "0918 765 432"
VICTIM_TEXT = "Chị Mai hỏi về thủ tục ly hôn, xin giữ kín; liên hệ sau 18 giờ."


def request(stack: Any, **body: Any) -> Any:
    return stack.post("/api/feedback/privacy/requests", json=body)


def handle(stack: Any, rid: str, action: str, role: str = "admin", **body: Any) -> Any:
    return stack.post(f"/api/feedback/privacy/requests/{rid}/{action}", role=role, json=body)


def test_a_request_covers_only_the_presented_tickets(stack) -> None:
    victim = stack.submit(description=VICTIM_TEXT, contact={"phone": VICTIM_PHONE}).json()
    # The attacker files a ticket giving the victim's phone number, so holds its code.
    bait = stack.submit(
        description="Hỏi giờ làm việc của trung tâm", contact={"phone": "0918765432"}
    ).json()

    access = request(stack, kind="access", code=bait["code"], phone=VICTIM_PHONE)
    assert access.status_code == 201, access.text
    rid = access.json()["request_id"]
    exported = handle(stack, rid, "export")
    assert exported.status_code == 200, exported.text
    assert [t["code"] for t in exported.json()["tickets"]] == [bait["code"]]
    assert VICTIM_TEXT not in exported.text

    delete = request(stack, kind="delete", code=bait["code"], phone=VICTIM_PHONE).json()
    erased = handle(stack, delete["request_id"], "erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["tickets_anonymized"] == 1
    kept = stack.get(f"/api/feedback/staff/tickets/{victim['code']}", role="admin").json()
    assert kept["description"] == VICTIM_TEXT
    assert kept["contact"] == {"phone": VICTIM_PHONE}
    assert stack.get(f"/api/feedback/track/{victim['code']}").status_code == 200


def test_all_tickets_of_a_phone_wait_for_an_identity_check(stack) -> None:
    victim = stack.submit(description=VICTIM_TEXT, contact={"phone": VICTIM_PHONE}).json()
    bait = stack.submit(description="Hỏi lệ phí", contact={"phone": VICTIM_PHONE}).json()
    wide = request(stack, kind="delete", code=bait["code"], phone=VICTIM_PHONE, scope="phone")
    assert wide.status_code == 201, wide.text
    rid = wide.json()["request_id"]
    assert wide.json()["identity_check_needed"] is True

    refused = handle(stack, rid, "erase")
    assert refused.status_code == 409, refused.text
    assert "identity" in refused.json()["detail"]
    kept = stack.get(f"/api/feedback/staff/tickets/{victim['code']}", role="admin").json()
    assert kept["description"] == VICTIM_TEXT and kept["contact"]
    # Only staff record the check; a viewer or officer cannot.
    assert handle(stack, rid, "verify", role="viewer", note="x").status_code == 403
    assert handle(stack, rid, "verify", role="officer", note="x").status_code == 403
    assert handle(stack, rid, "verify", role="operator").status_code == 422  # how was it checked
    checked = handle(stack, rid, "verify", role="operator", note="CCCD seen at the counter")
    assert checked.status_code == 200, checked.text
    assert checked.json()["identity_checked_by"] and checked.json()["identity_checked_at"]

    erased = handle(stack, rid, "erase")
    assert erased.status_code == 200, erased.text
    assert erased.json()["tickets_anonymized"] == 2
    gone = stack.get(f"/api/feedback/staff/tickets/{victim['code']}", role="admin").json()
    assert gone["contact"] == {}
