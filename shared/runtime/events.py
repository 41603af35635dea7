"""The event handler entrypoint: consume a subscription's queue with retry, backoff and parking.

nameko's own consumer only acks or requeues; a handler that keeps failing would loop forever.
Here a failed message is re-published to the subscription's delay queue for the next backoff step
(it comes back after the delay) and, after the last step, parked in the dead-letter queue with
the error. A message that cannot be read at all (unknown type or version, payload failing its
schema) is parked at once: retrying cannot fix it. The original is acked only after the broker
confirmed its copy, so a crash in between means a redelivery, never a loss.
"""

from __future__ import annotations

import logging
import time
import traceback
from functools import partial
from typing import Any

from kombu import Connection
from kombu.pools import producers
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer

from shared.errors import LoaError
from shared.events.deadletter import H_ATTEMPTS, parking_headers
from shared.events.envelope import Envelope
from shared.events.topology import (
    DEAD_LETTER_QUEUE,
    SUBSCRIPTIONS,
    Subscription,
    declare_topology,
    subscription_queue,
)
from shared.metrics import EVENT_HANDLER_SECONDS, EVENTS_HANDLED
from shared.runtime.config import settings_of
from shared.runtime.rpc import TolerantQueueConsumer

log = logging.getLogger(__name__)


def wait_for_broker(amqp_uri: str, what: str) -> Connection:
    """Connect, logging one clear line per failed attempt, until the broker answers."""
    conn = Connection(amqp_uri, connect_timeout=5)

    where = conn.as_uri()  # without the password

    def _errback(exc: Exception, interval: float) -> None:
        log.warning(
            "%s: RabbitMQ unreachable at %s (%s); retrying in %.0fs", what, where, exc, interval
        )

    conn.ensure_connection(
        errback=_errback, max_retries=None, interval_start=1, interval_step=1, interval_max=10
    )
    return conn


class ParkingQueueConsumer(TolerantQueueConsumer):
    """nameko's queue consumer with two changes: a body that cannot even be decoded is parked
    instead of killing the consumer, and each handler has its own prefetch (nameko uses the
    worker count, which leaves light handlers waiting on round trips to the broker and is far
    too many for heavy jobs such as a transcode)."""

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        for provider in self._providers:
            consumer = consumer_cls(
                queues=[provider.queue],
                callbacks=[partial(self.handle_message, provider)],
                accept=self.accept,
                on_decode_error=partial(_park_undecodable, provider),
            )
            consumer.qos(prefetch_count=provider.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()


class EventHandler(Consumer):
    queue_consumer = ParkingQueueConsumer()

    def __init__(
        self, subscription: str | Subscription, prefetch: int | None = None, **kwargs: Any
    ) -> None:
        self.subscription = (
            subscription if isinstance(subscription, Subscription) else SUBSCRIPTIONS[subscription]
        )
        self.prefetch = prefetch
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    @property
    def prefetch_count(self) -> int:
        """Messages held unacknowledged at once: given per handler (1 for a heavy job), else
        LOA_EVENT_PREFETCH."""
        return self.prefetch or settings_of(self.container.config).event_prefetch

    def setup(self) -> None:
        settings = settings_of(self.container.config)
        self.amqp_uri = settings.amqp_uri
        self.subscription = self.subscription.with_delays(settings.retry_delays_ms)
        self.queue = subscription_queue(self.subscription, settings.queue_type)
        conn = wait_for_broker(self.amqp_uri, f"{self.container.service_name} events")
        try:
            declare_topology(conn, [self.subscription], settings.queue_type)
        finally:
            conn.release()
        self._confirming = Connection(self.amqp_uri, transport_options={"confirm_publish": True})
        super().setup()

    def handle_message(self, body: Any, message: Any) -> None:
        try:
            envelope = Envelope.parse(body)
        except LoaError as exc:
            log.warning("parking unreadable message on %s: %s", self.queue.name, exc.detail)
            self._park(message, exc.detail, attempts=0)
            self.queue_consumer.ack_message(message)
            EVENTS_HANDLED.labels(self.subscription.name, "parked").inc()
            return
        context_data = {"correlation_id": envelope.correlation_id}
        handle_result = partial(self.handle_result, message)
        message._loa_started = time.monotonic()
        try:
            self.container.spawn_worker(
                self, (envelope,), {}, context_data=context_data, handle_result=handle_result
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_message_processed(
        self, message: Any, result: Any = None, exc_info: Any = None
    ) -> None:
        started = getattr(message, "_loa_started", None)
        if started is not None:
            EVENT_HANDLER_SECONDS.labels(self.subscription.name).observe(time.monotonic() - started)
        if exc_info is None:
            EVENTS_HANDLED.labels(self.subscription.name, "ok").inc()
            self.queue_consumer.ack_message(message)
            return
        exc = exc_info[1]
        reason = _describe_error(exc)
        attempts = int((message.headers or {}).get(H_ATTEMPTS, 0) or 0) + 1
        delays = self.subscription.retry_delays_ms
        permanent = isinstance(exc, LoaError) and 400 <= exc.status < 500
        try:
            if permanent or attempts > len(delays):
                log.error(
                    "parking event %s on %s after %d attempt(s): %s",
                    message.properties.get("message_id"),
                    self.queue.name,
                    attempts,
                    reason,
                )
                self._park(message, reason, attempts)
                EVENTS_HANDLED.labels(self.subscription.name, "parked").inc()
            else:
                delay = delays[attempts - 1]
                log.warning(
                    "event %s failed on %s (attempt %d), retry in %d ms: %s",
                    message.properties.get("message_id"),
                    self.queue.name,
                    attempts,
                    delay,
                    reason,
                )
                headers = dict(message.headers or {})
                headers[H_ATTEMPTS] = attempts
                self._republish(message, self.subscription.retry_queue_name(delay), headers)
                EVENTS_HANDLED.labels(self.subscription.name, "retried").inc()
        except Exception:
            # Could not hand the message on: give it back to the broker rather than lose it.
            log.exception("could not schedule retry of %s; requeueing", self.queue.name)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _park(self, message: Any, reason: str, attempts: int) -> None:
        headers = parking_headers(message.headers, self.queue.name, reason, attempts)
        self._republish(message, DEAD_LETTER_QUEUE, headers)

    def _republish(self, message: Any, queue_name: str, headers: dict[str, Any]) -> None:
        with producers[self._confirming].acquire(block=True, timeout=30) as producer:
            producer.publish(
                message.body,
                exchange="",
                routing_key=queue_name,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                message_id=message.properties.get("message_id"),
                delivery_mode=2,
                retry=True,
                retry_policy={"max_retries": 5, "interval_start": 0.5, "interval_step": 1},
            )


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, LoaError):
        return f"{type(exc).__name__}: {exc.detail}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:2000]


event_handler = EventHandler.decorator


def _park_undecodable(provider: EventHandler, message: Any, exc: Exception) -> None:
    log.warning("parking undecodable message on %s: %s", provider.queue.name, exc)
    provider._park(message, f"message body cannot be decoded: {exc}", attempts=0)
    provider.queue_consumer.ack_message(message)
    EVENTS_HANDLED.labels(provider.subscription.name, "parked").inc()
