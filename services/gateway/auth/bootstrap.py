"""The first administrator: without one nobody could sign in to create the other accounts."""

from __future__ import annotations

import logging

from nameko.extensions import DependencyProvider
from sqlalchemy import select

from services.gateway.auth import accounts
from services.gateway.auth.policy import ADMIN
from services.gateway.models import metadata, users
from shared.config import Settings
from shared.db import Database
from shared.errors import Conflict
from shared.runtime.config import settings_of
from shared.runtime.resources import database_for

log = logging.getLogger(__name__)
FIRST_ADMIN = "admin"


def ensure_first_admin(db: Database, settings: Settings) -> bool:
    """Create the account 'admin' from LOA_ADMIN_PASSWORD if it does not exist yet.

    An existing 'admin' is left alone (its password may have been changed since), so setting the
    variable on every start is safe. The password must be changed at the first sign-in: until
    then the account can do nothing else. Returns True if the account was created now.
    """
    if not settings.admin_password:
        return False
    with db.session() as session:
        if session.execute(select(users.c.id).where(users.c.username == FIRST_ADMIN)).first():
            return False
    try:
        with db.session() as session:
            user = accounts.create_user(
                session,
                FIRST_ADMIN,
                settings.admin_password,
                ADMIN,
                "Quản trị viên",
                must_change_password=True,  # it sat in the environment or data/.admin-password
            )
            accounts.record(session, "account.created", user.username, actor_name="system")
    except Conflict:  # another replica made it at the same moment
        return False
    log.info("created the first administrator account '%s'", FIRST_ADMIN)
    return True


class FirstAdmin(DependencyProvider):
    """Runs ensure_first_admin when the gateway starts (after `loa migrate`)."""

    def setup(self) -> None:
        settings = settings_of(self.container.config)
        ensure_first_admin(database_for(settings, "gateway", metadata), settings)
