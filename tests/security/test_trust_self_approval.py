"""Issue 13, low finding: a publisher could approve their own item. Approval is now a second
pair of eyes: whoever wrote the item (created, edited, corrected it or attached its document)
cannot approve it, unless LOA_PUB_ALLOW_SELF_APPROVAL=true (a one-person center). Two real
publisher accounts, through the gateway's API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security import _trust
from tests.security._trust import Stack

start_stack = _trust.start_stack  # the fixture

ITEM = {"kind": "article", "title": "Giờ làm việc ngày lễ", "body": "<p>Nghỉ Tết</p>"}


def act(stack: Stack, who: dict[str, str], item_id: str, action: str) -> Any:
    return stack.call("POST", f"/api/publishing/items/{item_id}/transitions", who,
                      json={"action": action})  # fmt: skip


def written_by(stack: Stack, who: dict[str, str]) -> str:
    made = stack.call("POST", "/api/publishing/items", who, json=ITEM)
    assert made.status_code == 201, made.text
    item_id = str(made.json()["id"])
    assert act(stack, who, item_id, "submit").status_code == 200
    return item_id


@pytest.fixture
def publishers(start_stack: Any) -> tuple[Stack, dict[str, str], dict[str, str]]:
    stack = start_stack(("publishing",))
    an, binh = stack.headers("publisher", "bien-tap-an"), stack.headers("publisher", "duyet-binh")
    return stack, an, binh


def test_a_publisher_cannot_approve_their_own_item(
    publishers: tuple[Stack, dict[str, str], dict[str, str]],
) -> None:
    stack, an, binh = publishers
    item_id = written_by(stack, an)
    own = act(stack, an, item_id, "approve")
    assert own.status_code == 403, own.text
    assert own.headers["Content-Type"].startswith("application/problem+json")
    assert "LOA_PUB_ALLOW_SELF_APPROVAL" in own.json()["detail"]
    other = act(stack, binh, item_id, "approve")
    assert other.status_code == 200, other.text
    history = stack.call("GET", f"/api/publishing/items/{item_id}", an).json()["history"]
    assert [t["actor"] for t in history if t["action"] == "approve"] == ["duyet-binh"]


def test_an_editor_of_the_item_cannot_approve_it_either(
    publishers: tuple[Stack, dict[str, str], dict[str, str]],
) -> None:
    stack, an, binh = publishers
    item_id = written_by(stack, stack.headers("editor"))
    edited = stack.call("PATCH", f"/api/publishing/items/{item_id}", binh,
                        json={**ITEM, "title": "Giờ làm việc ngày lễ (sửa)"})  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert act(stack, binh, item_id, "approve").status_code == 403
    assert act(stack, binh, item_id, "reject").status_code == 200  # sending it back is fine
    assert act(stack, stack.headers("editor"), item_id, "submit").status_code == 200
    assert act(stack, an, item_id, "approve").status_code == 200


def test_a_one_person_center_may_allow_it(
    start_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOA_PUB_ALLOW_SELF_APPROVAL", "true")
    stack = start_stack(("publishing",))
    an = stack.headers("publisher", "mot-minh-an")
    item_id = written_by(stack, an)
    approved = act(stack, an, item_id, "approve")
    assert approved.status_code == 200, approved.text
