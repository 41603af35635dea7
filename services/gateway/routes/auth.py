"""Sign-in for people (a server-side session in an HttpOnly cookie, with a CSRF token) and named
bearer tokens for integrations. Access rules: services/gateway/auth/policy.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from werkzeug.wrappers import Response

from services.gateway.auth import accounts
from services.gateway.auth.accounts import Credential
from services.gateway.auth.bootstrap import FIRST_ADMIN
from services.gateway.auth.guard import (
    SESSION_COOKIE,
    audit,
    client_ip,
    credential,
    require,
)
from services.gateway.auth.policy import ADMIN
from services.gateway.clients import client_key, is_https, limiter
from services.gateway.http import RequestContext, json_response, route
from shared.errors import Forbidden, InvalidInput, LoaError, NotFound
from shared.logging import correlation_id

TAGS = ["auth"]


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    unit_id: str | None = None
    active: bool = True
    locked_until: str | None = None
    last_login_at: str | None = None
    created_at: str | None = None
    must_change_password: bool = Field(
        False,
        description="The password was set at installation or by an admin: until changed, a "
        "sign-in may only use POST /api/auth/password, me and logout",
    )


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, examples=["bien.tap"])
    password: str = Field(min_length=1, max_length=1000, examples=["mật-khẩu-dài"])


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send as X-CSRF-Token on POST/PUT/PATCH/DELETE")
    expires_at: str


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["cổng thông tin / portal sync"])
    expires_at: datetime | None = Field(
        None, description="ISO time; at most (and by default) LOA_API_TOKEN_DAYS from now"
    )
    username: str | None = Field(None, description="(admin) make it for this account instead")


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: str | None = None
    expires_at: str | None = None
    last_used_at: str | None = None
    revoked: bool = False
    username: str | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret: shown this once, stored only as a hash")


FAILURES_RATE = f"{accounts.IP_FAILURES}/{int(accounts.IP_WINDOW.total_seconds())}"
"""Failed logins per IPv6 /64 in this process. The audit log's count (accounts.check_ip) is per
exact address, across replicas: enough for IPv4, but an IPv6 subscriber rotates addresses
inside its /64 at will."""


def _v6_key(ctx: RequestContext) -> str | None:
    key = client_key(ctx)
    return "login-failures:" + key if "/" in key else None  # IPv6: "<network>/64"


def _throttled(ctx: RequestContext) -> accounts.TooManyAttempts | None:
    key = _v6_key(ctx)
    wait = int(limiter.wait(key, FAILURES_RATE)) + 1 if key else 0
    if wait <= 1:
        return None
    exc = accounts.TooManyAttempts(
        f"Quá nhiều lần đăng nhập sai từ địa chỉ này; hãy thử lại sau {wait} giây / too many "
        f"failed logins from this address; try again in {wait} seconds"
    )
    exc.headers = {"Retry-After": str(wait)}  # type: ignore[attr-defined]
    return exc


def _secure(ctx: RequestContext) -> bool:
    """The cookie is Secure whenever the client came over https (public URL or trusted proxy)."""
    return is_https(ctx)


@route(
    "POST",
    "/api/auth/login",
    summary="Sign in: sets the loa_session cookie, returns the account and the CSRF token",
    tags=TAGS,
    request_model=LoginIn,
    response_model=LoginOut,
    responses={
        200: "Signed in",
        401: "Not signed in: the same answer for a wrong name or password and for a locked or "
        "deactivated account",
        429: "Too many failed logins from this address (Retry-After)",
    },
)
def login(ctx: RequestContext) -> Response:
    """Five wrong passwords in a row lock the account for 15 minutes; twenty failures from one
    address in 5 minutes make that address wait. Every failure gets the same answer (whether the
    account exists, is locked or deactivated is not told); the audit log has the real outcome."""
    body = ctx.json(LoginIn)
    ip = client_ip(ctx)
    name = body.username.strip().lower()[:64]

    def note(action: str, user: accounts.User | None = None) -> None:
        accounts.record(
            session, action, name, actor=user, actor_name=name, ip=ip,
            correlation_id=correlation_id.get(),
        )  # fmt: skip

    error: LoaError | None = None
    with ctx.db.session() as session:
        try:
            accounts.check_ip(session, ip)
        except accounts.TooManyAttempts as exc:
            error = exc
        error = error or _throttled(ctx)
        if error is not None:
            note("auth.login_throttled")
        if error is None:
            user, outcome = accounts.authenticate(session, body.username, body.password)
            if outcome == "locked" and user is not None:
                note("auth.login_locked", user)
                error = accounts.bad_login()
            elif outcome == "inactive":
                note("auth.login_inactive", user)
                error = accounts.bad_login()
            elif outcome != "ok" or user is None:
                note("auth.login_failed", user)
                error = accounts.bad_login()
            else:
                agent = ctx.request.headers.get("User-Agent")
                secret, cred = accounts.open_session(session, user, ip, agent)
                note("auth.login", user)
    if error is not None:  # raised after the commit: failure counts and audit rows are kept
        key = _v6_key(ctx)
        if key and not isinstance(error, accounts.TooManyAttempts):
            limiter.allow(key, FAILURES_RATE)
        raise error
    assert user is not None
    out = LoginOut(
        user=UserOut(**user.public()),
        csrf_token=cred.csrf_token or "",
        expires_at=cred.expires_at.isoformat() if cred.expires_at else "",
    )
    response = json_response(out)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(accounts.SESSION_TTL.total_seconds()),
        path="/",
        secure=_secure(ctx),
        httponly=True,
        samesite="Lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@route(
    "POST",
    "/api/auth/logout",
    summary="Sign out: the session ends on the server and the cookie is cleared",
    tags=TAGS,
    responses={204: "Signed out"},
)
def logout(ctx: RequestContext) -> Response:
    cred = credential(ctx)
    assert cred is not None  # the guard let only signed-in requests through
    if cred.kind == "session":
        with ctx.db.session() as session:
            accounts.close_session(session, cred.id)
    audit(ctx, "auth.logout", cred.user.username)
    response = Response(status=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_secure(ctx), httponly=True, samesite="Lax"
    )
    return response


class MeOut(BaseModel):
    user: UserOut
    via: str = Field(description="session or token")
    csrf_token: str | None = Field(None, description="For a session: the X-CSRF-Token value")
    expires_at: str | None = None


@route(
    "GET",
    "/api/auth/me",
    summary="Who is signed in (and the session's CSRF token)",
    tags=TAGS,
    response_model=MeOut,
    responses={401: "Not signed in or session expired"},
)
def me(ctx: RequestContext) -> Any:
    cred: Credential | None = credential(ctx)
    assert cred is not None
    return MeOut(
        user=UserOut(**cred.user.public()),
        via=cred.kind,
        csrf_token=cred.csrf_token,
        expires_at=cred.expires_at.isoformat() if cred.expires_at else None,
    )


@route(
    "POST",
    "/api/auth/password",
    summary="Change one's own password (other sessions and every API token end)",
    tags=TAGS,
    request_model=PasswordIn,
    responses={
        204: "Changed",
        401: "Current password wrong",
        422: "New password too weak or the same",
    },
)
def change_password(ctx: RequestContext) -> Response:
    """The session making the change stays signed in; every other session and every API token
    of the account end. The first admin's initial password file (data/.admin-password) is
    deleted once that password is changed."""
    cred = credential(ctx)
    assert cred is not None
    user = cred.user
    body = ctx.json(PasswordIn)
    if body.new_password == body.current_password:
        raise InvalidInput(
            "Mật khẩu mới phải khác mật khẩu cũ / the new password must differ from the old one",
            "new_password",
        )
    with ctx.db.session() as session:
        checked, outcome = accounts.authenticate(session, user.username, body.current_password)
    if outcome == "locked" and checked is not None:
        raise accounts.locked_error(checked)
    if outcome != "ok":
        audit(ctx, "auth.password_change_failed", user.username)
        raise accounts.bad_login()
    keep = cred.id if cred.kind == "session" else None
    with ctx.db.session() as session:
        accounts.set_password(session, user, body.new_password, keep_session=keep)
    if user.must_change_password and user.username == FIRST_ADMIN:
        (ctx.settings.data_dir / ".admin-password").unlink(missing_ok=True)
    audit(ctx, "auth.password_changed", user.username)
    return Response(status=204)


@route(
    "GET",
    "/api/auth/tokens",
    summary="One's own API tokens (never their secrets)",
    tags=TAGS,
)
def my_tokens(ctx: RequestContext) -> Any:
    user = require(ctx)
    with ctx.db.session() as session:
        return {"items": accounts.list_tokens(session, user.id)}


@route(
    "POST",
    "/api/auth/tokens",
    summary="Create a named bearer token for an integration (the secret is shown once)",
    tags=TAGS,
    request_model=TokenIn,
    response_model=TokenCreated,
    responses={201: "Created", 403: "Only a signed-in person (not a token) makes tokens"},
)
def create_token(ctx: RequestContext) -> Any:
    """The token acts with its account's role; use `Authorization: Bearer <token>`."""
    cred = credential(ctx)
    assert cred is not None
    if cred.kind != "session":
        raise Forbidden(
            "Token chỉ được tạo khi đăng nhập bằng mật khẩu / tokens are made from a signed-in "
            "session, not with another token"
        )
    body = ctx.json(TokenIn)
    owner = cred.user
    with ctx.db.session() as session:
        if body.username and body.username.lower() != owner.username:
            if owner.role != ADMIN:
                raise Forbidden("only an admin makes tokens for other accounts", "username")
            owner = accounts.find_user(session, body.username)
        secret, view = accounts.create_token(
            session, owner, body.name, body.expires_at, ctx.settings.api_token_days
        )
    audit(ctx, "auth.token_created", owner.username, {"token_id": view["id"], "name": body.name})
    response = json_response(TokenCreated(**view, token=secret), status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@route(
    "DELETE",
    "/api/auth/tokens/<token_id>",
    summary="Revoke a token (its owner or an admin)",
    tags=TAGS,
    responses={204: "Revoked", 404: "No such token"},
)
def revoke_token(ctx: RequestContext, token_id: str) -> Response:
    user = require(ctx)
    with ctx.db.session() as session:
        row = accounts.get_token(session, token_id)
        if row["user_id"] != user.id and user.role != ADMIN:
            raise NotFound(f"Không có token / no token {token_id}", "token_id")
        accounts.revoke_token(session, token_id)
    audit(ctx, "auth.token_revoked", token_id, {"name": row["name"]})
    return Response(status=204)
