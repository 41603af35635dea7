"""Issue 13, finding 9: services trusted any actor arriving over RPC. Whoever reached RabbitMQ
(its default account is guest/guest) could call publishing's approve or feedback's staff
actions as {"role": "admin"}. Now the gateway signs the actor of each call (shared/actor.py) and
the services take the actor only from a valid signature made for that very call."""

from __future__ import annotations

import time
from typing import Any

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from shared.actor import CONTEXT_KEY, sign_actor
from shared.errors import Forbidden
from shared.runtime.config import nameko_config
from tests.security import _trust
from tests.security._trust import Stack

start_stack = _trust.start_stack  # the fixture

FORGED_ADMIN = {"sub": "intruder", "user": "admin", "role": "admin", "unit_id": None}
CATEGORY = {"name": "Giả mạo", "forward_days": 5, "answer_days": 15}


def raw_rpc(stack: Stack, context_data: dict[str, Any] | None = None) -> ClusterRpcProxy:
    """A plain nameko client of the broker: no gateway, no account, any arguments."""
    return ClusterRpcProxy(nameko_config(stack.settings), context_data=context_data, timeout=20)


def item_in_review(stack: Stack) -> str:
    editor = stack.headers("editor")
    item = stack.call("POST", "/api/publishing/items", editor,
                      json={"kind": "article", "title": "Lịch tiếp dân", "body": "<p>Thứ Hai</p>"})
    assert item.status_code == 201, item.text
    item_id = str(item.json()["id"])
    sent = stack.call("POST", f"/api/publishing/items/{item_id}/transitions", editor,
                      json={"action": "submit"})  # fmt: skip
    assert sent.status_code == 200, sent.text
    return item_id


def ticket(stack: Stack) -> str:
    resp = stack.call("POST", "/api/feedback/tickets", {}, json={
        "category": "thu_tuc", "description": "Hỏi về thủ tục cấp giấy phép xây dựng"})
    assert resp.status_code in (200, 201, 202), resp.text
    return str(resp.json()["code"])


def status_of(stack: Stack, item_id: str) -> str:
    resp = stack.call("GET", f"/api/publishing/items/{item_id}", stack.headers("viewer"))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["status"])


@pytest.fixture
def stack(start_stack: Any) -> Stack:
    return start_stack()  # type: ignore[no-any-return]


def test_a_forged_admin_over_the_broker_is_refused(stack: Stack) -> None:
    item_id = item_in_review(stack)
    code = ticket(stack)
    with raw_rpc(stack) as rpc:
        with pytest.raises(Forbidden, match="not signed"):
            rpc.publishing.transition(item_id, "approve", FORGED_ADMIN)
        with pytest.raises(Forbidden, match="not signed"):
            rpc.publishing.create_item({"kind": "article", "title": "x"}, FORGED_ADMIN)
        with pytest.raises(Forbidden, match="not signed"):
            rpc.feedback.put_category("gia_mao", CATEGORY, FORGED_ADMIN)
        with pytest.raises(Forbidden, match="not signed"):
            rpc.feedback.list_tickets({}, FORGED_ADMIN)
        with pytest.raises(Forbidden, match="not signed"):
            rpc.feedback.act(code, "start", {}, FORGED_ADMIN)
        # a citizen's call, whose actor is optional, still needs no signature
        assert rpc.feedback.lookup(code)["code"] == code
    assert status_of(stack, item_id) == "in_review"
    codes = [c["code"] for c in stack.call("GET", "/api/feedback/categories", {}).json()]
    assert "gia_mao" not in codes


def test_the_same_calls_through_the_gateway_work(stack: Stack) -> None:
    item_id = item_in_review(stack)
    approved = stack.call("POST", f"/api/publishing/items/{item_id}/transitions",
                          stack.headers("publisher"), json={"action": "approve"})  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    admin = stack.headers("admin")
    put = stack.call("PUT", "/api/feedback/categories/that_hop", admin, json=CATEGORY)
    assert put.status_code == 200, put.text
    listed = stack.call("GET", "/api/feedback/staff/tickets", admin)
    assert listed.status_code == 200, listed.text
    # the history names the account the gateway signed, not an argument
    history = stack.call("GET", f"/api/publishing/items/{item_id}", admin).json()
    assert [t["actor"] for t in history["history"] if t["action"] == "approve"] == [
        "test-publisher"
    ]


def signed(stack: Stack, service: str, method: str, args: list[Any], **kw: Any) -> dict[str, Any]:
    token = sign_actor(stack.settings.rpc_signing_key or "", FORGED_ADMIN, service, method,
                       args, {}, **kw)  # fmt: skip
    return {CONTEXT_KEY: token}


def test_expired_misdirected_or_forged_signatures_are_refused(stack: Stack) -> None:
    item_id = item_in_review(stack)
    other_id = item_in_review(stack)
    args = [item_id, "approve", FORGED_ADMIN]
    refused = {
        "expired": signed(stack, "publishing", "transition", args, now=time.time() - 120),
        "signed for": signed(stack, "publishing", "create_item", args),
        "other arguments": signed(stack, "publishing", "transition",
                                  [other_id, "approve", FORGED_ADMIN]),  # fmt: skip
        "does not match": {CONTEXT_KEY: sign_actor("not-the-key", FORGED_ADMIN, "publishing",
                                                   "transition", args, {})},  # fmt: skip
    }
    for why, context in refused.items():
        with raw_rpc(stack, context) as rpc, pytest.raises(Forbidden, match=why):
            rpc.publishing.transition(*args)
    assert status_of(stack, item_id) == "in_review"
    # an actor argument other than the signed one is refused too
    with raw_rpc(stack, signed(stack, "publishing", "transition", args)) as rpc:
        changed = [item_id, "approve", {**FORGED_ADMIN, "role": "publisher"}]
        with pytest.raises(Forbidden):
            rpc.publishing.transition(*changed)
    # the very same call with a valid signature goes through: the refusals were the signature's
    with raw_rpc(stack, signed(stack, "publishing", "transition", args)) as rpc:
        assert rpc.publishing.transition(*args)["status"] == "approved"
