"""Exchanges and queues of the bus, declared before anyone publishes.

nameko drops an event published before its handler's queue exists; so every subscription is
listed here, in one place, and every process that publishes declares all of them first.
Each subscription has: its queue, one delayed-retry queue per backoff step (a message waits there
for the step's TTL, then dead-letters back into the queue) and the shared dead-letter queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kombu import Connection, Exchange, Queue

EVENTS_EXCHANGE = "loa.events"
DEAD_LETTER_QUEUE = "loa.dead-letter"


@dataclass(frozen=True)
class Subscription:
    """A named consumer of some event types, e.g. search.index_media."""

    name: str
    event_types: tuple[str, ...]
    retry_delays_ms: tuple[int, ...] = field(default=(1000, 5000, 30000))

    @property
    def queue_name(self) -> str:
        return f"loa.{self.name}"

    def retry_queue_name(self, delay_ms: int) -> str:
        return f"loa.{self.name}.retry.{delay_ms}ms"

    def with_delays(self, delays: list[int] | tuple[int, ...]) -> Subscription:
        return Subscription(self.name, self.event_types, tuple(delays))


# Every subscription of every service. A service consuming a new event type adds it here.
SUBSCRIPTIONS: dict[str, Subscription] = {
    s.name: s
    for s in (
        Subscription("publishing.media", ("media.asset_ready", "media.transcode_failed")),
        Subscription("publishing.feedback", ("feedback.answer_published",)),
        Subscription("publishing.media_catalog", ("media.asset_uploaded", "media.asset_deleted")),
        Subscription(
            "search.index",
            (
                "media.asset_ready",
                "media.asset_deleted",
                "publishing.item_published",
                "publishing.item_withdrawn",
                "publishing.delivery_succeeded",
                "feedback.answer_published",
            ),
        ),
        Subscription("gateway.probe", ("system.probe",)),
        Subscription("media.ingest", ("media.upload_completed",)),
        Subscription("media.transcode", ("media.transcode_requested",)),
        # a work queue: an admin's rebuild runs on one search worker, again if that one dies
        Subscription("search.rebuild", ("search.rebuild_requested",)),
    )
}


def events_exchange() -> Exchange:
    return Exchange(EVENTS_EXCHANGE, type="topic", durable=True)


def _queue_args(queue_type: str) -> dict[str, object]:
    return {"x-queue-type": queue_type}


def subscription_queue(sub: Subscription, queue_type: str = "classic") -> Queue:
    exchange = events_exchange()
    from kombu import binding

    return Queue(
        sub.queue_name,
        bindings=[binding(exchange, routing_key=t) for t in sub.event_types],
        durable=True,
        queue_arguments=_queue_args(queue_type),
    )


def retry_queues(sub: Subscription, queue_type: str = "classic") -> list[Queue]:
    return [
        Queue(
            sub.retry_queue_name(delay),
            durable=True,
            queue_arguments={
                **_queue_args(queue_type),
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": sub.queue_name,
            },
        )
        for delay in sub.retry_delays_ms
    ]


def dead_letter_queue(queue_type: str = "classic") -> Queue:
    return Queue(DEAD_LETTER_QUEUE, durable=True, queue_arguments=_queue_args(queue_type))


def declare_topology(
    conn: Connection,
    subscriptions: list[Subscription] | None = None,
    queue_type: str = "classic",
) -> None:
    """Idempotently declare the exchange, every subscription's queues and the DLQ."""
    subs = list(SUBSCRIPTIONS.values()) if subscriptions is None else subscriptions
    channel = conn.channel()
    try:
        events_exchange()(channel).declare()
        dead_letter_queue(queue_type)(channel).declare()
        for sub in subs:
            subscription_queue(sub, queue_type)(channel).declare()
            for q in retry_queues(sub, queue_type):
                q(channel).declare()
    finally:
        channel.close()
