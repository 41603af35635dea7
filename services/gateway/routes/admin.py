"""Administration of accounts (admin only, see services/gateway/auth/policy.py): create, change
role or unit, deactivate, reset passwords, unlock; every API token; the audit log."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Response

from services.gateway.auth import accounts
from services.gateway.auth.guard import audit, require
from services.gateway.auth.policy import ROLES
from services.gateway.http import RequestContext, json_response, route
from services.gateway.routes.auth import UserOut
from shared.errors import Conflict

TAGS = ["admin"]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, examples=["tong.dai.1"])
    display_name: str = Field("", max_length=200, examples=["Nguyễn Thị Lan"])
    role: str = Field(description=" | ".join(ROLES), examples=["operator"])
    unit_id: str | None = Field(None, max_length=64, description="Required for an officer")
    password: str | None = Field(
        None, max_length=1000, description="At least 10 characters; generated if omitted"
    )


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(None, max_length=200)
    role: str | None = None
    unit_id: str | None = Field(None, max_length=64)
    active: bool | None = None


class UserCreated(BaseModel):
    user: UserOut
    password: str | None = Field(None, description="The generated password, shown this once")


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, max_length=1000, description="Generated if omitted")


class UserList(BaseModel):
    items: list[UserOut]


def _generated() -> str:
    return secrets.token_urlsafe(12)


@route("GET", "/api/admin/users", summary="Every account", tags=TAGS, response_model=UserList,
       query={"active": "true: only active accounts"})  # fmt: skip
def list_users(ctx: RequestContext) -> Any:
    only_active = ctx.request.args.get("active") == "true"
    with ctx.db.session() as session:
        found = accounts.list_users(session, include_inactive=not only_active)
    return UserList(items=[UserOut(**u.public()) for u in found])


@route(
    "POST",
    "/api/admin/users",
    summary="Create an account (its password must be changed at its first sign-in)",
    tags=TAGS,
    request_model=UserIn,
    response_model=UserCreated,
    responses={201: "Created", 409: "Username taken", 422: "Invalid role, unit or password"},
)
def create_user(ctx: RequestContext) -> Any:
    body = ctx.json(UserIn)
    password = body.password or _generated()
    with ctx.db.session() as session:
        user = accounts.create_user(
            session,
            body.username,
            password,
            body.role,
            body.display_name,
            body.unit_id,
            must_change_password=True,  # the admin knows it: the person sets their own
        )
    audit(ctx, "account.created", user.username, {"role": user.role, "unit_id": user.unit_id})
    out = UserCreated(user=UserOut(**user.public()), password=None if body.password else password)
    response = json_response(out, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@route("GET", "/api/admin/users/<user_id>", summary="One account (by id or username)", tags=TAGS,
       response_model=UserOut)  # fmt: skip
def get_user(ctx: RequestContext, user_id: str) -> Any:
    with ctx.db.session() as session:
        return UserOut(**accounts.find_user(session, user_id).public())


@route(
    "PATCH",
    "/api/admin/users/<user_id>",
    summary="Change display name, role, unit or active (a role change signs the account out)",
    tags=TAGS,
    request_model=UserChange,
    response_model=UserOut,
)
def update_user(ctx: RequestContext, user_id: str) -> Any:
    admin = require(ctx)
    body = ctx.json(UserChange)
    changes = body.model_dump(exclude_unset=True)
    with ctx.db.session() as session:
        user = accounts.find_user(session, user_id)
        if user.id == admin.id and (
            changes.get("active") is False or changes.get("role", user.role) != user.role
        ):
            raise Conflict(
                "Không tự hạ quyền hoặc tự khoá mình / an admin cannot demote or deactivate their "
                "own account (ask another admin)",
                "role",
            )
        updated = accounts.update_user(session, user, changes)
    before = {k: getattr(user, k) for k in changes}
    audit(ctx, "account.updated", user.username, {"before": before, "after": changes})
    return UserOut(**updated.public())


@route(
    "DELETE",
    "/api/admin/users/<user_id>",
    summary="Deactivate an account: sessions and tokens end; the history keeps its name",
    tags=TAGS,
    responses={204: "Deactivated"},
)
def deactivate_user(ctx: RequestContext, user_id: str) -> Response:
    admin = require(ctx)
    with ctx.db.session() as session:
        user = accounts.find_user(session, user_id)
        if user.id == admin.id:
            raise Conflict("an admin cannot deactivate their own account", "user_id")
        accounts.update_user(session, user, {"active": False})
    audit(ctx, "account.deactivated", user.username)
    return Response(status=204)


@route(
    "POST",
    "/api/admin/users/<user_id>/password",
    summary="Reset a password (lifts a lock-out, ends the account's sessions and API tokens; "
    "to be changed at the next sign-in)",
    tags=TAGS,
    request_model=PasswordReset,
    response_model=UserCreated,
)
def reset_password(ctx: RequestContext, user_id: str) -> Any:
    """The account must change the password at its next sign-in (the admin knows this one),
    unless the admin reset their own."""
    admin = require(ctx)
    body = ctx.json(PasswordReset) if ctx.request.get_data(cache=True).strip() else PasswordReset()
    password = body.password or _generated()
    with ctx.db.session() as session:
        user = accounts.find_user(session, user_id)
        accounts.set_password(session, user, password, must_change=user.id != admin.id)
        user = accounts.get_user(session, user.id)
    audit(ctx, "account.password_reset", user.username)
    out = UserCreated(user=UserOut(**user.public()), password=None if body.password else password)
    response = json_response(out)
    response.headers["Cache-Control"] = "no-store"
    return response


@route(
    "POST",
    "/api/admin/users/<user_id>/unlock",
    summary="Lift a lock-out after failed logins",
    tags=TAGS,
    response_model=UserOut,
)
def unlock_user(ctx: RequestContext, user_id: str) -> Any:
    with ctx.db.session() as session:
        user = accounts.find_user(session, user_id)
        accounts.unlock(session, user)
        user = accounts.get_user(session, user.id)
    audit(ctx, "account.unlocked", user.username)
    return UserOut(**user.public())


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokens: bool = Field(False, description="Also revoke every API token of the account")


class Revoked(BaseModel):
    sessions: int = Field(description="Console sessions ended")
    tokens: int = Field(description="API tokens revoked")


@route(
    "POST",
    "/api/admin/users/<user_id>/revoke",
    summary="Sign an account out everywhere: end its sessions (and, if asked, its API tokens)",
    tags=TAGS,
    request_model=RevokeIn,
    response_model=Revoked,
    responses={200: "Revoked", 404: "No such account"},
)
def revoke_credentials(ctx: RequestContext, user_id: str) -> Any:
    body = ctx.json(RevokeIn) if ctx.request.get_data(cache=True).strip() else RevokeIn()
    with ctx.db.session() as session:
        user = accounts.find_user(session, user_id)
        sessions, tokens = accounts.revoke_all(session, user.id, tokens=body.tokens)
    audit(ctx, "account.revoked", user.username, {"sessions": sessions, "tokens": tokens})
    return Revoked(sessions=sessions, tokens=tokens)


@route("GET", "/api/admin/tokens", summary="Every API token (never their secrets)", tags=TAGS,
       query={"username": "only this account's"})  # fmt: skip
def all_tokens(ctx: RequestContext) -> Any:
    name = ctx.request.args.get("username")
    with ctx.db.session() as session:
        owner = accounts.find_user(session, name).id if name else None
        return {"items": accounts.list_tokens(session, owner)}


@route(
    "GET",
    "/api/admin/audit",
    summary="The audit log, newest first: who did what, when, from where",
    tags=TAGS,
    query={
        "actor": "username",
        "action": "e.g. auth.login_failed, or a prefix with * (account.*)",
        "target": "",
        "limit": "1..1000 (default 100)",
        "before": "id of the last entry of the previous page",
    },
)
def audit_log(ctx: RequestContext) -> Any:
    args = ctx.request.args
    limit = int(args["limit"]) if args.get("limit", "").isdigit() else 100
    with ctx.db.session() as session:
        items = accounts.audit_entries(
            session,
            actor=args.get("actor"),
            action=args.get("action"),
            target=args.get("target"),
            limit=limit,
            before=args.get("before"),
        )
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}
