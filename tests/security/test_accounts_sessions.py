"""Issue 13, low findings on sessions and tokens: the session cookie is Secure whenever the
client reached loa over https (public URL, or a trusted proxy's X-Forwarded-Proto); API tokens
expire by default; a password change ends the account's other sessions and every token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import update

from services.gateway.models import api_tokens
from tests.security import _accounts
from tests.security._accounts import ADMIN_PASSWORD, PROXY_ADDRESS, send

start_gateway = _accounts.start_gateway  # fixture


def _cookie(port: int, source: str, headers: dict[str, str]) -> str:
    resp = send(port, "POST", "/api/auth/login", source=source, headers=headers,
                body={"username": "admin", "password": ADMIN_PASSWORD})  # fmt: skip
    assert resp.status == 200, resp.body
    return resp.headers["set-cookie"]


def test_session_cookie_is_secure_behind_an_https_proxy(start_gateway) -> None:
    gw = start_gateway(trusted_proxies=f"{PROXY_ADDRESS}/32")
    https = {"X-Forwarded-Proto": "https"}
    assert "Secure" in _cookie(gw.port, PROXY_ADDRESS, https)
    assert "Secure" not in _cookie(gw.port, PROXY_ADDRESS, {"X-Forwarded-Proto": "http"})
    # Only a trusted proxy is believed.
    assert "Secure" not in _cookie(gw.port, "127.0.0.3", https)


def test_session_cookie_is_secure_with_an_https_public_url(start_gateway) -> None:
    gw = start_gateway(public_url="https://loa.example.gov.vn")
    assert "Secure" in _cookie(gw.port, "127.0.0.1", {})


def test_api_tokens_expire_by_default(start_gateway) -> None:
    gw = start_gateway(api_token_days=30)
    http, csrf = gw.admin()
    h = {"X-CSRF-Token": csrf}
    made = http.post(f"{gw.base}/api/auth/tokens", json={"name": "cổng"}, headers=h)
    assert made.status_code == 201, made.text
    expires = datetime.fromisoformat(made.json()["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    # Longer than the setting allows: refused, naming the field.
    far = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    too_long = http.post(f"{gw.base}/api/auth/tokens", json={"name": "x", "expires_at": far},
                         headers=h)  # fmt: skip
    assert too_long.status_code == 422 and "expires_at" in too_long.text
    # A token made before tokens had a default end (no expires_at) ends with its lifetime too.
    bearer = {"Authorization": f"Bearer {made.json()['token']}"}
    assert requests.get(f"{gw.base}/api/auth/me", headers=bearer).status_code == 200
    with gw.db.session() as s:
        s.execute(update(api_tokens).values(
            expires_at=None, created_at=datetime.now(UTC) - timedelta(days=31)))  # fmt: skip
    assert requests.get(f"{gw.base}/api/auth/me", headers=bearer).status_code == 401


def test_password_change_revokes_other_sessions_and_every_token(start_gateway) -> None:
    gw = start_gateway()
    password = gw.first_sign_in("bien.tap", gw.make_user("bien.tap", "editor"))
    here, csrf = gw.login("bien.tap", password)
    elsewhere, _ = gw.login("bien.tap", password)
    token = here.post(f"{gw.base}/api/auth/tokens", json={"name": "máy dựng"},
                      headers={"X-CSRF-Token": csrf}).json()["token"]  # fmt: skip
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{gw.base}/api/auth/me", headers=bearer).status_code == 200

    change = {"current_password": password, "new_password": "mới-hơn-2026-x"}
    changed = here.post(f"{gw.base}/api/auth/password", headers={"X-CSRF-Token": csrf}, json=change)
    assert changed.status_code == 204, changed.text
    assert here.get(f"{gw.base}/api/auth/me").status_code == 200  # the session that changed it
    assert elsewhere.get(f"{gw.base}/api/auth/me").status_code == 401
    assert requests.get(f"{gw.base}/api/auth/me", headers=bearer).status_code == 401

    # An admin's reset ends every session and token of the account.
    token = here.post(f"{gw.base}/api/auth/tokens", json={"name": "lại"},
                      headers={"X-CSRF-Token": csrf}).json()["token"]  # fmt: skip
    admin, admin_csrf = gw.admin()
    reset = admin.post(f"{gw.base}/api/admin/users/bien.tap/password",
                       headers={"X-CSRF-Token": admin_csrf})  # fmt: skip
    assert reset.status_code == 200, reset.text
    assert here.get(f"{gw.base}/api/auth/me").status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{gw.base}/api/auth/me", headers=bearer).status_code == 401
