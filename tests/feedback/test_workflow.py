"""Handling through the staff API: routing, reassigning, forwarding, units that change, answers,
publication, closing, rating, reopening, merging; refused moves say why."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_until
from tests.feedback.conftest import drain, feedback_events

ADMIN = "admin"


def setup_units(stack: Any) -> None:
    for unit, name in (
        ("so-tp", "Sở Tư pháp"),
        ("so-gtvt", "Sở Giao thông vận tải"),
        ("ubnd-tdm", "UBND TP Thủ Dầu Một"),
        ("ubnd-phuong", "UBND phường Phú Lợi"),
    ):
        assert stack.put(f"/api/feedback/units/{unit}", role=ADMIN, json={"name": name}).ok
    for rule in (
        {"category": "thu_tuc", "unit_id": "so-tp"},
        {"category": "kien_nghi", "unit_id": "so-gtvt", "keyword": "đường", "priority": 10},
        {"category": "kien_nghi", "unit_id": "ubnd-tdm", "priority": 50},
    ):
        assert stack.post("/api/feedback/rules", role=ADMIN, json=rule).status_code == 201


def act(
    stack: Any, code: str, action: str, role: str = "operator", unit: str | None = None, **body: Any
) -> Any:
    return stack.post(
        f"/api/feedback/staff/tickets/{code}/{action}", role=role, unit=unit, json=body
    )


def public_id(stack: Any, code: str) -> str:
    """A ticket's public id (what officers, lists and events know it by) from its code."""
    return str(stack.get(f"/api/feedback/staff/tickets/{code}", role=ADMIN).json()["public_id"])


def test_routing_reassign_forward_and_permissions(stack) -> None:
    setup_units(stack)
    code = stack.submit(category="thu_tuc").json()["code"]
    road = stack.submit(category="kien_nghi", description="Đề nghị sửa ĐƯỜNG Hùng Vương").json()
    other = stack.submit(category="kien_nghi", description="Kiến nghị thêm cây xanh").json()

    def unit_of(c: str) -> str:
        return stack.get(f"/api/feedback/staff/tickets/{c}", role=ADMIN).json()["unit_id"]

    assert unit_of(code) == "so-tp"
    assert unit_of(road["code"]) == "so-gtvt"  # keyword rule, diacritics and case folded
    assert unit_of(other["code"]) == "ubnd-tdm"

    # An officer of another unit can neither see nor forward it.
    assert (
        stack.get(f"/api/feedback/staff/tickets/{code}", role="officer", unit="so-gtvt").status_code
        == 403
    )
    # Forwarding needs a reason.
    resp = act(stack, code, "forward", "officer", "so-tp", unit_id="ubnd-tdm")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "reason"
    resp = act(
        stack,
        code,
        "forward",
        "officer",
        "so-tp",
        unit_id="ubnd-tdm",
        reason="Thuộc thẩm quyền cấp huyện",
    )
    assert resp.status_code == 200 and resp.json()["unit_id"] == "ubnd-tdm"
    mine = stack.get("/api/feedback/staff/tickets", role="officer", unit="ubnd-tdm").json()
    assert {t["public_id"] for t in mine} == {
        public_id(stack, code),
        public_id(stack, other["code"]),
    }
    assert all("code" not in t for t in mine)  # officers never hold the tracking codes
    # Officers do not reassign; operators do.
    assert act(stack, code, "assign", "officer", "ubnd-tdm", unit_id="so-tp").status_code == 403
    assert act(stack, code, "assign", unit_id="so-tp").json()["unit_id"] == "so-tp"
    history = stack.get(f"/api/feedback/staff/tickets/{code}", role=ADMIN).json()["history"]
    assert [h["action"] for h in history] == ["received", "assigned", "forwarded", "assigned"]
    assert history[2]["note"] == "Thuộc thẩm quyền cấp huyện"
    # A move the workflow does not allow is refused with the reason.
    resp = act(stack, code, "close")
    assert resp.status_code == 409 and "assigned to closed" in resp.json()["detail"]
    assert act(stack, code, "fly").status_code == 400


def test_dissolved_unit_hands_open_tickets_to_its_successor(stack) -> None:
    setup_units(stack)
    dated = stack.put(
        "/api/feedback/units/phuong-moi",
        role=ADMIN,
        json={"name": "Phường mới", "valid_from": "2025-07-01"},
    )
    assert dated.status_code == 200 and dated.json()["valid_from"] == "2025-07-01", dated.text
    bad = stack.put(
        "/api/feedback/units/phuong-moi", role=ADMIN, json={"name": "x", "valid_from": "1/7/25"}
    )
    assert bad.status_code == 422 and "valid_from" in bad.text, bad.text
    first = stack.submit(category="kien_nghi", description="Cây đổ").json()["code"]
    done = stack.submit(category="kien_nghi", description="Đèn hỏng").json()["code"]
    act(stack, done, "answer", answer="Đã sửa")
    # July 2025: districts are gone; Thủ Dầu Một's work goes to the ward.
    resp = stack.post(
        "/api/feedback/units/ubnd-tdm/dissolve",
        role=ADMIN,
        json={"valid_to": "2025-07-01", "successor_id": "ubnd-phuong"},
    )
    assert resp.json() == {"unit_id": "ubnd-tdm", "moved_tickets": 1}
    unit = stack.get(f"/api/feedback/staff/tickets/{first}", role=ADMIN).json()["unit_id"]
    assert unit == "ubnd-phuong"
    answered = stack.get(f"/api/feedback/staff/tickets/{done}", role=ADMIN).json()
    assert answered["unit_id"] == "ubnd-tdm"  # closed work stays where it was done
    # The old rule now routes to the successor.
    new = stack.submit(category="kien_nghi", description="Vỉa hè lấn chiếm").json()["code"]
    assert stack.get(f"/api/feedback/staff/tickets/{new}", role=ADMIN).json()["unit_id"] == (
        "ubnd-phuong"
    )


def test_answer_publish_close_rate_reopen(stack, fb_settings) -> None:
    queue = feedback_events(fb_settings)
    code = stack.submit(
        description="Tôi là Nguyễn Văn Bình, số 0912345678, hỏi thủ tục đăng ký khai sinh",
        contact={"name": "Nguyễn Văn Bình", "phone": "0912345678"},
        is_public=True,
    ).json()["code"]
    assert stack.post(f"/api/feedback/track/{code}/rating", json={"score": 5}).status_code == 409
    act(stack, code, "start")
    answer = "Chào anh Bình, hồ sơ gồm tờ khai và giấy chứng sinh."
    assert act(stack, code, "answer", answer=answer).json()["status"] == "answered"
    published = act(stack, code, "publish", role="admin").json()
    assert "0912345678" not in published["question"] and "Nguyễn" not in published["question"]
    assert "Bình" not in published["answer"]
    public = stack.get(f"/api/feedback/track/{code}").json()
    assert public["answer"] == published["answer"] and public["status"] == "answered"

    assert act(stack, code, "close").json()["status"] == "closed"
    rated = stack.post(f"/api/feedback/track/{code}/rating", json={"score": 4, "comment": "ok"})
    assert rated.status_code == 200 and rated.json()["rating"] == 4
    assert stack.post(f"/api/feedback/track/{code}/rating", json={"score": 5}).status_code == 409
    assert stack.post(f"/api/feedback/track/{code}/rating", json={"score": 9}).status_code == 422
    reopened = stack.post(f"/api/feedback/track/{code}/reopen", json={"reason": "Chưa rõ"})
    assert reopened.json()["status"] == "reopened"

    def types() -> list[str]:
        seen.extend(drain(fb_settings, queue))
        return [e["type"] for e in seen]

    seen: list[dict[str, Any]] = []
    wanted = [
        "feedback.ticket_received",
        "feedback.ticket_assigned",
        "feedback.ticket_answered",
        "feedback.answer_published",
        "feedback.ticket_closed",
        "feedback.ticket_rated",
        "feedback.ticket_reopened",
    ]
    wait_until(lambda: types() == wanted, what="the ticket's events in order")
    assert "0912345678" not in str(seen) and "Nguyễn Văn Bình" not in str(seen)

    private = stack.submit(is_public=False).json()["code"]
    act(stack, private, "answer", answer="Trả lời riêng")
    resp = act(stack, private, "publish", role="admin")
    assert resp.status_code == 409 and resp.json()["errors"][0]["field"] == "is_public"
    assert stack.get(f"/api/feedback/track/{private}").json()["answer"] is None


def test_duplicates_are_suggested_and_merge_can_be_undone(stack) -> None:
    a = stack.submit(
        description="Ổ gà lớn trên đường Lê Lợi gần chợ", contact={"phone": "0909000111"}
    ).json()["code"]
    b = stack.submit(description="Đường Lê Lợi gần chợ có ổ gà lớn nguy hiểm").json()["code"]
    c = stack.submit(description="Hỏi lệ phí hộ chiếu", contact={"phone": "+84909000111"}).json()[
        "code"
    ]
    stack.submit(description="Cấp giấy phép kinh doanh mất bao lâu")
    found = act(stack, a, "duplicates").json()
    assert [d["public_id"] for d in found] == [public_id(stack, c), public_id(stack, b)]
    assert found[0]["same_caller"] and found[1]["similarity"] > 0.35

    merged = act(stack, b, "merge", into=a).json()
    assert merged["status"] == "merged"
    assert stack.get(f"/api/feedback/track/{b}").json()["merged_into"] == public_id(stack, a)
    assert act(stack, b, "answer", answer="x").status_code == 409
    assert act(stack, a, "merge", into=a).status_code == 422
    assert act(stack, b, "unmerge").json()["status"] == "assigned"
    assert act(stack, b, "unmerge").status_code == 409
