"""Parking and replaying messages that handlers could not process.

A parked message keeps its body untouched and carries, in headers, the queue it came from, the
error in words, how many attempts were made and when it was parked. Listing does not consume:
messages fetched for a look are returned to the queue when the channel closes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kombu import Connection

from shared.events.topology import DEAD_LETTER_QUEUE, dead_letter_queue

H_QUEUE = "x-loa-queue"
H_ERROR = "x-loa-error"
H_ATTEMPTS = "x-loa-attempts"
H_PARKED_AT = "x-loa-parked-at"


@dataclass(frozen=True)
class ParkedMessage:
    message_id: str | None
    event_type: str | None
    queue: str
    error: str
    attempts: int
    parked_at: str
    body: str

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def parking_headers(
    headers: dict[str, Any] | None, queue: str, error: str, attempts: int
) -> dict[str, Any]:
    out = dict(headers or {})
    out.update(
        {
            H_QUEUE: queue,
            H_ERROR: error[:2000],
            H_ATTEMPTS: attempts,
            H_PARKED_AT: datetime.now(UTC).isoformat(),
        }
    )
    return out


def _describe(message: Any) -> ParkedMessage:
    headers = message.headers or {}
    body = message.body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    event_type = headers.get("loa-type")
    if event_type is None:
        try:
            event_type = json.loads(text).get("type")
        except (ValueError, AttributeError):
            event_type = None
    return ParkedMessage(
        message_id=message.properties.get("message_id"),
        event_type=event_type,
        queue=str(headers.get(H_QUEUE, "")),
        error=str(headers.get(H_ERROR, "")),
        attempts=int(headers.get(H_ATTEMPTS, 0) or 0),
        parked_at=str(headers.get(H_PARKED_AT, "")),
        body=text,
    )


def list_parked(
    conn: Connection, limit: int = 100, queue_type: str = "classic"
) -> list[ParkedMessage]:
    channel = conn.channel()
    try:
        queue = dead_letter_queue(queue_type)(channel)
        queue.declare()
        out: list[ParkedMessage] = []
        while len(out) < limit:
            message = queue.get(no_ack=False)
            if message is None:
                break
            out.append(_describe(message))
        return out
    finally:
        channel.close()  # unacked messages go back to the queue


def replay_parked(
    conn: Connection,
    message_ids: list[str] | None = None,
    queue_type: str = "classic",
) -> list[ParkedMessage]:
    """Send parked messages (all, or those with these ids) back to their queue, attempts reset."""
    channel = conn.channel()
    replayed: list[ParkedMessage] = []
    try:
        queue = dead_letter_queue(queue_type)(channel)
        _, count, _ = queue.queue_declare(passive=True)
        # A parked message is acked only after the broker confirmed its copy in the queue.
        confirming = Connection(
            conn.as_uri(include_password=True), transport_options={"confirm_publish": True}
        )
        producer = confirming.Producer()
        for _ in range(count):
            message = queue.get(no_ack=False)
            if message is None:
                break
            parked = _describe(message)
            if message_ids is not None and parked.message_id not in message_ids:
                continue  # left unacked: back to the DLQ when the channel closes
            headers = {
                k: v for k, v in (message.headers or {}).items() if not k.startswith("x-loa-")
            }
            producer.publish(
                message.body,
                exchange="",
                routing_key=parked.queue,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                message_id=parked.message_id,
                delivery_mode=2,
            )
            message.ack()
            replayed.append(parked)
        confirming.release()
        return replayed
    finally:
        channel.close()


__all__ = ["DEAD_LETTER_QUEUE", "ParkedMessage", "list_parked", "parking_headers", "replay_parked"]
