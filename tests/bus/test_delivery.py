"""An event written with its change reaches its subscriber once in effect, whatever happens."""

from __future__ import annotations

from typing import Any

import pytest
from kombu import Connection
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import func, select

from shared.events.deadletter import list_parked, replay_parked
from shared.events.envelope import Envelope
from shared.runtime.config import nameko_config
from tests.bus import demo
from tests.conftest import wait_until


def _count(db: Any, table: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _unpublished(db: Any) -> int:
    outbox = demo.metadata.tables["outbox"]
    with db.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).where(outbox.c.published_at.is_(None))).scalar_one()
        )


def test_events_reach_the_subscriber_once(demo_container, demo_settings, demo_db) -> None:
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        proxy.emit(0, 50)
    wait_until(lambda: _count(demo_db, demo.received) == 50, what="50 events applied")
    assert _unpublished(demo_db) == 0
    assert all(n == 1 for n in demo.effects.values()) and len(demo.effects) == 50


def test_a_rolled_back_change_emits_nothing(demo_container, demo_settings, demo_db) -> None:
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        with pytest.raises(Exception, match="fails after the event"):
            proxy.emit_then_fail(1)
        proxy.emit(2, 1)
    wait_until(lambda: _count(demo_db, demo.received) == 1, what="the committed event")
    eventlet_sleep(0.5)
    assert _count(demo_db, demo.received) == 1
    assert _count(demo_db, demo.notes) == 1


def test_consumer_failing_once_is_retried_with_backoff(
    demo_container, demo_settings, demo_db
) -> None:
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        ids = proxy.emit(0, 5, "fail-once")
    wait_until(lambda: _count(demo_db, demo.received) == 5, what="events applied after retry")
    assert all(demo.attempts[i] == 2 for i in ids)
    assert dict(demo.effects) == {i: 1 for i in range(5)}


def test_same_message_delivered_twice_applies_once(demo_container, demo_settings, demo_db) -> None:
    env = Envelope.new("system.probe", {"seq": 7}, producer="test")
    with Connection(demo_settings.amqp_uri) as conn:
        producer = conn.Producer()
        for _ in range(3):
            producer.publish(
                env.to_json(),
                exchange="loa.events",
                routing_key="system.probe",
                content_type="application/json",
                delivery_mode=2,
            )
    wait_until(lambda: demo.attempts[env.id] == 3, what="three deliveries")
    eventlet_sleep(0.2)
    assert _count(demo_db, demo.received) == 1
    assert demo.effects[7] == 1


def test_poison_message_is_parked_with_its_error_and_replays(
    demo_container, demo_settings, demo_db
) -> None:
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        (event_id,) = proxy.emit(0, 1, "always-fail")

    def parked() -> list[Any]:
        with Connection(demo_settings.amqp_uri) as conn:
            return list_parked(conn)

    found = wait_until(parked, what="the message in the dead-letter queue")
    assert found[0].message_id == event_id
    assert found[0].queue == "loa.demo.probe"
    assert found[0].attempts == 4  # the first try and three retries (100, 200, 400 ms)
    assert "ValueError: this handler cannot process the event" in found[0].error
    assert _count(demo_db, demo.received) == 0
    # Listing did not consume it.
    assert len(parked()) == 1

    # "Fix" the handler, then replay: the event is applied once.
    demo.attempts.clear()
    demo_fix_note(event_id)
    with Connection(demo_settings.amqp_uri) as conn:
        replayed = replay_parked(conn, [event_id])
    assert [p.message_id for p in replayed] == [event_id]
    wait_until(lambda: _count(demo_db, demo.received) == 1, what="replayed event applied")
    assert parked() == []


@pytest.mark.parametrize(
    "mutation, reason",
    [
        ({"version": 9}, "system.probe version 9 is unknown"),
        ({"type": "system.nonsense"}, "'system.nonsense' is not in the catalog"),
        ({"payload": {"seq": "not a number"}}, "payload is invalid at seq"),
        ({"id": ""}, "envelope is invalid at id"),
    ],
)
def test_unreadable_events_are_parked_with_a_clear_reason(
    demo_container, demo_settings, demo_db, mutation: dict[str, Any], reason: str
) -> None:
    body = Envelope.new("system.probe", {"seq": 1}, producer="test").model_dump(mode="json")
    body.update(mutation)
    with Connection(demo_settings.amqp_uri) as conn:
        conn.Producer().publish(
            body, exchange="", routing_key="loa.demo.probe", serializer="json", delivery_mode=2
        )

    def parked() -> list[Any]:
        with Connection(demo_settings.amqp_uri) as conn:
            return list_parked(conn)

    found = wait_until(parked, what="the unreadable message parked")
    assert reason in found[0].error
    assert found[0].attempts == 0
    # The consumer is still alive and well.
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        proxy.emit(5, 1)
    wait_until(lambda: _count(demo_db, demo.received) == 1, what="next event still handled")


def test_undecodable_body_is_parked(demo_container, demo_settings, demo_db) -> None:
    with Connection(demo_settings.amqp_uri) as conn:
        conn.Producer().publish(
            b"{not json",
            exchange="",
            routing_key="loa.demo.probe",
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )

    def parked() -> list[Any]:
        with Connection(demo_settings.amqp_uri) as conn:
            return list_parked(conn)

    found = wait_until(parked, what="the undecodable message parked")
    assert "cannot be decoded" in found[0].error
    with ServiceRpcProxy("demo", nameko_config(demo_settings)) as proxy:
        proxy.emit(9, 1)
    wait_until(lambda: _count(demo_db, demo.received) == 1, what="next event still handled")


def demo_fix_note(event_id: str) -> None:
    """Make the next attempt of this event succeed (the 'fix' deployed before a replay)."""
    demo.fixed.add(event_id)


def eventlet_sleep(seconds: float) -> None:
    import eventlet

    eventlet.sleep(seconds)
