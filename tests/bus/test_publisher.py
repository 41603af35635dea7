"""Publisher confirms arrive out of order when a message goes to several queues; the relay must
still see every one of a large batch confirmed, never wait for a confirm that already came."""

from __future__ import annotations

import time

from kombu import Connection

from shared.events.envelope import Envelope
from shared.events.publisher import ConfirmingPublisher, OutgoingMessage
from shared.events.topology import Subscription


def test_large_batches_to_many_queues_are_all_confirmed(rabbit_config: dict) -> None:  # type: ignore[type-arg]
    subs = [Subscription(f"fanout.q{i}", ("system.probe",), (100,)) for i in range(4)]
    publisher = ConfirmingPublisher(
        rabbit_config["AMQP_URI"], subscriptions=subs, confirm_timeout=5
    )
    total = 0
    for batch in range(6):
        messages = []
        for i in range(500):
            env = Envelope.new("system.probe", {"seq": batch * 500 + i}, producer="test")
            messages.append(OutgoingMessage("system.probe", env.to_json().encode(), env.id))
        publisher.publish(messages)  # raises PublishFailed if a confirm is missed
        total += len(messages)
    publisher.close()
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        for sub in subs:
            _, count, _ = conn.default_channel.queue_declare(sub.queue_name, passive=True)
            assert count == total


def test_quorum_topology_declares_and_routes(rabbit_config: dict) -> None:  # type: ignore[type-arg]
    """At scale the queues are quorum queues (LOA_QUEUE_TYPE=quorum): the same topology, retry
    queues with TTL and dead-lettering included, must be accepted by the broker and route."""
    sub = Subscription("quorum.check", ("system.probe",), (100, 200))
    publisher = ConfirmingPublisher(
        rabbit_config["AMQP_URI"], subscriptions=[sub], queue_type="quorum"
    )
    env = Envelope.new("system.probe", {"seq": 1}, producer="test")
    publisher.publish([OutgoingMessage("system.probe", env.to_json().encode(), env.id)])
    publisher.close()
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        channel = conn.default_channel
        _, count, _ = channel.queue_declare(sub.queue_name, passive=True)
        assert count == 1
        # Back off through a retry queue: after its TTL the message is back in the main queue.
        message = channel.basic_get(sub.queue_name, no_ack=False)
        channel.basic_publish(message, exchange="", routing_key=sub.retry_queue_name(100))
        channel.basic_ack(message.delivery_tag)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, count, _ = channel.queue_declare(sub.queue_name, passive=True)
            if count == 1:
                break
            time.sleep(0.1)
        assert count == 1, "the retry queue did not dead-letter back"
