"""Webhooks of the hotline 1022 call center, the Facebook page and the Zalo OA, posted exactly as
the platforms send them (signatures included); replies go to a local stand-in of their APIs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from tests.feedback.conftest import (
    FB_APP_SECRET,
    FB_VERIFY,
    HOTLINE_SECRET,
    ZALO_APP_ID,
    ZALO_OA_SECRET,
)


def hotline(stack, event: dict, ts: int | None = None, secret: str = HOTLINE_SECRET):  # type: ignore[no-untyped-def]
    body = json.dumps(event).encode()
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return stack.post(
        "/api/feedback/webhooks/hotline",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Loa-Timestamp": str(ts),
            "X-Loa-Signature": f"sha256={mac}",
        },
    )


def call_event(kind: str, call_id: str = "C-1001", caller: str = "0909123456") -> dict:
    return {
        "event": kind,
        "call_id": call_id,
        "caller": caller,
        "called": "1022",
        "direction": "inbound",
        "operator": "op7",
        "queue": "tthc",
    }


def test_hotline_call_becomes_one_ticket_and_shows_earlier_ones(stack) -> None:
    assert hotline(stack, call_event("call.new")).json()["earlier_tickets"] == []
    again = hotline(stack, call_event("call.new"))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert hotline(stack, call_event("call.answered")).status_code == 200
    live = stack.get("/api/feedback/calls/C-1001", role="operator").json()
    assert live["state"] == "answered" and live["operator"] == "op7"

    body = {
        "category": "phi_le_phi",
        "description": "Lệ phí trước bạ xe máy là bao nhiêu?",
        "name": "Lê Văn Tám",
    }
    first = stack.post("/api/feedback/calls/C-1001/ticket", role="operator", json=body)
    assert first.status_code == 201, first.text
    retry = stack.post("/api/feedback/calls/C-1001/ticket", role="operator", json=body)
    assert retry.status_code == 200 and retry.json()["code"] == first.json()["code"]
    listed = stack.get("/api/feedback/staff/tickets?channel=hotline", role="operator").json()
    assert len(listed) == 1

    # The same caller calls again: the operator sees the earlier ticket while the call is live.
    shown = hotline(stack, call_event("call.new", call_id="C-1002", caller="+84 909 123 456"))
    assert [t["code"] for t in shown.json()["earlier_tickets"]] == [first.json()["code"]]
    staff = stack.get(f"/api/feedback/staff/tickets/{first.json()['code']}", role="operator")
    assert staff.json()["contact"] == {"phone": "0909123456", "name": "Lê Văn Tám"}
    # Officers do not turn calls into tickets.
    denied = stack.post("/api/feedback/calls/C-1002/ticket", role="officer", json=body)
    assert denied.status_code == 403


def test_hotline_refuses_bad_signatures_and_replays(stack) -> None:
    bad = hotline(stack, call_event("call.new", "C-9"), secret="wrong")
    assert bad.status_code == 401
    old = hotline(stack, call_event("call.new", "C-9"), ts=int(time.time()) - 3600)
    assert old.status_code == 403 and "replay" in old.json()["detail"]
    unsigned = stack.post("/api/feedback/webhooks/hotline", json=call_event("call.new", "C-9"))
    assert unsigned.status_code == 401
    garbage = hotline(stack, {"event": "call.exploded", "call_id": "C-9"})
    assert garbage.status_code == 400 and garbage.json()["errors"][0]["field"] == "event"
    assert stack.get("/api/feedback/calls/C-9", role="operator").status_code == 404


def facebook_body(mid: str, psid: str, text: str) -> bytes:
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "PAGE1",
                    "time": int(time.time() * 1000),
                    "messaging": [
                        {
                            "sender": {"id": psid},
                            "recipient": {"id": "PAGE1"},
                            "timestamp": int(time.time() * 1000),
                            "message": {"mid": mid, "text": text},
                        }
                    ],
                }
            ],
        },
        ensure_ascii=False,
    ).encode()


def post_facebook(stack, body: bytes, secret: str = FB_APP_SECRET):  # type: ignore[no-untyped-def]
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return stack.post(
        "/api/feedback/webhooks/facebook",
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
    )


def test_facebook_message_to_ticket_and_reply_back_through_the_send_api(stack, platform) -> None:
    challenge = stack.get(
        "/api/feedback/webhooks/facebook",
        params={"hub.mode": "subscribe", "hub.verify_token": FB_VERIFY, "hub.challenge": "12345"},
    )
    assert challenge.status_code == 200 and challenge.text == "12345"
    assert (
        stack.get(
            "/api/feedback/webhooks/facebook",
            params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
        ).status_code
        == 403
    )

    body = facebook_body("m_1", "PSID-42", "Đường Lê Lợi có ổ gà lớn")
    resp = post_facebook(stack, body)
    assert resp.status_code == 200, resp.text
    (code,) = resp.json()["tickets"]
    assert post_facebook(stack, body).json()["tickets"] == []  # same delivery: no new ticket
    assert post_facebook(stack, body, secret="forged").status_code == 401

    # The unit asks for more; the citizen's next message continues the same ticket.
    op = "operator"
    stack.post(
        f"/api/feedback/staff/tickets/{code}/ask",
        role=op,
        json={"question": "Xin cho biết số nhà gần nhất?"},
    )
    more = post_facebook(stack, facebook_body("m_2", "PSID-42", "Gần số 12"))
    assert more.json()["tickets"] == [code]
    ticket = stack.get(f"/api/feedback/staff/tickets/{code}", role=op).json()
    assert ticket["status"] == "in_progress"
    assert [m["direction"] for m in ticket["messages"]] == ["out", "in"]
    stack.post(
        f"/api/feedback/staff/tickets/{code}/answer",
        role=op,
        json={"answer": "Đã chuyển Sở Giao thông sửa trong tuần."},
    )
    from nameko.standalone.rpc import ServiceRpcProxy

    from shared.runtime.config import nameko_config

    with ServiceRpcProxy("feedback", nameko_config(stack.settings)) as proxy:
        result = proxy.tick()
    assert result["replies"]["sent"] == 2
    sent = [r for r in platform.received if r["path"].startswith("/fb/me/messages")]
    assert sent[0]["body"]["recipient"] == {"id": "PSID-42"}
    assert "access_token" not in sent[0]["path"]  # never in the URL (it ends up in logs)
    assert sent[0]["headers"]["Authorization"] == "Bearer PAGE-TOKEN"
    assert "Sở Giao thông" in sent[1]["body"]["message"]["text"]


def test_reply_rate_limit_is_retried_later_and_permanent_errors_recorded(stack, platform) -> None:
    code = post_facebook(stack, facebook_body("m_9", "PSID-7", "Hỏi giờ làm việc")).json()[
        "tickets"
    ][0]
    platform.fail_next.append(
        (
            400,
            {
                "error": {
                    "message": "(#613) Calls to this api have exceeded the rate limit.",
                    "type": "OAuthException",
                    "code": 613,
                    "fbtrace_id": "x",
                }
            },
        )
    )
    stack.post(
        f"/api/feedback/staff/tickets/{code}/answer",
        role="operator",
        json={"answer": "Từ 7h30 đến 17h."},
    )
    from nameko.standalone.rpc import ServiceRpcProxy

    from shared.runtime.config import nameko_config

    with ServiceRpcProxy("feedback", nameko_config(stack.settings)) as proxy:
        assert proxy.tick()["replies"] == {"sent": 0, "retry": 1, "failed": 0}
    ticket = stack.get(f"/api/feedback/staff/tickets/{code}", role="operator").json()
    (note,) = ticket["notifications"]
    assert note["status"] == "pending" and "613" in note["last_error"]


def zalo_body(msg_id: str, user: str, text: str, ts_ms: int | None = None) -> bytes:
    ts_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
    return json.dumps(
        {
            "app_id": ZALO_APP_ID,
            "user_id_by_app": "U" + user,
            "event_name": "user_send_text",
            "timestamp": str(ts_ms),
            "sender": {"id": user},
            "recipient": {"id": "OA1"},
            "message": {"text": text, "msg_id": msg_id},
        },
        ensure_ascii=False,
    ).encode()


def post_zalo(stack, body: bytes, secret: str = ZALO_OA_SECRET):  # type: ignore[no-untyped-def]
    ts = json.loads(body)["timestamp"]
    mac = hashlib.sha256(ZALO_APP_ID.encode() + body + ts.encode() + secret.encode()).hexdigest()
    return stack.post(
        "/api/feedback/webhooks/zalo",
        data=body,
        headers={"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={mac}"},
    )


def test_zalo_message_signature_replay_and_reply(stack, platform) -> None:
    body = zalo_body("zmsg-1", "8765", "Xin hỏi hồ sơ đăng ký kết hôn cần gì?")
    first = post_zalo(stack, body)
    assert first.status_code == 200, first.text
    (code,) = first.json()["tickets"]
    assert post_zalo(stack, body).json() == {"tickets": [], "duplicate": True}
    assert post_zalo(stack, body, secret="wrong").status_code == 401
    stale = zalo_body("zmsg-2", "8765", "cũ", ts_ms=int(time.time() * 1000) - 3_600_000)
    assert post_zalo(stack, stale).status_code == 403
    stack.post(
        f"/api/feedback/staff/tickets/{code}/answer",
        role="operator",
        json={"answer": "Cần tờ khai và giấy tờ tùy thân."},
    )
    from nameko.standalone.rpc import ServiceRpcProxy

    from shared.runtime.config import nameko_config

    with ServiceRpcProxy("feedback", nameko_config(stack.settings)) as proxy:
        assert proxy.tick()["replies"]["sent"] == 1
    (sent,) = [r for r in platform.received if r["path"] == "/zalo/v3.0/oa/message/cs"]
    assert sent["headers"]["access_token"] == "ZALO-TOKEN"
    assert sent["body"]["recipient"] == {"user_id": "8765"}
