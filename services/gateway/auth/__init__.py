"""Accounts, roles and the API's protection (issue 7).

Routes use: `current_user(ctx)`, `require(ctx, *roles)`, `require_unit(ctx, unit_id)` and
`audit(ctx, action, target)`. Which role may call which route is the table in policy.py, applied
to every request by `authorize` (the Router's guard) before the handler runs.
"""

from services.gateway.auth.accounts import Credential, User
from services.gateway.auth.guard import (
    CSRF_HEADER,
    SESSION_COOKIE,
    audit,
    authorize,
    current_user,
    require,
    require_unit,
)
from services.gateway.auth.policy import PUBLIC, ROLES, STAFF

__all__ = [
    "CSRF_HEADER",
    "PUBLIC",
    "ROLES",
    "SESSION_COOKIE",
    "STAFF",
    "Credential",
    "User",
    "audit",
    "authorize",
    "current_user",
    "require",
    "require_unit",
]
