"""Every route is checked on the server: the role table covers the whole route table, anonymous
calls to protected routes get 401 and roles without business there get 403 (over real HTTP)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.gateway.auth import authorize
from services.gateway.auth.policy import PUBLIC, ROLES, access_for, describe, is_classified
from services.gateway.auth.testing import issue_token
from services.gateway.http import ROUTES, RequestContext, RouteSpec, openapi_path
from services.gateway.models import metadata
from services.gateway.service import GatewayService
from shared.errors import Forbidden
from shared.runtime.resources import database_for
from tests.gateway.test_auth import Gw, gw  # noqa: F401 - the fixture

# What the brief calls public: probes and documents, signed links, the citizens' side of
# feedback (tickets, tracking, their privacy requests), platform webhooks (own signatures),
# Open311 (own api_key), feeds, unsubscribe links, tus discovery (OPTIONS), the sign-in itself,
# the console's static files, the API reference page and the citizens' portal. Every public
# route, whether in the ACCESS table or declared with @route(roles=()), must match this.
EXPECTED_PUBLIC = re.compile(
    r"^(GET (/|/api/status|/livez|/readyz|/metrics|/openapi\.json|/files/<path:key>)"
    r"|POST /api/auth/login"
    r"|OPTIONS /api/media/uploads.*"
    r"|POST /api/feedback/tickets|GET /api/feedback/(categories|units)"
    r"|(GET|POST) /api/feedback/track/.*|(GET|POST) /api/feedback/webhooks/.*"
    r"|POST /api/feedback/privacy/requests"
    r"|(GET|POST) /open311/v2/.*"
    r"|GET /api/publishing/feeds/.*|(GET|POST) /api/publishing/unsubscribe/.*"
    r"|GET /static/<path:name>|GET /docs/api|GET /portal(/<item_id>)?"
    r"|GET /console(/login|/track)?)$"
)
# Console pages for staff are public routes that guard themselves: without a session they answer
# with a redirect to the sign-in page (test_console_staff_pages_send_strangers_to_sign_in).
CONSOLE_STAFF_PAGES = re.compile(
    r"^GET /console/(dashboard|media|publishing|publishing/<item_id>|calendar|feedback/call"
    r"|feedback/inbox|feedback/tickets/<ticket>|search|admin/users|admin/units)$"
)


def _url(spec: RouteSpec) -> str:
    path = re.sub(r"<(?:\w+:)?fmt>", "json", spec.path)
    return re.sub(r"<(?:\w+:)?\w+>", "x1", path)


def test_every_route_is_classified() -> None:
    # ROUTES fills as the route modules load (services/gateway/service.py loads them all); on
    # an empty table every check below would pass without looking at anything.
    assert GatewayService and len(ROUTES) > 100, len(ROUTES)
    missing = [f"{s.method} {s.path}" for s in ROUTES if not is_classified(s)]
    assert not missing, (
        "add these routes to services/gateway/auth/policy.py ACCESS, or pass roles=… to @route "
        f"(roles=PUBLIC for public ones): {missing}"
    )
    unexpected_public = []
    for spec in ROUTES:
        allowed = access_for(spec)
        assert allowed <= set(ROLES)
        name = f"{spec.method} {spec.path}"
        if allowed == PUBLIC:
            # Wherever it is declared public (ACCESS or @route(roles=())), on purpose only.
            if not (EXPECTED_PUBLIC.match(name) or CONSOLE_STAFF_PAGES.match(name)):
                unexpected_public.append(name)
        else:
            assert "admin" in allowed, f"admins may do everything: {spec.path}"
    assert not unexpected_public, f"public without being expected to be: {unexpected_public}"


def test_console_staff_pages_send_strangers_to_sign_in(gw: Gw) -> None:  # noqa: F811
    pages = [s for s in ROUTES if CONSOLE_STAFF_PAGES.match(f"{s.method} {s.path}")]
    assert len(pages) == 11, [s.path for s in pages]
    for spec in pages:
        if access_for(spec) != PUBLIC:
            continue  # protected by the table instead: the walk above expects its 401
        resp = requests.get(gw.base + _url(spec), allow_redirects=False, timeout=10)
        assert resp.status_code == 303, (spec.path, resp.status_code, resp.text[:200])
        assert resp.headers["Location"].startswith("/console/login?next=/console/"), spec.path


def test_openapi_marks_protected_routes(gw: Gw) -> None:  # noqa: F811
    doc = requests.get(f"{gw.base}/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "loa_session"
    assert schemes["bearer"]["scheme"] == "bearer"
    for spec in ROUTES:
        op = doc["paths"][openapi_path(spec.path)][spec.method.lower()]
        if access_for(spec) == PUBLIC:
            assert op["security"] == []
        else:
            assert op["security"] == [{"session": []}, {"bearer": []}]
            assert "401" in op["responses"] and "403" in op["responses"]
            assert describe(access_for(spec)) in op["description"]


@pytest.fixture
def tokens(gw: Gw) -> Iterator[dict[str, str]]:  # noqa: F811
    yield {
        role: issue_token(gw.settings, role, "so-tttt" if role == "officer" else None)
        for role in ROLES
    }


def test_walk_every_protected_route(gw: Gw, tokens: dict[str, str]) -> None:  # noqa: F811
    """Anonymous → 401 with WWW-Authenticate; each role outside the table's set → 403 naming
    the roles needed. Nothing reaches a service: the guard answers before any handler."""
    checked = 0
    for spec in ROUTES:
        allowed = access_for(spec)
        if allowed == PUBLIC:
            continue
        url = gw.base + _url(spec)
        anon = requests.request(spec.method, url, timeout=10)
        assert anon.status_code == 401, (spec.method, spec.path, anon.text)
        assert anon.headers["WWW-Authenticate"].startswith("Bearer")
        if spec.method != "HEAD":
            assert anon.headers["Content-Type"].startswith("application/problem+json")
        for role in ROLES:
            if role in allowed:
                continue
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            resp = requests.request(spec.method, url, headers=headers, timeout=10)
            assert resp.status_code == 403, (role, spec.method, spec.path, resp.text)
            if spec.method != "HEAD":
                detail = resp.json()["detail"]
                assert f"'{role}'" in detail and describe(allowed) in detail
            checked += 1
    assert checked > 100


def _ctx(gw: Gw, spec: RouteSpec, headers: dict[str, str]) -> RequestContext:  # noqa: F811
    env = EnvironBuilder(method=spec.method, path=_url(spec), headers=headers).get_environ()
    db = database_for(gw.settings, "gateway", metadata)
    return RequestContext(Request(env), None, gw.settings, None, db, {})  # type: ignore[arg-type]


def test_allowed_roles_pass_the_guard(gw: Gw, tokens: dict[str, str]) -> None:  # noqa: F811
    """The other half of the table (the handlers themselves need the services, absent here)."""
    for spec in ROUTES:
        allowed = access_for(spec)
        for role in ROLES:
            ctx = _ctx(gw, spec, {"Authorization": f"Bearer {tokens[role]}"})
            if allowed == PUBLIC or role in allowed:
                authorize(ctx, spec)
                assert ctx.user is None or ctx.user.role == role
            else:
                with pytest.raises(Forbidden):
                    authorize(ctx, spec)


def test_cookie_sessions_need_csrf_on_protected_unsafe_routes(gw: Gw) -> None:  # noqa: F811
    http, csrf = gw.admin()
    for spec in ROUTES:
        if access_for(spec) == PUBLIC or spec.method in ("GET", "HEAD", "OPTIONS"):
            continue
        resp = http.request(spec.method, gw.base + _url(spec), timeout=10)
        assert resp.status_code == 403, (spec.method, spec.path, resp.text)
        assert "X-CSRF-Token" in resp.json()["detail"]


def test_officer_scope(gw: Gw) -> None:  # noqa: F811
    from services.gateway.auth import require_unit

    spec = next(s for s in ROUTES if s.path == "/api/feedback/staff/tickets")
    officer = issue_token(gw.settings, "officer", "so-tttt")
    ctx = _ctx(gw, spec, {"Authorization": f"Bearer {officer}"})
    assert require_unit(ctx, "so-tttt").unit_id == "so-tttt"
    assert require_unit(ctx, None).role == "officer"
    with pytest.raises(Forbidden, match="so-tttt"):
        require_unit(ctx, "ubnd-di-an")
    operator = _ctx(gw, spec, {"Authorization": f"Bearer {issue_token(gw.settings, 'operator')}"})
    assert require_unit(operator, "ubnd-di-an").role == "operator"
    resp = requests.get(
        f"{gw.base}/api/feedback/staff/tickets",
        params={"unit_id": "ubnd-di-an"},
        headers={"Authorization": f"Bearer {officer}"},
        timeout=10,
    )
    assert "so-tttt" in resp.json()["detail"] and resp.status_code == 403
