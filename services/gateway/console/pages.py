"""The console's pages: server-rendered HTML shells (jinja2, autoescaped) whose scripts in
services/gateway/static/js/ fill them from the JSON API with the signed-in session.

Every page but the sign-in and the public tracking page needs a signed-in account: without one
(or with an expired session) the page answers with a redirect to the sign-in page, which brings
the person back afterwards. The API checks every action again; the pages only save a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.wrappers import Response

from services.gateway.auth.accounts import Credential
from services.gateway.auth.guard import credential
from services.gateway.auth.policy import ADMIN_ONLY, ROLES, describe
from services.gateway.console.i18n import LANG_COOKIE, LANGS, choose, table
from services.gateway.console.static import static_url
from services.gateway.http import RequestContext, route
from shared.errors import Unauthorized

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TAGS = ["console"]
HTML = "text/html"


@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    return env


@dataclass(frozen=True)
class NavEntry:
    key: str
    href: str
    roles: frozenset[str] = frozenset()
    """Who sees the entry (empty: every signed-in account); the pages and the API check again."""


NAV: tuple[NavEntry, ...] = (
    NavEntry("dashboard", "/console/dashboard"),
    NavEntry("media", "/console/media"),
    NavEntry("publishing", "/console/publishing"),
    NavEntry("calendar", "/console/calendar"),
    NavEntry("call", "/console/feedback/call"),
    NavEntry("inbox", "/console/feedback/inbox"),
    NavEntry("search", "/console/search"),
    NavEntry("admin", "/console/admin/users", ADMIN_ONLY),
)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console path of this site (no open redirect)."""
    if not target or not target.startswith("/console") or target.startswith("//"):
        return "/console/dashboard"
    if "\\" in target or "\r" in target or "\n" in target:
        return "/console/dashboard"
    return target


def _signed_in(ctx: RequestContext) -> tuple[Credential | None, bool]:
    """The session's credential, and whether a session was presented but has expired."""
    try:
        return credential(ctx), False
    except Unauthorized:
        return None, True


def _redirect(location: str) -> Response:
    response = Response(status=303)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response


def render(
    ctx: RequestContext,
    template: str,
    page: str,
    cred: Credential | None,
    status: int = 200,
    **data: Any,
) -> Response:
    """One page in the person's language, remembering a language picked with ?lang=."""
    lang, remember = choose(ctx.request.args, ctx.request.cookies)
    strings = table(lang)
    other = LANGS[1 - LANGS.index(lang)]
    html = (
        templates()
        .get_template(f"console/{template}")
        .render(
            t=strings,
            lang=lang,
            other_lang=other,
            page=page,
            nav=NAV,
            user=cred.user.public() if cred is not None else None,
            csrf_token=(cred.csrf_token or "") if cred is not None else "",
            path=ctx.request.path,
            **data,
        )
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    if remember:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="Lax", httponly=True
        )
    return response


def staff_page(
    ctx: RequestContext,
    template: str,
    page: str,
    roles: frozenset[str] = frozenset(),
    **data: Any,
) -> Response:
    """A page for signed-in staff; others are sent to sign in and brought back. With roles,
    other accounts get a 403 page saying which roles may (the API refuses them anyway)."""
    cred, expired = _signed_in(ctx)
    if cred is None or cred.user.must_change_password:  # the sign-in page asks for the change
        target = ctx.request.full_path.rstrip("?")
        suffix = "&expired=1" if expired else ""
        return _redirect(f"/console/login?next={quote(target, safe='/')}{suffix}")
    if roles and cred.user.role not in roles:
        return render(ctx, "forbidden.html", page, cred, status=403, needed=describe(roles))
    return render(ctx, template, page, cred, **data)


def _page_route(path: str, summary: str) -> Any:
    return route("GET", path, summary=summary, tags=TAGS, response_content_type=HTML, roles=())


@_page_route("/console", "The console's front door (to the dashboard or to sign in)")
def console_home(ctx: RequestContext) -> Response:
    return _redirect("/console/dashboard")


@_page_route("/console/login", "Sign-in page")
def login_page(ctx: RequestContext) -> Response:
    cred, expired = _signed_in(ctx)
    target = safe_next(ctx.request.args.get("next"))
    if cred is not None and cred.kind == "session" and cred.user.must_change_password:
        return render(ctx, "login.html", "login", cred, next=target, change=True)
    if cred is not None and cred.kind == "session":
        return _redirect(target)
    return render(
        ctx,
        "login.html",
        "login",
        None,
        next=target,
        expired=expired or ctx.request.args.get("expired") == "1",
    )


@_page_route("/console/dashboard", "Dashboard: plan, tickets on time, satisfaction, transcoding")
def dashboard_page(ctx: RequestContext) -> Response:
    return staff_page(ctx, "dashboard.html", "dashboard")


@_page_route("/console/media", "Media: upload, transcode progress, players")
def media_page(ctx: RequestContext) -> Response:
    return staff_page(ctx, "media.html", "media", asset_id=ctx.request.args.get("asset", ""))


@_page_route("/console/publishing", "Publishing: items, workflow, schedules, deliveries")
def publishing_page(ctx: RequestContext) -> Response:
    return staff_page(ctx, "publishing.html", "publishing", item_id="")


@_page_route("/console/publishing/<item_id>", "Publishing: one item")
def publishing_item_page(ctx: RequestContext, item_id: str) -> Response:
    return staff_page(ctx, "publishing.html", "publishing", item_id=item_id)


@_page_route("/console/calendar", "Calendar of scheduled deliveries (week, month)")
def calendar_page(ctx: RequestContext) -> Response:
    view = "week" if ctx.request.args.get("view") == "week" else "month"
    return staff_page(ctx, "calendar.html", "calendar", view=view)


@_page_route("/console/feedback/call", "Hotline operator's call screen")
def call_page(ctx: RequestContext) -> Response:
    return staff_page(ctx, "call.html", "call", call_id=ctx.request.args.get("call_id", ""))


@_page_route("/console/feedback/inbox", "The unit's tickets by deadline")
def inbox_page(ctx: RequestContext) -> Response:
    return staff_page(ctx, "inbox.html", "inbox")


@_page_route("/console/feedback/tickets/<ticket>", "One ticket: answer, publish, merge")
def ticket_page(ctx: RequestContext, ticket: str) -> Response:
    return staff_page(ctx, "ticket.html", "inbox", ticket=ticket)


@_page_route("/console/search", "Search everything")
def search_page(ctx: RequestContext) -> Response:
    return staff_page(ctx, "search.html", "search", q=ctx.request.args.get("q", ""))


@_page_route("/console/track", "Public look-up of a ticket by its tracking code")
def track_page(ctx: RequestContext) -> Response:
    cred, _ = _signed_in(ctx)
    return render(ctx, "track.html", "track", cred, code=ctx.request.args.get("code", ""))


@_page_route("/console/admin/users", "Administration: accounts (admin only)")
def admin_users_page(ctx: RequestContext) -> Response:
    return staff_page(
        ctx, "admin_users.html", "admin", ADMIN_ONLY, section="users", all_roles=ROLES
    )


@_page_route("/console/admin/units", "Administration: units (admin only)")
def admin_units_page(ctx: RequestContext) -> Response:
    return staff_page(ctx, "admin_units.html", "admin", ADMIN_ONLY, section="units")
