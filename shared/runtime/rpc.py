"""Errors crossing nameko RPC arrive as themselves: a NotFound raised in media is a NotFound in the
gateway, with its detail and field, not an opaque RemoteError."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import amqp.exceptions
import kombu.exceptions
from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.exceptions import RemoteError, deserialize_to_instance
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener, Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.rpc import RpcProxy as _NamekoRpcProxy

from shared.errors import ALL_ERRORS, LoaError, Unavailable

for _cls in ALL_ERRORS:
    deserialize_to_instance(_cls)


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def register_error_subclasses() -> None:
    """Register every LoaError subclass imported so far (service-specific errors)."""
    for cls in _all_subclasses(LoaError):
        deserialize_to_instance(cls)


def as_loa_error(exc: BaseException) -> LoaError | None:
    """A user-facing error for an RPC failure, or None if it is a bug (→ 500)."""
    if isinstance(exc, LoaError):
        return exc
    if isinstance(exc, RemoteError):
        for cls in [*ALL_ERRORS, *_all_subclasses(LoaError)]:
            if cls.__name__ == exc.exc_type:
                return cls(str(exc.value))
    return None


# --- RPC that survives a broker restart -------------------------------------------------------
# Stock nameko lets an ack or a reply that hits a dropped broker connection end the whole
# container. Here they are logged instead: the broker requeues the unacked request (handlers
# of commands are idempotent) and the caller, whose reply never came, times out with a 503.


log = logging.getLogger(__name__)
BROKER_GONE = (OSError, kombu.exceptions.OperationalError, amqp.exceptions.ConnectionError)
RECONNECT_START_S = 0.5
RECONNECT_MAX_S = 2.0


class TolerantQueueConsumer(QueueConsumer):
    """nameko's queue consumer, except that an ack or requeue lost with the connection is
    logged, not fatal: the broker has already put the message back; and that it reconnects
    every RECONNECT_MAX_S at most (kombu's default waits 2, 4, 6, 8… s, leaving a service idle
    for seconds after its broker came back)."""

    @contextmanager
    def establish_connection(self) -> Iterator[Any]:
        with self.create_connection() as conn:
            conn.ensure_connection(
                self.on_connection_error,
                self.connect_max_retries,
                interval_start=RECONNECT_START_S,
                interval_step=RECONNECT_START_S,
                interval_max=RECONNECT_MAX_S,
            )
            yield conn

    def ack_message(self, message: Any) -> None:
        try:
            super().ack_message(message)
        except BROKER_GONE as exc:
            log.warning("ack lost with the broker connection (%s); it will be redelivered", exc)

    def requeue_message(self, message: Any) -> None:
        try:
            super().requeue_message(message)
        except BROKER_GONE as exc:
            log.warning("requeue lost with the broker connection (%s); the broker requeues", exc)


class _ReplyPublisher(Publisher):
    # A reply needs no broker confirm: a lost one makes the caller time out and answer 503,
    # all a failed confirm could lead to; it saves a round trip per call.
    use_confirms = False


class _Responder(Responder):
    publisher_cls = _ReplyPublisher


class _RpcConsumer(RpcConsumer):
    queue_consumer = TolerantQueueConsumer()
    _reply_args: tuple[Any, ...] | None = None

    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        config = self.container.config
        if self._reply_args is None:  # the reply exchange is built once, not per call
            self._reply_args = (
                config[AMQP_URI_CONFIG_KEY],
                get_rpc_exchange(config),
                config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
            )
        uri, exchange, serializer = self._reply_args
        responder = _Responder(
            uri,
            exchange,
            serializer,
            message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class ResilientRpc(Rpc):
    """The RPC entrypoint every loa service uses (`from shared.runtime.rpc import rpc`)."""

    rpc_consumer = _RpcConsumer()

    def handle_result(
        self, message: Any, worker_ctx: Any, result: Any, exc_info: Any
    ) -> tuple[Any, Any]:
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)  # type: ignore[no-any-return]
        except BROKER_GONE as exc:
            log.warning("RPC reply lost with the broker connection (%s); caller will retry", exc)
            return result, exc_info


class _ReplyListener(ReplyListener):
    queue_consumer = TolerantQueueConsumer()


class RpcProxy(_NamekoRpcProxy):
    """nameko's RpcProxy whose reply listener survives a broker restart."""

    rpc_reply_listener = _ReplyListener()


rpc = ResilientRpc.decorator

__all__ = [
    "RpcProxy",
    "TolerantQueueConsumer",
    "Unavailable",
    "as_loa_error",
    "register_error_subclasses",
    "rpc",
]
