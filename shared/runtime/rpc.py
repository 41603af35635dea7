"""Errors crossing nameko RPC arrive as themselves: a NotFound raised in media is a NotFound in the
gateway, with its detail and field, not an opaque RemoteError."""

from __future__ import annotations

import inspect
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

from shared.actor import ACTOR_PARAM, CONTEXT_KEY, consistent, verify_actor
from shared.errors import ALL_ERRORS, Forbidden, LoaError, Unavailable

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
    """The RPC entrypoint every loa service uses (`from shared.runtime.rpc import rpc`).

    It is also where a service decides whom it acts for: a method with an `actor` parameter runs
    only when the call carries the gateway's signature of that actor for this very call
    (shared/actor.py); the method then receives the signed actor. Anyone can reach the broker,
    only the gateway (and the services, which share LOA_RPC_SIGNING_KEY) can sign."""

    rpc_consumer = _RpcConsumer()
    _signature: inspect.Signature | None = None

    def setup(self) -> None:
        super().setup()
        method = getattr(self.container.service_cls, self.method_name)
        sig = inspect.signature(method)
        self._signature = sig if ACTOR_PARAM in sig.parameters else None

    def handle_message(self, body: Any, message: Any) -> None:
        if self._signature is not None and isinstance(body, dict):
            body = {**body, **self._vouched(body.get("args"), body.get("kwargs"), message)}
        super().handle_message(body, message)

    def _vouched(self, args: Any, kwargs: Any, message: Any) -> dict[str, Any]:
        """The call's arguments with the actor the signature vouches for; Forbidden if an actor is
        given without a valid signature of it for this call. No actor given (a citizen's call
        whose actor is optional): nothing to vouch for."""
        assert self._signature is not None
        try:
            bound = self._signature.bind(None, *(args or ()), **(kwargs or {}))
        except TypeError:
            return {}  # nameko's own check answers IncorrectSignature
        given = bound.arguments.get(ACTOR_PARAM)
        if given is None:
            return {}
        from shared.runtime.config import settings_of  # imports this module

        signed = verify_actor(
            settings_of(self.container.config).rpc_signing_key or "",
            (message.headers or {}).get(f"{self.header_prefix}.{CONTEXT_KEY}"),
            self.container.service_name,
            self.method_name,
            args or [],
            kwargs or {},
        )
        if not consistent(given, signed):
            raise Forbidden(
                f"Người thực hiện không khớp chữ ký / {self.container.service_name}."
                f"{self.method_name}: the actor argument differs from the signed actor",
                ACTOR_PARAM,
            )
        bound.arguments[ACTOR_PARAM] = signed
        return {"args": list(bound.args[1:]), "kwargs": bound.kwargs}

    def unpack_message_headers(self, message: Any) -> dict[str, Any]:
        """Context data without the signed actor: it was for this call only, and must not ride
        along on the calls this worker makes."""
        data: dict[str, Any] = super().unpack_message_headers(message)
        data.pop(CONTEXT_KEY, None)
        return data

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
