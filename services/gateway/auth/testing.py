"""For the test suites of other areas: accounts and bearer tokens made straight in the gateway's
database (already migrated by the suite's stack), so a test can call the API as a role."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from services.gateway.auth import accounts
from services.gateway.models import metadata, users
from shared.actor import carrying, sign_actor
from shared.config import Settings
from shared.runtime.resources import database_for


def issue_token(
    settings: Settings, role: str, unit_id: str | None = None, username: str | None = None
) -> str:
    """A bearer token of an account with this role (and unit); the account is made if missing."""
    db = database_for(settings, "gateway", metadata)
    if role == "officer" and not unit_id:
        unit_id = "test-unit"  # officers always belong to a unit
    name = username or f"test-{role}" + (f"-{unit_id}" if unit_id else "")
    name = accounts.clean_username(name.replace("_", "-")[:64])
    with db.session() as session:
        row = session.execute(select(users.c.id).where(users.c.username == name)).first()
        if row is None:
            user = accounts.create_user(
                session, name, secrets.token_urlsafe(16), role, name, unit_id
            )
        else:
            user = accounts.get_user(session, row.id)
        secret, _ = accounts.create_token(session, user, "test")
    return secret


def bearer(settings: Settings, role: str, unit_id: str | None = None) -> dict[str, str]:
    """Authorization header of a token for this role."""
    return {"Authorization": "Bearer " + issue_token(settings, role, unit_id)}


class SignedRpc:
    """A standalone RPC proxy whose calls carry their actor signed as the gateway signs it
    (shared/actor.py): the services refuse an actor that is not. The actor of a call is its
    `actor` keyword argument, else its last positional dict with a role."""

    def __init__(self, proxy: Any, service: str, key: str) -> None:
        self._proxy = proxy
        self._service = service
        self._key = key

    def __getattr__(self, method: str) -> _SignedMethod:
        return _SignedMethod(getattr(self._proxy, method), self._service, method, self._key)


class _SignedMethod:
    """One method of a SignedRpc: called, or call_async like nameko's own."""

    def __init__(self, method_proxy: Any, service: str, method: str, key: str) -> None:
        self._method_proxy = method_proxy
        self._where = (service, method)
        self._key = key

    def call_async(self, *args: Any, **kwargs: Any) -> Any:
        actor = kwargs.get("actor") or next(
            (a for a in reversed(args) if isinstance(a, dict) and "role" in a), None
        )
        token = None
        if actor is not None:
            token = sign_actor(self._key, actor, *self._where, args, kwargs)
        with carrying(self._method_proxy.worker_ctx.data, token):
            return self._method_proxy.call_async(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call_async(*args, **kwargs).result()


@contextmanager
def signed_rpc(service: str, settings: Settings, **options: Any) -> Iterator[SignedRpc]:
    """nameko's ServiceRpcProxy to `service`, signing each call's actor with the settings' key."""
    from nameko.standalone.rpc import ServiceRpcProxy

    from shared.runtime.config import nameko_config

    with ServiceRpcProxy(service, nameko_config(settings), **options) as proxy:
        yield SignedRpc(proxy, service, settings.rpc_signing_key or "")
