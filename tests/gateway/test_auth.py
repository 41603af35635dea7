"""Accounts and sign-in over real HTTP, RabbitMQ and databases: sessions with CSRF, API tokens,
lock-out, per-address throttling, administration and the audit log."""

from __future__ import annotations

import socket
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import update

from services.gateway.auth import accounts
from services.gateway.auth.bootstrap import ensure_first_admin
from services.gateway.models import audit_log, auth_sessions, metadata, users
from shared.config import Settings
from shared.runtime.resources import database_for, forget_databases

ADMIN_PASSWORD = "quản-trị-2019-Bình-Dương"
CHANGED_ADMIN_PASSWORD = "quản-trị-đã-đổi-2026-Bình-Dương"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gw:
    """The running gateway, its settings and a few sign-in helpers."""

    def __init__(self, settings: Settings, base: str) -> None:
        self.settings = settings
        self.base = base
        self.db = database_for(settings, "gateway", metadata)
        self.admin_password = ADMIN_PASSWORD

    def login(self, username: str, password: str) -> tuple[requests.Session, str]:
        http = requests.Session()
        resp = http.post(
            f"{self.base}/api/auth/login", json={"username": username, "password": password}
        )
        assert resp.status_code == 200, resp.text
        return http, resp.json()["csrf_token"]

    def admin(self) -> tuple[requests.Session, str]:
        """The first admin signed in (its required first password change done on first use)."""
        http, csrf = self.login("admin", self.admin_password)
        if http.get(f"{self.base}/api/auth/me").json()["user"]["must_change_password"]:
            changed = http.post(
                f"{self.base}/api/auth/password",
                json={"current_password": ADMIN_PASSWORD, "new_password": CHANGED_ADMIN_PASSWORD},
                headers={"X-CSRF-Token": csrf},
            )
            assert changed.status_code == 204, changed.text
            self.admin_password = CHANGED_ADMIN_PASSWORD
        return http, csrf

    def first_sign_in(self, username: str, password: str) -> str:
        """An account an admin made or reset signs in and changes that password, as it must
        first (then signs out): its own password."""
        http, csrf = self.login(username, password)
        own = f"rieng-{username}-2026-{len(password)}"
        changed = http.post(
            f"{self.base}/api/auth/password",
            json={"current_password": password, "new_password": own},
            headers={"X-CSRF-Token": csrf},
        )
        assert changed.status_code == 204, changed.text
        http.post(f"{self.base}/api/auth/logout", headers={"X-CSRF-Token": csrf})
        return own

    def make_user(self, username: str, role: str, unit_id: str | None = None) -> str:
        http, csrf = self.admin()
        body = {"username": username, "role": role, "unit_id": unit_id, "display_name": username}
        resp = http.post(f"{self.base}/api/admin/users", json=body, headers={"X-CSRF-Token": csrf})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["password"])

    def audit(self, action: str) -> list[dict[str, Any]]:
        http, _ = self.admin()
        resp = http.get(f"{self.base}/api/admin/audit", params={"action": action})
        assert resp.status_code == 200, resp.text
        return list(resp.json()["items"])


@pytest.fixture(params=["sqlite"])
def gw(request, container_factory, make_settings, pg_database) -> Iterator[Gw]:  # type: ignore[no-untyped-def]
    from loa.runner import migrate
    from services.gateway.service import GatewayService
    from shared.runtime.config import nameko_config

    port = _free_port()
    extra = {"gateway_database_url": pg_database("gw")} if request.param == "postgresql" else {}
    settings = make_settings(
        http_host="127.0.0.1",
        http_port=port,
        public_url=f"http://127.0.0.1:{port}",
        admin_password=ADMIN_PASSWORD,
        **extra,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings, ["gateway"])
    container_factory(GatewayService, nameko_config(settings)).start()
    yield Gw(settings, f"http://127.0.0.1:{port}")
    forget_databases()


def problem(resp: requests.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["detail"]
    return body


@pytest.mark.parametrize("gw", ["sqlite", "postgresql"], indirect=True)
def test_session_cookie_csrf_and_logout(gw: Gw) -> None:
    resp = requests.post(
        f"{gw.base}/api/auth/login", json={"username": "Admin ", "password": ADMIN_PASSWORD}
    )
    assert resp.status_code == 200, resp.text
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("loa_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http in this test; https public_url adds it
    body = resp.json()
    assert body["user"]["username"] == "admin" and body["user"]["role"] == "admin"
    assert "password_hash" not in body["user"] and len(body["csrf_token"]) >= 32
    secret = resp.cookies["loa_session"]
    with gw.db.session() as s:  # only a hash of the cookie is stored
        stored = s.execute(auth_sessions.select()).mappings().all()
    assert [r["secret_hash"] for r in stored] == [accounts.digest(secret)]

    http = requests.Session()
    http.cookies.set("loa_session", secret)
    me = http.get(f"{gw.base}/api/auth/me").json()
    assert me["via"] == "session" and me["csrf_token"] == body["csrf_token"]

    # An unsafe request with the cookie alone (what a hostile page can make a browser send).
    detail = problem(http.post(f"{gw.base}/api/auth/logout"), 403)["detail"]
    assert "X-CSRF-Token" in detail
    problem(http.post(f"{gw.base}/api/auth/logout", headers={"X-CSRF-Token": "forged"}), 403)
    out = http.post(f"{gw.base}/api/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert out.status_code == 204
    assert 'loa_session=""' in out.headers["Set-Cookie"] or "Max-Age=0" in out.headers["Set-Cookie"]

    # The server ended the session: the old cookie value is worthless.
    replay = requests.get(f"{gw.base}/api/auth/me", cookies={"loa_session": secret})
    assert "sign in again" in problem(replay, 401)["detail"]
    assert problem(requests.get(f"{gw.base}/api/auth/me"), 401)["type"].endswith("unauthorized")
    assert [e["actor"] for e in gw.audit("auth.logout")] == ["admin"]


def test_expired_and_idle_sessions_end(gw: Gw) -> None:
    http, _ = gw.admin()
    assert http.get(f"{gw.base}/api/auth/me").status_code == 200
    with gw.db.session() as s:
        s.execute(update(auth_sessions).values(expires_at=datetime.now(UTC) - timedelta(1)))
    problem(http.get(f"{gw.base}/api/auth/me"), 401)

    http, _ = gw.admin()
    idle = datetime.now(UTC) - accounts.SESSION_IDLE - timedelta(minutes=1)
    with gw.db.session() as s:
        s.execute(update(auth_sessions).where(auth_sessions.c.revoked_at.is_(None))
                  .values(last_seen_at=idle))  # fmt: skip
    assert "expired" in problem(http.get(f"{gw.base}/api/auth/me"), 401)["detail"]


@pytest.mark.parametrize("gw", ["sqlite", "postgresql"], indirect=True)
def test_lockout_after_five_failures(gw: Gw) -> None:
    password = gw.make_user("tong.dai", "operator")
    url = f"{gw.base}/api/auth/login"
    for _ in range(4):
        body = problem(requests.post(url, json={"username": "tong.dai", "password": "sai"}), 401)
        assert "wrong username or password" in body["detail"]
    # The fifth locks the account; the answer is the same as for a wrong password (no account
    # enumeration: tests/security/test_accounts_login.py), and says locks exist.
    locked = requests.post(url, json={"username": "tong.dai", "password": "sai"})
    body = problem(locked, 401)
    assert body["detail"] == body_detail_of_wrong_password()
    assert "5 failures" in body["detail"] and "administrator" in body["detail"]
    # Locked means locked, even with the right password.
    problem(requests.post(url, json={"username": "tong.dai", "password": password}), 401)
    with gw.db.session() as s:
        assert accounts.find_user(s, "tong.dai").locked_until is not None
    # An unknown name answers like a wrong password.
    unknown = requests.post(url, json={"username": "khong.co", "password": "x"})
    assert problem(unknown, 401)["detail"] == body_detail_of_wrong_password()

    # The lock ends by itself after its time…
    with gw.db.session() as s:
        s.execute(update(users).where(users.c.username == "tong.dai")
                  .values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip
    gw.login("tong.dai", password)
    # …or when an admin lifts it.
    for _ in range(5):
        requests.post(url, json={"username": "tong.dai", "password": "sai"})
    problem(requests.post(url, json={"username": "tong.dai", "password": password}), 401)
    http, csrf = gw.admin()
    resp = http.post(f"{gw.base}/api/admin/users/tong.dai/unlock", headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200 and resp.json()["locked_until"] is None
    gw.login("tong.dai", password)

    failed = gw.audit("auth.login_failed")
    assert sum(1 for e in failed if e["target"] == "tong.dai") == 8
    assert all(e["ip"] == "127.0.0.1" for e in failed)
    assert any(e["target"] == "khong.co" for e in failed)
    assert len(gw.audit("auth.login_locked")) >= 3
    assert [e["target"] for e in gw.audit("account.unlocked")] == ["tong.dai"]


def body_detail_of_wrong_password() -> str:
    return accounts.bad_login().detail


def test_failed_logins_from_one_address_are_throttled(gw: Gw) -> None:
    url = f"{gw.base}/api/auth/login"
    for i in range(accounts.IP_FAILURES):
        resp = requests.post(url, json={"username": f"nguoi.{i}", "password": "doan-mo"})
        assert resp.status_code == 401
    throttled = requests.post(url, json={"username": "admin", "password": ADMIN_PASSWORD})
    assert "try again in" in problem(throttled, 429)["detail"]
    assert 0 < int(throttled.headers["Retry-After"]) <= 301
    with gw.db.session() as s:  # the admin cannot sign in from here either, for now
        assert accounts.audit_entries(s, action="auth.login_throttled")[0]["target"] == "admin"
    # The window passes: the address may try again.
    with gw.db.session() as s:
        s.execute(update(audit_log).values(at=datetime.now(UTC) - timedelta(minutes=6)))
    gw.admin()


def test_api_tokens_are_shown_once_and_revocable(gw: Gw) -> None:
    gw.make_user("bien.tap", "editor")
    http, csrf = gw.admin()
    made = http.post(
        f"{gw.base}/api/auth/tokens",
        json={"name": "Cổng thông tin tỉnh"},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert token.startswith("loa_") and made.json()["prefix"] == token[:10]
    assert made.headers["Cache-Control"] == "no-store"

    listed = http.get(f"{gw.base}/api/auth/tokens").json()["items"]
    assert [t["name"] for t in listed] == ["Cổng thông tin tỉnh"]
    assert token not in str(listed)

    bearer = {"Authorization": f"Bearer {token}"}
    me = requests.get(f"{gw.base}/api/auth/me", headers=bearer).json()
    assert me["via"] == "token" and me["user"]["username"] == "admin" and me["csrf_token"] is None
    # No CSRF header needed with a bearer token (a browser never sends one by itself)…
    assert requests.get(f"{gw.base}/api/admin/users", headers=bearer).status_code == 200
    # …but a token cannot mint more tokens.
    again = requests.post(f"{gw.base}/api/auth/tokens", json={"name": "x"}, headers=bearer)
    assert "session" in problem(again, 403)["detail"]

    # An admin makes a token for an integration account; its owner sees it too.
    for_editor = http.post(
        f"{gw.base}/api/auth/tokens",
        json={"name": "máy dựng", "username": "bien.tap"},
        headers={"X-CSRF-Token": csrf},
    ).json()
    editor_bearer = {"Authorization": f"Bearer {for_editor['token']}"}
    assert (
        requests.get(f"{gw.base}/api/auth/me", headers=editor_bearer).json()["user"]["role"]
        == "editor"
    )
    problem(requests.get(f"{gw.base}/api/admin/users", headers=editor_bearer), 403)

    gone = http.delete(
        f"{gw.base}/api/auth/tokens/{made.json()['id']}", headers={"X-CSRF-Token": csrf}
    )
    assert gone.status_code == 204
    assert (
        "revoked" in problem(requests.get(f"{gw.base}/api/auth/me", headers=bearer), 401)["detail"]
    )
    problem(requests.get(f"{gw.base}/api/auth/me", headers={"Authorization": "Basic eDp5"}), 401)
    actions = [e["action"] for e in gw.audit("auth.token_*")]
    assert actions.count("auth.token_created") == 2 and actions.count("auth.token_revoked") == 1


def test_admin_manages_accounts(gw: Gw) -> None:
    http, csrf = gw.admin()
    h = {"X-CSRF-Token": csrf}
    url = f"{gw.base}/api/admin/users"
    made = http.post(url, json={"username": "Can.Bo", "role": "officer", "unit_id": "so-tttt",
                                "display_name": "Trần Văn Bình", "password": "mat-khau-rat-dai"},
                     headers=h)  # fmt: skip
    assert made.status_code == 201, made.text
    officer = made.json()["user"]
    assert officer["username"] == "can.bo" and made.json()["password"] is None

    problem(http.post(url, json={"username": "can.bo", "role": "viewer"}, headers=h), 409)
    no_unit = http.post(url, json={"username": "cb2", "role": "officer"}, headers=h)
    assert problem(no_unit, 422)["errors"][0]["field"] == "unit_id"
    weak = http.post(url, json={"username": "cb3", "role": "viewer", "password": "123"}, headers=h)
    assert problem(weak, 422)["errors"][0]["field"] == "password"
    bad_role = http.post(url, json={"username": "cb4", "role": "supervisor"}, headers=h)
    assert "unknown role" in problem(bad_role, 422)["detail"]
    problem(http.post(url, json={"username": "x y", "role": "viewer"}, headers=h), 422)

    # An officer is signed in (their own password first: the admin set this one); an admin moves
    # them to another role: their session ends.
    officer_http, officer_csrf = gw.login("can.bo", gw.first_sign_in("can.bo", "mat-khau-rat-dai"))
    assert "admin" in problem(officer_http.get(url), 403)["detail"]
    changed = http.patch(f"{url}/can.bo", json={"role": "viewer", "unit_id": None}, headers=h)
    assert changed.json()["role"] == "viewer" and changed.json()["unit_id"] is None
    problem(officer_http.get(f"{gw.base}/api/auth/me"), 401)

    # Password reset: a generated password, shown once; the old one stops working.
    reset = http.post(f"{url}/can.bo/password", headers=h)
    new_password = reset.json()["password"]
    assert len(new_password) >= 16
    old = {"username": "can.bo", "password": "mat-khau-rat-dai"}
    problem(requests.post(f"{gw.base}/api/auth/login", json=old), 401)
    assert reset.json()["user"]["must_change_password"] is True  # the admin knows it
    new_password = gw.first_sign_in("can.bo", new_password)
    viewer_http, viewer_csrf = gw.login("can.bo", new_password)
    token = viewer_http.post(f"{gw.base}/api/auth/tokens", json={"name": "t"},
                             headers={"X-CSRF-Token": viewer_csrf}).json()["token"]  # fmt: skip

    # Deactivation ends sessions and tokens; a correct password then fails like a wrong one.
    assert http.delete(f"{url}/can.bo", headers=h).status_code == 204
    problem(viewer_http.get(f"{gw.base}/api/auth/me"), 401)
    bearer = {"Authorization": f"Bearer {token}"}
    problem(requests.get(f"{gw.base}/api/auth/me", headers=bearer), 401)
    denied = requests.post(f"{gw.base}/api/auth/login",
                           json={"username": "can.bo", "password": new_password})  # fmt: skip
    assert problem(denied, 401)["detail"] == body_detail_of_wrong_password()
    assert [e["target"] for e in gw.audit("auth.login_inactive")] == ["can.bo"]

    # An admin cannot lock themselves out.
    problem(http.patch(f"{url}/admin", json={"role": "viewer"}, headers=h), 409)
    problem(http.delete(f"{url}/admin", headers=h), 409)

    listed = http.get(url).json()["items"]
    assert {u["username"]: u["active"] for u in listed} == {"admin": True, "can.bo": False}
    actions = [(e["action"], e["actor"], e["target"]) for e in gw.audit("account.*")]
    assert ("account.created", "admin", "can.bo") in actions
    assert ("account.updated", "admin", "can.bo") in actions
    assert ("account.password_reset", "admin", "can.bo") in actions
    assert ("account.deactivated", "admin", "can.bo") in actions
    assert ("account.created", "system", "admin") in actions  # the bootstrap


def test_own_password_change_and_vietnamese_passwords(gw: Gw) -> None:
    """A password typed as NFD on a phone matches the same password typed as NFC."""
    http, csrf = gw.admin()
    current = gw.admin_password
    nfc = unicodedata.normalize("NFC", "Mật khẩu Đổi mới 2026")
    resp = http.post(f"{gw.base}/api/auth/password",
                     json={"current_password": "sai", "new_password": nfc},
                     headers={"X-CSRF-Token": csrf})  # fmt: skip
    problem(resp, 401)
    resp = http.post(f"{gw.base}/api/auth/password",
                     json={"current_password": current, "new_password": nfc},
                     headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status_code == 204, resp.text
    gw.login("admin", unicodedata.normalize("NFD", nfc))
    # Setting LOA_ADMIN_PASSWORD again at the next start does not undo the change.
    assert ensure_first_admin(gw.db, gw.settings) is False
    gw.login("admin", nfc)


def test_first_admin_only_when_configured(gw: Gw, make_settings) -> None:  # type: ignore[no-untyped-def]
    other = make_settings(data_dir=gw.settings.data_dir / "other", admin_password=None)
    other.data_dir.mkdir(parents=True)
    from loa.runner import migrate

    migrate(other, ["gateway"])
    db = database_for(other, "gateway", metadata)
    assert ensure_first_admin(db, other) is False
    with db.session() as s:
        assert accounts.list_users(s) == []
    short = other.model_copy(update={"admin_password": "short"})
    with pytest.raises(Exception, match="at least 10"):
        ensure_first_admin(db, short)
