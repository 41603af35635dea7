"""For the test suites of other areas: accounts and bearer tokens made straight in the gateway's
database (already migrated by the suite's stack), so a test can call the API as a role."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from services.gateway.auth import accounts
from services.gateway.models import metadata, users
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
