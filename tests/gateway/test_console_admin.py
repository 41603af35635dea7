"""The administration screens and the sign-out-everywhere route, over real HTTP: pages only for
admins (others get a 403 page naming the roles, anonymous people are sent to sign in), the
navigation shows the admin entry to admins only, and revoking ends sessions (and tokens)."""

from __future__ import annotations

import requests

from services.gateway.auth.testing import bearer
from tests.gateway.test_auth import Gw, gw  # noqa: F401 - the fixture


def test_admin_pages_for_admins_only(gw: Gw) -> None:  # noqa: F811
    anon = requests.get(f"{gw.base}/console/admin/users", allow_redirects=False)
    assert anon.status_code == 303
    assert anon.headers["Location"].startswith("/console/login?next=/console/admin/users")

    http, _ = gw.admin()
    for path, marker in (
        ("/console/admin/users", 'id="f-create"'),
        ("/console/admin/units", 'id="f-dissolve"'),
    ):
        page = http.get(f"{gw.base}{path}")
        assert page.status_code == 200, page.text
        assert marker in page.text
        assert "<script>" not in page.text  # CSP: scripts are files only
        assert 'href="/console/admin/users"' in page.text  # the nav entry
        assert 'href="/docs/api"' in page.text
    users = http.get(f"{gw.base}/console/admin/users").text
    assert 'value="officer"' in users and "Cán bộ đơn vị" in users
    english = http.get(f"{gw.base}/console/admin/users?lang=en").text
    assert "Create account" in english

    gw.make_user("tong-dai-a", "operator")
    own = gw.first_sign_in("tong-dai-a", _password(gw, "tong-dai-a"))
    operator, _ = gw.login("tong-dai-a", own)
    refused = operator.get(f"{gw.base}/console/admin/users")
    assert refused.status_code == 403
    assert 'id="forbidden"' in refused.text and "admin" in refused.text
    dashboard = operator.get(f"{gw.base}/console/dashboard").text
    assert 'href="/console/admin/users"' not in dashboard  # no entry for other roles
    # the API is the source of truth
    api = requests.get(f"{gw.base}/api/admin/users", headers=bearer(gw.settings, "operator"))
    assert api.status_code == 403


def _password(gw: Gw, username: str) -> str:  # noqa: F811
    """Reset through the admin API (make_user's generated password is not kept)."""
    http, csrf = gw.admin()
    resp = http.post(
        f"{gw.base}/api/admin/users/{username}/password",
        json={"password": "Mat-khau-moi-2026!"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status_code == 200, resp.text
    return "Mat-khau-moi-2026!"


def test_revoke_ends_sessions_and_tokens(gw: Gw) -> None:  # noqa: F811
    gw.make_user("bien-tap-b", "editor")
    password = gw.first_sign_in("bien-tap-b", _password(gw, "bien-tap-b"))
    one, _ = gw.login("bien-tap-b", password)
    two, csrf = gw.login("bien-tap-b", password)
    token = two.post(
        f"{gw.base}/api/auth/tokens", json={"name": "tich hop"}, headers={"X-CSRF-Token": csrf}
    )
    assert token.status_code == 201, token.text
    secret = token.json()["token"]
    assert one.get(f"{gw.base}/api/auth/me").status_code == 200

    admin, admin_csrf = gw.admin()
    url = f"{gw.base}/api/admin/users/bien-tap-b/revoke"
    assert admin.post(url, json={}).status_code == 403  # CSRF still applies
    resp = admin.post(url, json={"tokens": False}, headers={"X-CSRF-Token": admin_csrf})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"sessions": 2, "tokens": 0}
    for http in (one, two):
        expired = http.get(f"{gw.base}/api/auth/me")
        assert expired.status_code == 401 and "sign in again" in expired.json()["detail"]
    me = requests.get(f"{gw.base}/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200  # tokens kept unless asked

    resp = admin.post(url, json={"tokens": True}, headers={"X-CSRF-Token": admin_csrf})
    assert resp.json() == {"sessions": 0, "tokens": 1}
    me = requests.get(f"{gw.base}/api/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 401
    hostile = admin.post(url, json={"tokens": "<script>"}, headers={"X-CSRF-Token": admin_csrf})
    assert hostile.status_code == 422 and hostile.json()["errors"][0]["field"] == "tokens"
    assert [e["target"] for e in gw.audit("account.revoked")] == ["bien-tap-b", "bien-tap-b"]
    # an expired session on a page: to the sign-in page, told why
    page = one.get(f"{gw.base}/console/admin/users", allow_redirects=False)
    assert page.status_code == 303 and "expired=1" in page.headers["Location"]
