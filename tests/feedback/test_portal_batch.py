"""Portal submissions arriving together go to feedback in batches (one RPC, one transaction),
and each request still gets its own answer: a code, or its own problem details. A retried or
double-clicked submission with the same Idempotency-Key gives one ticket."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import wait_until
from tests.feedback.conftest import drain, feedback_events


def post_all(stack: Any, bodies: list[tuple[dict[str, Any], dict[str, str]]]) -> list[Any]:
    """Post every body at the same moment, each from its own thread and connection."""
    import requests

    results: list[Any] = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def one(i: int) -> None:
        body, headers = bodies[i]
        start.wait()
        results[i] = requests.post(
            stack.url("/api/feedback/tickets"), json=body, headers=headers, timeout=30
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_submissions_are_batched_with_answers_per_item(stack, fb_settings) -> None:
    from services.gateway.routes.feedback import PORTAL_BATCH

    queue = feedback_events(fb_settings)
    good = {"category": "thu_tuc", "description": "Hỏi thủ tục", "contact": {"phone": "0912"}}
    twice = {"category": "khac", "description": "Bấm gửi hai lần", "is_public": True}
    bodies: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({**good, "description": f"Hỏi thủ tục số {i}"}, {}) for i in range(24)
    ]
    bodies += [
        ({**good, "category": "khong_co"}, {}),
        ({**good, "contact": {"email": "not-an-address"}}, {}),
        ({**good, "description": "   "}, {}),
        (twice, {"Idempotency-Key": "click-1"}),
        (twice, {"Idempotency-Key": "click-1"}),
    ]
    batches_before, items_before = PORTAL_BATCH.batches, PORTAL_BATCH.items
    resp = post_all(stack, bodies)

    for r in resp[:24]:
        assert r.status_code == 201, r.text
    codes = [r.json()["code"] for r in resp[:24]]
    assert len(set(codes)) == 24
    bad_category, bad_email, blank = resp[24:27]
    assert bad_category.status_code == 422
    assert bad_category.json()["errors"][0]["field"] == "category"
    assert "thu_tuc" in bad_category.json()["detail"]
    assert bad_email.status_code == 422
    assert bad_email.json()["errors"][0]["field"] == "contact.email"
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "description"
    assert resp[27].status_code == resp[28].status_code == 201
    assert resp[27].json()["code"] == resp[28].json()["code"]  # one ticket for the double click

    # Fewer calls than requests: they rode together (this test's process runs the gateway).
    sent = PORTAL_BATCH.items - items_before
    assert sent == len(bodies) - 1 or sent == len(bodies)  # the blank one may stop at pydantic
    assert PORTAL_BATCH.batches - batches_before < sent

    engine = create_engine(fb_settings.database_url("feedback"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, public_id FROM tickets")).all()
    engine.dispose()
    assert set(codes) | {resp[27].json()["code"]} == {r[0] for r in rows}
    stored = {r[1] for r in rows}  # events name tickets by their public id

    # Every stored ticket's events reach the bus (the batch's outbox rows, one relay batch).
    seen: set[str] = set()

    def all_received() -> bool:
        seen.update(e["payload"]["code"] for e in drain(fb_settings, queue))
        return stored <= seen

    wait_until(all_received, what="every stored ticket's events")


def test_idempotency_key_retry_gives_the_same_ticket(stack) -> None:
    body = {"category": "thu_tuc", "description": "Mạng chập chờn, gửi lại"}
    first = stack.post("/api/feedback/tickets", json=body, headers={"Idempotency-Key": "k-42"})
    retry = stack.post("/api/feedback/tickets", json=body, headers={"Idempotency-Key": "k-42"})
    assert first.status_code == retry.status_code == 201, retry.text
    assert first.json()["code"] == retry.json()["code"]
    # The key alone does not find a ticket: another body with it is another submission.
    other = stack.post(
        "/api/feedback/tickets",
        json={**body, "description": "Câu hỏi khác"},
        headers={"Idempotency-Key": "k-42"},
    )
    assert other.status_code == 201 and other.json()["code"] != first.json()["code"]
    plain = [stack.submit(description="Không có khoá").json()["code"] for _ in range(2)]
    assert plain[0] != plain[1]


def test_batcher_groups_concurrent_items_and_fails_only_its_own_batch() -> None:
    """The gateway's batcher alone (green threads, no broker): one call per gathered batch,
    each waiter gets its own result, and a failed call fails exactly the items that rode in it."""
    import eventlet

    from services.gateway.batcher import Batcher
    from shared.errors import Unavailable

    calls: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        calls.append(items)
        eventlet.sleep(0.01)  # the other side takes a while: the next batch gathers meanwhile
        if 13 in items:
            raise Unavailable("broker away")
        return [i * 2 for i in items]

    batcher: Batcher[int, int] = Batcher(max_items=8, window_s=0.001, max_in_flight=1)

    def one(i: int) -> int | str:
        try:
            return batcher.submit(i, double, timeout=5)
        except Unavailable as exc:
            return str(exc.detail)

    pool = eventlet.GreenPool()
    results = list(pool.imap(one, range(40)))
    assert len(calls) < 40 and max(len(c) for c in calls) <= 8
    assert sorted(i for c in calls for i in c) == list(range(40))
    failed = next(c for c in calls if 13 in c)
    for i, r in enumerate(results):
        assert r == ("broker away" if i in failed else i * 2)

    slow: Batcher[int, int] = Batcher(window_s=0)
    with pytest.raises(Unavailable):
        slow.submit(1, lambda items: eventlet.sleep(1) or items, timeout=0.05)


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_an_item_the_database_refuses_fails_alone(stack) -> None:
    """If the batch's transaction fails, feedback stores the items one by one: only the item at
    fault is refused (here a reference PostgreSQL finds too long for its column)."""
    from nameko.standalone.rpc import ServiceRpcProxy

    from shared.runtime.config import nameko_config

    item = {"category": "thu_tuc", "description": "Hỏi", "contact": {}}
    items = [
        {**item, "external_ref": "portal:ok-1"},
        {**item, "external_ref": "portal:" + "x" * 300},
        {**item, "external_ref": "portal:ok-2", "category": "khong_co"},
        {**item, "external_ref": "portal:ok-3"},
        {**item, "unknown": 1},
    ]
    with ServiceRpcProxy("feedback", nameko_config(stack.settings)) as proxy:
        out = proxy.submit_batch(items)
        again = proxy.submit_batch([items[0], items[3]])
    assert [sorted(o) for o in out] == [["ticket"], ["error"], ["error"], ["ticket"], ["error"]]
    assert out[1]["error"]["type"] == "LoaError"
    assert out[2]["error"] == {
        "type": "InvalidInput",
        "detail": out[2]["error"]["detail"],
        "field": "category",
    }
    assert out[4]["error"]["type"] == "InvalidInput"
    # Idempotent per item: the same references again give the same tickets.
    assert [a["ticket"]["code"] for a in again] == [
        out[0]["ticket"]["code"],
        out[3]["ticket"]["code"],
    ]
    codes = {o["ticket"]["code"] for o in (out[0], out[3])}
    found = {stack.get(f"/api/feedback/track/{c}").json()["code"] for c in codes}
    assert found == codes
