"""Publisher confirms arrive out of order when a message goes to several queues; the relay must
still see every one of a large batch confirmed, never wait for a confirm that already came."""

from __future__ import annotations

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
