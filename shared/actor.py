"""Who acts on an RPC, signed by the gateway and verified by the service.

Anyone who reaches RabbitMQ can send a request to any service, so an actor passed as a plain
argument ({"role": "admin"}) proves nothing. The gateway, which has authenticated the account,
signs its identity for one call: an HMAC (LOA_RPC_SIGNING_KEY, shared by the services) over the
actor, the service and method, a digest of the call's arguments and an expiry a minute away. The
token travels in nameko's context data (a message header, like the correlation id); the RPC
entrypoint (shared/runtime/rpc.py) verifies it in one place and hands the method the signed
actor, never the argument alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.errors import Forbidden

CONTEXT_KEY = "loa_actor"
"""Key in nameko's context data (header nameko.loa_actor) carrying the signed actor."""
TTL_S = 60
"""A signed actor is good for this long: enough for a queued call, too short to keep."""
ACTOR_PARAM = "actor"
"""A service method that takes a parameter of this name acts for someone: it needs a signature."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def call_digest(args: Any, kwargs: Any) -> str:
    """A digest of a call's arguments as the service receives them (JSON over the broker), so a
    token replayed on the same method with other arguments (another item) does not verify."""
    canonical = json.dumps(
        [list(args), kwargs], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _mac(key: str, body: str) -> str:
    return hmac.new(key.encode("utf-8"), body.encode("ascii"), hashlib.sha256).hexdigest()


def sign_actor(
    key: str,
    actor: dict[str, Any],
    service: str,
    method: str,
    args: Any,
    kwargs: Any,
    *,
    now: float | None = None,
    ttl: float = TTL_S,
) -> str:
    """A token saying `actor` makes this call (service.method with these arguments) until
    now + ttl."""
    if not key:
        raise Forbidden(
            "Thiếu khoá ký RPC / LOA_RPC_SIGNING_KEY is not set: the caller cannot be vouched for"
        )
    payload = {
        "a": actor,
        "s": service,
        "m": method,
        "d": call_digest(args, kwargs),
        "exp": int((time.time() if now is None else now) + ttl),
    }
    body = _b64(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return f"{body}.{_mac(key, body)}"


def verify_actor(
    key: str,
    token: Any,
    service: str,
    method: str,
    args: Any,
    kwargs: Any,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The actor a valid token vouches for on this call; Forbidden otherwise (missing, altered,
    expired, made for another method or other arguments)."""
    where = f"{service}.{method}"
    if not key:
        raise Forbidden(f"LOA_RPC_SIGNING_KEY is not set: {where} cannot trust any actor", "actor")
    if not token or not isinstance(token, str) or "." not in token:
        raise Forbidden(
            f"Lời gọi không có chữ ký người thực hiện / {where}: the actor is not signed", "actor"
        )
    body, mac = token.rsplit(".", 1)
    if not hmac.compare_digest(mac.encode("ascii", "replace"), _mac(key, body).encode("ascii")):
        raise Forbidden(f"Chữ ký không hợp lệ / {where}: the actor's signature does not match",
                        "actor")
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        raise Forbidden(f"{where}: the actor's token is malformed", "actor") from None
    if payload.get("s") != service or payload.get("m") != method:
        raise Forbidden(
            f"Chữ ký dành cho lời gọi khác / {where}: the actor was signed for "
            f"{payload.get('s')}.{payload.get('m')}",
            "actor",
        )
    if float(payload.get("exp", 0)) < (time.time() if now is None else now):
        raise Forbidden(f"Chữ ký đã hết hạn / {where}: the actor's signature has expired", "actor")
    if payload.get("d") != call_digest(args, kwargs):
        raise Forbidden(
            f"Chữ ký dành cho dữ liệu khác / {where}: the actor was signed for other arguments",
            "actor",
        )
    actor = payload.get("a")
    if not isinstance(actor, dict):
        raise Forbidden(f"{where}: the actor's token is malformed", "actor")
    return actor


def consistent(given: Any, signed: dict[str, Any]) -> bool:
    """The actor argument says nothing the signature does not: each of its keys is signed with
    the same value (the gateway signs the whole account; a route may pass a part of it)."""
    return isinstance(given, dict) and all(
        k in signed and signed[k] == v for k, v in given.items()
    )


def account_actor(user: Any) -> dict[str, Any]:
    """What the gateway signs for a signed-in account: every shape the services read (feedback's
    sub/unit_id, publishing's user) from one place."""
    return {"sub": user.id, "user": user.username, "role": user.role, "unit_id": user.unit_id}


@contextmanager
def carrying(context_data: dict[str, Any], token: str | None) -> Iterator[None]:
    """The token in a worker's context data (its WorkerContext.data: the context_data property
    is a copy) while one request is sent. nameko copies it into the message headers before the
    publish's first I/O, so calls in parallel green threads of one worker each send their own."""
    if token is None:
        context_data.pop(CONTEXT_KEY, None)
        yield
        return
    context_data[CONTEXT_KEY] = token
    try:
        yield
    finally:
        if context_data.get(CONTEXT_KEY) == token:
            context_data.pop(CONTEXT_KEY, None)
