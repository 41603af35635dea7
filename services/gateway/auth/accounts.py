"""Accounts, sessions, API tokens and the audit log: plain functions over a database session.

No HTTP here: the routes (services/gateway/routes/auth.py, admin.py) and the request guard
(guard.py) call these. Secrets handed to clients (session cookie, API token) are 256-bit random
strings; only their SHA-256 is stored, so the tables leak nothing replayable.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import unicodedata
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.gateway.auth.passwords import (
    check_policy,
    dummy_hash,
    hash_password,
    needs_rehash,
    verify_password,
)
from services.gateway.auth.policy import ROLES
from services.gateway.models import api_tokens, audit_log, auth_sessions, users
from shared.errors import Conflict, Forbidden, InvalidInput, LoaError, NotFound, Unauthorized
from shared.ids import new_id

SESSION_TTL = timedelta(hours=12)
"""A console session ends after a working day at most, whatever the activity."""
SESSION_IDLE = timedelta(hours=2)
"""…and after two hours without a request."""
TOUCH_EVERY = timedelta(minutes=1)
"""last_seen_at / last_used_at are written at most this often (no write per request)."""
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
IP_FAILURES = 20
IP_WINDOW = timedelta(minutes=5)
"""Failed logins allowed from one client address per window before it must wait."""
TOKEN_DAYS = 90
"""Lifetime of an API token when the caller gives none (LOA_API_TOKEN_DAYS)."""
TOKEN_PREFIX = "loa_"
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
FAILED_ACTIONS = ("auth.login_failed", "auth.login_locked")
_VN = ZoneInfo("Asia/Ho_Chi_Minh")


class TooManyAttempts(LoaError):
    status = 429
    title = "Quá nhiều lần đăng nhập sai / Too many failed logins"
    slug = "too-many-logins"


class AccountLocked(LoaError):
    status = 423
    title = "Tài khoản tạm khoá / Account locked"
    slug = "account-locked"


class PasswordChangeRequired(Forbidden):
    title = "Cần đổi mật khẩu / Password change required"
    slug = "password-change-required"


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were written as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    """An account as the routes see it (never with its hash)."""

    id: str
    username: str
    display_name: str
    role: str
    unit_id: str | None
    active: bool
    locked_until: datetime | None = None
    last_login_at: datetime | None = None
    created_at: datetime | None = None
    must_change_password: bool = False
    """Set on the first admin and on passwords an admin set (new account, reset): until changed,
    the account's sign-ins may only change it (guard.py)."""

    @classmethod
    def of(cls, row: RowMapping) -> User:
        return cls(
            id=row["id"],
            username=row["username"],
            display_name=row["display_name"],
            role=row["role"],
            unit_id=row["unit_id"],
            active=bool(row["active"]),
            locked_until=_aware(row["locked_until"]),
            last_login_at=_aware(row["last_login_at"]),
            created_at=_aware(row["created_at"]),
            must_change_password=bool(row.get("must_change_password")),
        )

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("locked_until", "last_login_at", "created_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass(frozen=True)
class Credential:
    """How a request proved who it is: a console session (needs CSRF) or an API token."""

    kind: str  # "session" | "token"
    id: str
    user: User
    csrf_token: str | None = None
    expires_at: datetime | None = None


# --------------------------------------------------------------------------------- accounts


def clean_username(username: str) -> str:
    name = unicodedata.normalize("NFC", username).strip().lower()
    if not USERNAME.fullmatch(name):
        raise InvalidInput(
            "Tên đăng nhập gồm 2–64 ký tự a-z, 0-9, '.', '_', '-' / the username must be 2–64 "
            "characters of a-z, 0-9, '.', '_', '-'",
            "username",
        )
    return name


def check_role(role: str, unit_id: str | None) -> None:
    if role not in ROLES:
        raise InvalidInput(
            f"Vai trò không hợp lệ / unknown role '{role}'; one of: {', '.join(ROLES)}", "role"
        )
    if role == "officer" and not unit_id:
        raise InvalidInput(
            "Cán bộ đơn vị cần mã đơn vị / an officer account needs a unit_id", "unit_id"
        )


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    unit_id: str | None = None,
    must_change_password: bool = False,
) -> User:
    name = clean_username(username)
    check_role(role, unit_id)
    check_policy(password, name)
    at = now()
    row = {
        "id": new_id(),
        "username": name,
        "display_name": unicodedata.normalize("NFC", display_name.strip()) or name,
        "role": role,
        "unit_id": unit_id or None,
        "active": True,
        "password_hash": hash_password(password),
        "failed_logins": 0,
        "must_change_password": must_change_password,
        "password_changed_at": at,
        "created_at": at,
        "updated_at": at,
    }
    if session.execute(select(users.c.id).where(users.c.username == name)).first():
        raise Conflict(f"Tên đăng nhập '{name}' đã có / username '{name}' is taken", "username")
    try:
        with session.begin_nested():
            session.execute(insert(users).values(**row))
    except IntegrityError:
        raise Conflict(
            f"Tên đăng nhập '{name}' đã có / username '{name}' is taken", "username"
        ) from None
    return get_user(session, row["id"])


def get_user(session: Session, user_id: str) -> User:
    row = session.execute(select(users).where(users.c.id == user_id)).mappings().first()
    if row is None:
        raise NotFound(f"Không có tài khoản / no account {user_id}", "user_id")
    return User.of(row)


def find_user(session: Session, key: str) -> User:
    """By id or username (admins type usernames)."""
    row = (
        session.execute(
            select(users).where(or_(users.c.id == key, users.c.username == key.lower()))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"Không có tài khoản / no account '{key}'", "user_id")
    return User.of(row)


def list_users(session: Session, include_inactive: bool = True) -> list[User]:
    query = select(users).order_by(users.c.username)
    if not include_inactive:
        query = query.where(users.c.active.is_(True))
    return [User.of(r) for r in session.execute(query).mappings()]


def update_user(session: Session, user: User, changes: dict[str, Any]) -> User:
    """Change display name, role, unit or active; a deactivated account loses its credentials."""
    values: dict[str, Any] = {}
    if "display_name" in changes and changes["display_name"] is not None:
        values["display_name"] = unicodedata.normalize("NFC", changes["display_name"].strip())
    role = changes.get("role") or user.role
    unit_id = changes.get("unit_id", user.unit_id)
    check_role(role, unit_id)
    values.update(role=role, unit_id=unit_id or None)
    if "active" in changes and changes["active"] is not None:
        values["active"] = bool(changes["active"])
    values["updated_at"] = now()
    session.execute(update(users).where(users.c.id == user.id).values(**values))
    if values.get("active") is False or values["role"] != user.role:
        revoke_all(session, user.id, tokens=values.get("active") is False)
    return get_user(session, user.id)


def set_password(
    session: Session,
    user: User,
    password: str,
    keep_session: str | None = None,
    must_change: bool = False,
) -> None:
    """A new password; the lock-out is lifted, and every session (but `keep_session`, the one
    that made the change) and every API token of the account end: whoever knew the old password
    must not keep what they opened with it. `must_change`: someone else set it (an admin's
    reset), so the account must change it at its next sign-in; else a required change is done."""
    check_policy(password, user.username)
    session.execute(
        update(users)
        .where(users.c.id == user.id)
        .values(
            password_hash=hash_password(password),
            password_changed_at=now(),
            updated_at=now(),
            failed_logins=0,
            locked_until=None,
            must_change_password=must_change,
        )
    )
    revoke_all(session, user.id, tokens=True, except_session=keep_session)


def unlock(session: Session, user: User) -> None:
    session.execute(
        update(users).where(users.c.id == user.id).values(failed_logins=0, locked_until=None)
    )


def revoke_all(
    session: Session, user_id: str, tokens: bool, except_session: str | None = None
) -> tuple[int, int]:
    """End the account's console sessions (and API tokens if asked): how many of each."""
    at = now()
    which = [auth_sessions.c.user_id == user_id, auth_sessions.c.revoked_at.is_(None)]
    if except_session is not None:
        which.append(auth_sessions.c.id != except_session)
    ended = session.execute(update(auth_sessions).where(*which).values(revoked_at=at)).rowcount
    revoked = 0
    if tokens:
        revoked = session.execute(
            update(api_tokens)
            .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        ).rowcount
    return int(ended or 0), int(revoked or 0)


# --------------------------------------------------------------------------------- login


def check_ip(session: Session, ip: str) -> None:
    """Too many failed logins from one address (password spraying) → wait."""
    since = now() - IP_WINDOW
    rows = session.execute(
        select(func.count(), func.min(audit_log.c.at)).where(
            audit_log.c.ip == ip, audit_log.c.action.in_(FAILED_ACTIONS), audit_log.c.at > since
        )
    ).one()
    if rows[0] >= IP_FAILURES:
        oldest = _aware(rows[1]) or now()
        wait = max(1, int((oldest + IP_WINDOW - now()).total_seconds()) + 1)
        exc = TooManyAttempts(
            f"Quá nhiều lần đăng nhập sai từ địa chỉ này; hãy thử lại sau {wait} giây / too many "
            f"failed logins from this address; try again in {wait} seconds"
        )
        exc.headers = {"Retry-After": str(wait)}  # type: ignore[attr-defined]
        raise exc


def authenticate(session: Session, username: str, password: str) -> tuple[User | None, str]:
    """Check a password. Returns (user, outcome): outcome is 'ok', 'bad' (wrong name or password),
    'locked' or 'inactive'; the login route answers all but 'ok' alike.

    The attempt is counted before the password is checked, in one UPDATE that only an unlocked
    account passes (failed_logins = failed_logins + 1): concurrent guesses each get their own
    number, and past MAX_FAILED_LOGINS no password is checked at all. On PostgreSQL the row
    stays locked until the caller's transaction ends, so attempts on one account queue up.
    Every path hashes once (a dummy hash when nothing real is checked): similar timing."""
    name = unicodedata.normalize("NFC", username).strip().lower()
    row = session.execute(select(users).where(users.c.username == name)).mappings().first()
    if row is None:
        verify_password(dummy_hash(), password)
        return None, "bad"
    at = now()
    unlocked = or_(users.c.locked_until.is_(None), users.c.locked_until <= at)
    counted = session.execute(
        update(users)
        .where(users.c.id == row["id"], unlocked)
        .values(failed_logins=users.c.failed_logins + 1)
        .returning(users.c.failed_logins)
    ).scalar()
    if counted is None or counted > MAX_FAILED_LOGINS:  # locked now, or locked meanwhile
        verify_password(dummy_hash(), password)
        if counted is not None:
            _lock(session, row["id"], at)
        return get_user(session, row["id"]), "locked"
    if not verify_password(row["password_hash"], password):
        if counted >= MAX_FAILED_LOGINS:
            _lock(session, row["id"], at)
            return get_user(session, row["id"]), "locked"
        return User.of(row), "bad"
    user = User.of(row)
    if not user.active:
        session.execute(update(users).where(users.c.id == user.id).values(failed_logins=0))
        return user, "inactive"
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_login_at": at}
    if needs_rehash(row["password_hash"]):
        values["password_hash"] = hash_password(password)
    session.execute(update(users).where(users.c.id == user.id).values(**values))
    return get_user(session, user.id), "ok"


def _lock(session: Session, user_id: str, at: datetime) -> None:
    """Lock the account for LOCKOUT; the count starts again when the lock ends."""
    session.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(failed_logins=0, locked_until=at + LOCKOUT)
    )


def locked_error(user: User) -> AccountLocked:
    until = user.locked_until or now()
    wait = max(1, int((until - now()).total_seconds()) + 1)
    local = until.astimezone(_VN).strftime("%H:%M")
    exc = AccountLocked(
        f"Tài khoản tạm khoá sau {MAX_FAILED_LOGINS} lần nhập sai mật khẩu, đến {local}; hãy thử "
        f"lại sau hoặc nhờ quản trị viên mở khoá / the account is locked after "
        f"{MAX_FAILED_LOGINS} failed logins until {local} (Asia/Ho_Chi_Minh); try again later "
        f"or ask an administrator to unlock it"
    )
    exc.headers = {"Retry-After": str(wait)}  # type: ignore[attr-defined]
    return exc


def bad_login() -> Unauthorized:
    """The one answer to every failed sign-in: it does not tell whether the account exists, is
    locked or deactivated, or whether the password was right (the audit log does, for admins)."""
    return Unauthorized(
        f"Sai tên đăng nhập hoặc mật khẩu (sau {MAX_FAILED_LOGINS} lần sai, tài khoản tạm khoá "
        f"{int(LOCKOUT.total_seconds() // 60)} phút; quản trị viên có thể mở khoá) / wrong "
        f"username or password (after {MAX_FAILED_LOGINS} failures an account is locked for "
        f"{int(LOCKOUT.total_seconds() // 60)} minutes; an administrator can unlock it)",
        "password",
    )


# --------------------------------------------------------------------------------- sessions


def open_session(
    session: Session, user: User, ip: str | None, user_agent: str | None
) -> tuple[str, Credential]:
    """A new console session: the cookie value (returned once) and its credential."""
    secret = secrets.token_urlsafe(32)
    at = now()
    row = {
        "id": new_id(),
        "secret_hash": digest(secret),
        "user_id": user.id,
        "csrf_token": secrets.token_urlsafe(32),
        "created_at": at,
        "expires_at": at + SESSION_TTL,
        "last_seen_at": at,
        "ip": (ip or "")[:64] or None,
        "user_agent": (user_agent or "")[:300] or None,
    }
    session.execute(insert(auth_sessions).values(**row))
    return secret, Credential("session", row["id"], user, row["csrf_token"], row["expires_at"])


def session_credential(session: Session, secret: str) -> Credential | None:
    """The live session behind a cookie value, or None (unknown, revoked, expired, idle)."""
    row = (
        session.execute(
            select(
                auth_sessions.c.id.label("credential_id"),
                auth_sessions.c.csrf_token,
                auth_sessions.c.expires_at.label("credential_expires_at"),
                auth_sessions.c.last_seen_at,
                auth_sessions.c.revoked_at,
                *users.c,
            )
            .join(users, users.c.id == auth_sessions.c.user_id)
            .where(auth_sessions.c.secret_hash == digest(secret))
        )
        .mappings()
        .first()
    )
    if row is None or row["revoked_at"] is not None or not row["active"]:
        return None
    at = now()
    expires_at = _aware(row["credential_expires_at"])
    last_seen = _aware(row["last_seen_at"])
    assert expires_at is not None and last_seen is not None
    if expires_at <= at or last_seen + SESSION_IDLE <= at:
        return None
    if at - last_seen > TOUCH_EVERY:
        session.execute(
            update(auth_sessions)
            .where(auth_sessions.c.id == row["credential_id"])
            .values(last_seen_at=at)
        )
    return Credential("session", row["credential_id"], User.of(row), row["csrf_token"], expires_at)


def close_session(session: Session, session_id: str) -> None:
    session.execute(
        update(auth_sessions)
        .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )


# --------------------------------------------------------------------------------- tokens


def create_token(
    session: Session,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    days: int = TOKEN_DAYS,
) -> tuple[str, dict[str, Any]]:
    """A named API token for integrations: the secret is returned once and stored hashed. It
    ends after `days` (LOA_API_TOKEN_DAYS) unless an earlier end is asked for: a forgotten token
    on an integration's server must not work forever."""
    label = unicodedata.normalize("NFC", name).strip()
    if not label or len(label) > 100:
        raise InvalidInput("the token name must be 1–100 characters", "name")
    latest = now() + timedelta(days=days)
    if expires_at is None:
        expires_at = latest
    elif _aware(expires_at) <= now():  # type: ignore[operator]
        raise InvalidInput("expires_at is in the past", "expires_at")
    elif _aware(expires_at) > latest + timedelta(minutes=1):  # type: ignore[operator]
        raise InvalidInput(
            f"Token dùng tối đa {days} ngày / expires_at may be at most {days} days from now",
            "expires_at",
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {
        "id": new_id(),
        "user_id": user.id,
        "name": label,
        "prefix": secret[: len(TOKEN_PREFIX) + 6],
        "secret_hash": digest(secret),
        "created_at": now(),
        "expires_at": _aware(expires_at),
    }
    session.execute(insert(api_tokens).values(**row))
    return secret, token_view({**row, "last_used_at": None, "revoked_at": None}, user)


def token_view(row: Any, user: User | None = None) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return _aware(v).isoformat() if v else None  # type: ignore[union-attr]

    view = {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "created_at": iso(row["created_at"]),
        "expires_at": iso(row["expires_at"]),
        "last_used_at": iso(row["last_used_at"]),
        "revoked": row["revoked_at"] is not None,
    }
    if user is not None:
        view["username"] = user.username
    return view


def list_tokens(session: Session, user_id: str | None) -> list[dict[str, Any]]:
    query = select(api_tokens, users.c.username).join(users, users.c.id == api_tokens.c.user_id)
    if user_id is not None:
        query = query.where(api_tokens.c.user_id == user_id)
    rows = session.execute(query.order_by(api_tokens.c.created_at.desc())).mappings()
    return [{**token_view(r), "username": r["username"]} for r in rows]


def get_token(session: Session, token_id: str) -> RowMapping:
    row = session.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
    if row is None:
        raise NotFound(f"Không có token / no token {token_id}", "token_id")
    return row


def revoke_token(session: Session, token_id: str) -> None:
    session.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now())
    )


def token_credential(session: Session, secret: str, days: int = TOKEN_DAYS) -> Credential | None:
    """The live token behind a secret, or None. A token made before tokens had a default end
    (no expires_at) ends `days` after it was made."""
    row = (
        session.execute(
            select(
                api_tokens.c.id.label("credential_id"),
                api_tokens.c.expires_at.label("credential_expires_at"),
                api_tokens.c.created_at.label("credential_created_at"),
                api_tokens.c.last_used_at,
                api_tokens.c.revoked_at,
                *users.c,
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.secret_hash == digest(secret))
        )
        .mappings()
        .first()
    )
    if row is None or row["revoked_at"] is not None or not row["active"]:
        return None
    at = now()
    expires_at = _aware(row["credential_expires_at"])
    if expires_at is None:
        expires_at = _aware(row["credential_created_at"]) + timedelta(days=days)  # type: ignore[operator]
    if expires_at <= at:
        return None
    last = _aware(row["last_used_at"])
    if last is None or at - last > TOUCH_EVERY:
        session.execute(
            update(api_tokens)
            .where(api_tokens.c.id == row["credential_id"])
            .values(last_used_at=at)
        )
    return Credential("token", row["credential_id"], User.of(row), None, expires_at)


# --------------------------------------------------------------------------------- audit


def record(
    session: Session,
    action: str,
    target: str | None = None,
    *,
    actor: User | None = None,
    actor_name: str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> None:
    session.execute(
        insert(audit_log).values(
            id=new_id(),
            at=now(),
            actor_id=actor.id if actor else None,
            actor=(actor.username if actor else actor_name or None),
            action=action,
            target=(target or "")[:200] or None,
            ip=(ip or "")[:64] or None,
            detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None,
            correlation_id=correlation_id,
        )
    )


def audit_entries(
    session: Session,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    limit: int = 100,
    before: str | None = None,
) -> list[dict[str, Any]]:
    conditions = []
    if actor:
        conditions.append(audit_log.c.actor == actor.lower())
    if action:
        conditions.append(
            audit_log.c.action.like(action.rstrip("*") + "%")
            if action.endswith("*")
            else audit_log.c.action == action
        )
    if target:
        conditions.append(audit_log.c.target == target)
    if before:
        conditions.append(audit_log.c.id < before)
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(max(1, min(limit, 1000)))
    if conditions:
        query = query.where(and_(*conditions))
    out = []
    for r in session.execute(query).mappings():
        entry = dict(r)
        entry["at"] = _aware(entry["at"]).isoformat()  # type: ignore[union-attr]
        entry["detail"] = json.loads(entry["detail"]) if entry["detail"] else None
        out.append(entry)
    return out
