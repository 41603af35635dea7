"""Publishing to RabbitMQ with publisher confirms, a whole batch per round trip.

Waiting for each message's confirm before sending the next caps throughput at one round trip per
event; here a batch is sent, then we wait until the broker has confirmed every message of it
(it writes persistent messages to disk before confirming). Any nack or lost connection fails the
whole batch, which the caller then leaves unmarked and sends again (consumers are idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from amqp.basic_message import Message
from kombu import Connection

from shared.events.topology import EVENTS_EXCHANGE, Subscription, declare_topology

log = logging.getLogger(__name__)


class PublishFailed(Exception):
    """The broker did not confirm the batch; nothing of it may be considered sent."""


@dataclass(frozen=True)
class OutgoingMessage:
    routing_key: str
    body: bytes
    message_id: str
    headers: dict[str, Any] = field(default_factory=dict)
    exchange: str = EVENTS_EXCHANGE


class ConfirmingPublisher:
    def __init__(
        self,
        amqp_uri: str,
        subscriptions: list[Subscription] | None = None,
        queue_type: str = "classic",
        confirm_timeout: float = 30.0,
    ) -> None:
        self.amqp_uri = amqp_uri
        self.subscriptions = subscriptions
        self.queue_type = queue_type
        self.confirm_timeout = confirm_timeout
        self._conn: Connection | None = None
        self._channel: Any = None
        self._next_tag = 1
        self._unconfirmed: set[int] = set()
        self._nacked = False

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        # Confirms may come out of order (a message routed to several queues is confirmed when
        # all of them have it) and "multiple" covers every tag up to this one.
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True

    def connect(self) -> None:
        if self._channel is not None:
            return
        conn = Connection(self.amqp_uri, heartbeat=0, connect_timeout=5)
        conn.connect()
        # Declare every queue before the first publish, so no event is dropped unrouted.
        declare_topology(conn, self.subscriptions, self.queue_type)
        channel = conn.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self._conn, self._channel = conn, channel
        self._next_tag = 1
        self._unconfirmed = set()
        self._nacked = False

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # noqa: BLE001 - closing a broken connection
                log.debug("closing a broken broker connection failed", exc_info=True)

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send all messages and return only when the broker has confirmed every one."""
        if not messages:
            return
        self.connect()
        assert self._conn is not None
        transport = self._conn.connection.transport
        pending = bytearray()
        try:
            # Frames of the whole batch go out in one write instead of one system call per
            # message (this connection has no other writer: no heartbeats, one relay).
            original_write = transport._write
            transport._write = pending.extend
            try:
                for m in messages:
                    msg = Message(
                        m.body,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        message_id=m.message_id,
                        application_headers=m.headers,
                    )
                    self._unconfirmed.add(self._next_tag)
                    self._next_tag += 1
                    self._channel.basic_publish(msg, exchange=m.exchange, routing_key=m.routing_key)
            finally:
                transport._write = original_write
            original_write(bytes(pending))
            raw = self._conn.connection
            while self._unconfirmed and not self._nacked:
                raw.drain_events(timeout=self.confirm_timeout)
        except Exception as exc:
            waiting = len(self._unconfirmed)
            self.close()
            raise PublishFailed(
                f"broker did not confirm {waiting} of {len(messages)} messages: {exc!r}"
            ) from exc
        if self._nacked:
            self.close()
            raise PublishFailed("broker refused (nack) part of the batch")
