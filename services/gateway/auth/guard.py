"""The request side of access control: who is calling, may they, and the audit trail.

`authorize` runs for every request before its handler (the Router's guard), from the table in
policy.py; routes use `current_user`, `require`, `require_unit` and `audit` for finer checks.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from services.gateway.auth import accounts
from services.gateway.auth.accounts import Credential, User
from services.gateway.auth.policy import OFFICER, PUBLIC, access_for, describe, key
from services.gateway.clients import client_address
from shared.errors import Forbidden, Unauthorized
from shared.logging import correlation_id

if TYPE_CHECKING:
    from services.gateway.http import RequestContext, RouteSpec

log = logging.getLogger(__name__)

SESSION_COOKIE = "loa_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WHILE_PASSWORD_MUST_CHANGE = frozenset(
    {"POST /api/auth/password", "POST /api/auth/logout", "GET /api/auth/me"}
)
"""All an account whose password must change (the first admin's) may call until it has."""
_UNSET = object()


def client_ip(ctx: RequestContext) -> str:
    """The client's address, through the trusted proxies in front (services/gateway/clients.py)."""
    return client_address(ctx)


def _unauthorized(detail: str) -> Unauthorized:
    exc = Unauthorized(detail)
    exc.headers = {"WWW-Authenticate": 'Bearer realm="loa"'}  # type: ignore[attr-defined]
    return exc


def credential(ctx: RequestContext) -> Credential | None:
    """The request's credential (bearer token first, then the session cookie), looked up once.

    A credential that was presented but is not valid is a 401 with the reason, not an anonymous
    request: a console with an expired session must learn it has to sign in again.
    """
    cached = getattr(ctx, "auth", _UNSET)
    if cached is not _UNSET and cached is not None:
        return cached if isinstance(cached, Credential) else None
    header = ctx.request.headers.get("Authorization", "")
    cookie = ctx.request.cookies.get(SESSION_COOKIE)
    found: Credential | None = None
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthorized("Authorization must be 'Bearer <token>'")
        with ctx.db.session() as session:
            found = accounts.token_credential(
                session, secret.strip(), ctx.settings.api_token_days
            )
        if found is None:
            raise _unauthorized(
                "Token không hợp lệ, đã thu hồi hoặc hết hạn / the token is unknown, revoked or "
                "expired"
            )
    elif cookie:
        with ctx.db.session() as session:
            found = accounts.session_credential(session, cookie)
        if found is None:
            raise _unauthorized(
                "Phiên đăng nhập đã hết hạn; hãy đăng nhập lại / the session expired or was "
                "closed; sign in again"
            )
    ctx.auth = found if found is not None else False
    ctx.user = found.user if found is not None else None
    return found


def current_user(ctx: RequestContext) -> User | None:
    """The signed-in account, or None for an anonymous request."""
    found = credential(ctx)
    return found.user if found is not None else None


def require(ctx: RequestContext, *roles: str) -> User:
    """The signed-in account if it has one of roles (any role when none given): 401 / 403."""
    user = current_user(ctx)
    if user is None:
        raise _unauthorized(
            "Cần đăng nhập / sign in first (session cookie, or Authorization: Bearer <token>)"
        )
    if roles and user.role not in roles:
        needed = describe(frozenset(roles))
        raise Forbidden(
            f"Vai trò '{user.role}' không được làm việc này; cần vai trò: {needed} / role "
            f"'{user.role}' may not do this; it needs one of: {needed}"
        )
    return user


def require_unit(ctx: RequestContext, unit_id: str | None) -> User:
    """An officer acts only within their own unit; other roles are not unit-scoped."""
    user = require(ctx)
    if user.role == OFFICER and unit_id is not None and unit_id != user.unit_id:
        raise Forbidden(
            f"Cán bộ đơn vị {user.unit_id} chỉ làm việc với đơn vị của mình / an officer of unit "
            f"{user.unit_id} may act only for that unit, not {unit_id}",
            "unit_id",
        )
    return user


def check_csrf(ctx: RequestContext) -> None:
    """A cookie is sent by the browser on its own; a header is not: unsafe cookie requests must
    echo the session's CSRF token. Bearer tokens are never sent implicitly, so are exempt."""
    found = credential(ctx)
    if found is None or found.kind != "session" or ctx.request.method in SAFE_METHODS:
        return
    sent = ctx.request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, found.csrf_token or ""):
        raise Forbidden(
            f"Thiếu hoặc sai mã chống giả mạo; hãy tải lại trang / the {CSRF_HEADER} header is "
            "missing or does not match this session; reload the page",
            CSRF_HEADER,
        )


def authorize(ctx: RequestContext, spec: RouteSpec) -> None:
    """The Router's guard: the table's roles for the route, and CSRF for cookie sessions."""
    allowed = access_for(spec)
    if allowed == PUBLIC:
        return
    user = require(ctx)
    check_csrf(ctx)
    found = credential(ctx)
    # A sign-in with a password set at installation or by an admin: only the change first. An
    # API token of such an account can only have been made by an admin (for an integration):
    # it is not held back.
    signed_in = found is not None and found.kind == "session"
    if user.must_change_password and signed_in and key(spec) not in WHILE_PASSWORD_MUST_CHANGE:
        raise accounts.PasswordChangeRequired(
            "Hãy đổi mật khẩu ban đầu (do cài đặt hoặc quản trị viên đặt) trước khi làm việc khác "
            "(POST /api/auth/password) / change the initial password (set at installation or by "
            "an administrator) first (POST /api/auth/password); until then only that, "
            "GET /api/auth/me and sign-out are allowed"
        )
    require(ctx, *allowed)


def audit(
    ctx: RequestContext,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    actor: User | None = None,
    actor_name: str | None = None,
) -> None:
    """Record who did what (own transaction: kept even when the request then fails)."""
    if actor is None and actor_name is None:
        cached = getattr(ctx, "auth", None)
        actor = cached.user if isinstance(cached, Credential) else None
    with ctx.db.session() as session:
        accounts.record(
            session,
            action,
            target,
            actor=actor,
            actor_name=actor_name,
            ip=client_ip(ctx),
            detail=detail,
            correlation_id=correlation_id.get(),
        )
    log.info("audit %s %s by %s", action, target or "", actor.username if actor else actor_name)
