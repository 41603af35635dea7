"""Issue 13, finding 7: every role read every citizen's free text.

Each role (admin, operator, officer of the handling unit, officer of another unit, viewer) with a
real bearer token against each read and action of the staff desk: officers only within their
unit (list, detail, duplicates, merge with its target, unmerge, every action); viewers no ticket
content (reports only); lists carry no description and a title with phones, e-mails, ID numbers and
street addresses redacted; each read of a ticket's personal data is in the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.feedback.domain.tickets import Actor
from shared.errors import Forbidden
from tests.security._feedback import *  # noqa: F403 - the stack's fixtures

UNIT_A, UNIT_B = "so-gtvt", "so-tp"
PERSONAL = (
    "Ông Lâm Văn Tư, CCCD 074088001234, ĐT 0903 112 233, thư tu.lam@example.vn, nhà số 15 "
    "đường Bạch Đằng: ổ gà lớn trên đường Bạch Đằng trước chợ, xe máy té liên tục."
)
SECRETS = ("074088001234", "0903 112 233", "tu.lam@example.vn", "số 15 đường Bạch Đằng")
ACTIONS = ("start", "ask", "resume", "answer", "forward", "close", "publish", "duplicates")


def setup(stack: Any) -> dict[str, dict[str, Any]]:
    for unit, name in ((UNIT_A, "Sở Giao thông vận tải"), (UNIT_B, "Sở Tư pháp")):
        assert stack.put(f"/api/feedback/units/{unit}", role="admin", json={"name": name}).ok
    out: dict[str, dict[str, Any]] = {}
    for key, unit, text in (
        ("a1", UNIT_A, PERSONAL),
        ("a2", UNIT_A, "Ổ gà lớn trên đường Bạch Đằng trước chợ, xe máy té liên tục, xin sửa."),
        ("b1", UNIT_B, "Ổ gà lớn trên đường Bạch Đằng trước chợ, xe máy té liên tục, xin sửa gấp."),
    ):
        made = stack.submit(
            category="kien_nghi",
            title=text[:200],
            description=text,
            contact={"phone": "0903112233"},
        )
        assert made.status_code == 201, made.text
        code = made.json()["code"]
        resp = stack.post(
            f"/api/feedback/staff/tickets/{code}/assign", role="admin", json={"unit_id": unit}
        )
        assert resp.status_code == 200, resp.text
        out[key] = resp.json()
    return out


def act(stack: Any, ref: str, action: str, role: str, unit: str | None = None, **body: Any) -> Any:
    path = f"/api/feedback/staff/tickets/{ref}/{action}"
    return stack.post(path, role=role, unit=unit, json=body)


def test_viewer_reads_no_ticket_content_only_reports(stack) -> None:
    t = setup(stack)
    a1 = t["a1"]["id"]
    assert stack.get("/api/feedback/staff/tickets", role="viewer").status_code == 403
    assert stack.get(f"/api/feedback/staff/tickets/{a1}", role="viewer").status_code == 403
    for action in ACTIONS:
        assert act(stack, a1, action, "viewer").status_code == 403, action
    month = str(t["a1"]["created_at"])[:7]
    report = stack.get(f"/api/feedback/reports/{month}", role="viewer")
    assert report.status_code == 200 and sum(r["received"] for r in report.json()) == 3
    assert not any(s in report.text for s in SECRETS)
    with pytest.raises(Forbidden):
        Actor.of({"role": "supervisor", "sub": "x"})  # never issued by the gateway


def test_officers_only_within_their_unit(stack) -> None:
    t = setup(stack)
    a1, a2, b1 = (t[k]["id"] for k in ("a1", "a2", "b1"))

    listed = stack.get("/api/feedback/staff/tickets", role="officer", unit=UNIT_A).json()
    assert {r["id"] for r in listed} == {a1, a2}
    other_unit = stack.get(f"/api/feedback/staff/tickets?unit_id={UNIT_B}", "officer", UNIT_A)
    assert other_unit.status_code == 403
    assert stack.get(f"/api/feedback/staff/tickets/{b1}", "officer", UNIT_A).status_code == 403
    mine = stack.get(f"/api/feedback/staff/tickets/{a1}", role="officer", unit=UNIT_A)
    assert mine.status_code == 200 and mine.json()["description"] == PERSONAL  # the handler
    # Officers never hold the secret tracking code (they could rate their own answers).
    assert "code" not in mine.json() and all("code" not in r for r in listed)

    # Duplicates: another unit's ticket is neither asked about nor shown.
    assert act(stack, b1, "duplicates", "officer", UNIT_A).status_code == 403
    dups = act(stack, a1, "duplicates", "officer", UNIT_A)
    assert dups.status_code == 200, dups.text
    assert {d["ticket_id"] for d in dups.json()} == {a2}
    every = act(stack, a1, "duplicates", "operator").json()
    assert {d["ticket_id"] for d in every} == {a2, b1}

    # Merge: not into another unit's ticket, not another unit's ticket; unmerge likewise.
    assert act(stack, a1, "merge", "officer", UNIT_A, into=b1).status_code == 403
    assert act(stack, b1, "merge", "officer", UNIT_A, into=a1).status_code == 403
    assert act(stack, a2, "merge", "officer", UNIT_A, into=a1).status_code == 200
    assert act(stack, a2, "unmerge", "officer", UNIT_B).status_code == 403
    assert act(stack, a2, "unmerge", "officer", UNIT_A).status_code == 200

    # Every other action on another unit's ticket.
    for action in ACTIONS:
        body = {"question": "?", "answer": "!", "unit_id": UNIT_A, "reason": "r", "note": "n"}
        resp = act(stack, b1, action, "officer", UNIT_A, **body)
        assert resp.status_code == 403, (action, resp.text)
    assert act(stack, b1, "assign", "officer", UNIT_B, unit_id=UNIT_A).status_code == 403


def test_lists_redact_and_reads_are_audited(stack) -> None:
    t = setup(stack)
    a1 = t["a1"]["id"]
    for role, unit in (("admin", None), ("operator", None), ("officer", UNIT_A)):
        listed = stack.get("/api/feedback/staff/tickets", role=role, unit=unit)
        assert listed.status_code == 200
        assert not any(s in listed.text for s in SECRETS), role
        row = next(r for r in listed.json() if r["id"] == a1)
        assert "description" not in row and "Bạch Đằng" in row["title"]

    detail = stack.get(f"/api/feedback/staff/tickets/{a1}", role="operator")
    assert detail.status_code == 200 and detail.json()["description"] == PERSONAL
    assert detail.json()["contact"] == {"phone": "0903112233"}
    stack.get(f"/api/feedback/staff/tickets/{a1}", role="officer", unit=UNIT_A)
    audit = stack.get(
        "/api/admin/audit", role="admin", params={"action": "feedback.ticket_read", "target": a1}
    )
    assert audit.status_code == 200, audit.text
    who = {e["actor"] for e in audit.json()["items"]}
    assert {"test-operator", f"test-officer-{UNIT_A}"} <= who
    assert all(e["at"] for e in audit.json()["items"])
    listed = stack.get(
        "/api/admin/audit", role="admin", params={"action": "feedback.tickets_listed"}
    ).json()["items"]
    assert any(a1 in (e["detail"] or {}).get("tickets", []) for e in listed)


ROLES = (
    ("admin", None),
    ("operator", None),
    ("officer", UNIT_A),  # the handling unit's officer
    ("officer", UNIT_B),  # another unit's officer
    ("viewer", None),
    ("editor", None),
    ("publisher", None),
)
HANDLERS = {("admin", None), ("operator", None), ("officer", UNIT_A)}
MAY = {
    "list": HANDLERS | {("officer", UNIT_B)},  # their own unit's list, without this ticket
    "detail": HANDLERS,
    "report": HANDLERS | {("officer", UNIT_B), ("viewer", None)},
    "assign": {("admin", None), ("operator", None)},
    "publish": {("admin", None), ("officer", UNIT_A)},
}
# In this order: none of them moves the ticket out of unit A before the last (forward).
ORDER = ("duplicates", "start", "ask", "resume", "answer", "publish", "close", "merge", "unmerge")


def test_each_role_on_each_read_and_action(stack) -> None:
    """Authorization comes before any state check, so each call is either refused (403) or
    not, whatever state the earlier calls left the ticket in."""
    setup(stack)
    body = {
        "unit_id": UNIT_B,
        "reason": "không thuộc thẩm quyền",
        "question": "Xin bổ sung giấy tờ",
        "answer": "Đã xử lý",
        "note": "n",
    }
    seen: dict[tuple[str, str | None, str], int] = {}
    for role, unit in ROLES:
        pair = []
        for text in ("Ổ gà trên đường Bạch Đằng", "Ổ gà lớn trên đường Bạch Đằng trước chợ"):
            made = stack.submit(category="kien_nghi", description=text, is_public=True).json()
            moved = act(stack, made["code"], "assign", "admin", unit_id=UNIT_A)
            pair.append(moved.json()["id"])
        ticket, twin = pair
        seen[role, unit, "list"] = stack.get("/api/feedback/staff/tickets", role, unit).status_code
        seen[role, unit, "detail"] = stack.get(
            f"/api/feedback/staff/tickets/{ticket}", role, unit
        ).status_code
        month = datetime.now(UTC).strftime("%Y-%m")
        seen[role, unit, "report"] = stack.get(
            f"/api/feedback/reports/{month}", role, unit
        ).status_code
        for action in (*ORDER, "assign", "forward"):
            resp = act(stack, ticket, action, role, unit, into=twin, **body)
            seen[role, unit, action] = resp.status_code
    for (role, unit, what), status in seen.items():
        allowed = (role, unit) in MAY.get(what, HANDLERS)
        assert (status != 403) == allowed, (role, unit, what, status)
        assert status < 500, (role, unit, what, status)
