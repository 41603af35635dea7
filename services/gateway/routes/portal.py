"""The center's public portal pages: the listing and one published entry per item.

The portal channel's deliveries link to `<public_url>/portal/<item id>` (publishing's portal
transmitter builds that link from its portal_url); these routes answer it. The listing comes from
publishing's `listing` RPC (published, not withdrawn, newest first), one entry from its
`portal_entry` RPC, so a withdrawn or unknown item is a 404 page. Everything shown is escaped;
the body, already sanitized by publishing when it was written, is cleaned once more here with
the same allowlist before it is marked safe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import nh3
from markupsafe import Markup
from werkzeug.wrappers import Response

from services.gateway.console.i18n import LANG_COOKIE, LANGS, choose, table
from services.gateway.console.pages import templates
from services.gateway.http import RequestContext, route
from shared.runtime.rpc import as_loa_error

TAGS = ["portal"]
LISTING_LIMIT = 200
"""publishing's listing answers at most this many entries (the newest)."""
_VN = ZoneInfo("Asia/Ho_Chi_Minh")
ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "h2", "h3", "h4", "ul", "ol", "li",
    "blockquote", "a", "img", "figure", "figcaption", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}


def safe_body(body_html: str) -> Markup:
    """The entry's body as markup that can hold no script (allowlisted tags and URL schemes)."""
    return Markup(  # noqa: S704 - nh3 has just removed everything not on the allowlist
        nh3.clean(
            body_html or "",
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes={"http", "https", "mailto"},
            link_rel="noopener noreferrer",
        )
    )


def local_time(value: Any) -> str:
    """An API time (ISO, naive = UTC) as Vietnam's wall clock, dd/mm/yyyy HH:MM."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo("UTC"))
    return at.astimezone(_VN).strftime("%d/%m/%Y %H:%M")


def _entries(ctx: RequestContext) -> list[dict[str, Any]]:
    return list(ctx.services.call("publishing", "listing", LISTING_LIMIT))


def _page(ctx: RequestContext, template: str, status: int = 200, **data: Any) -> Response:
    lang, remember = choose(ctx.request.args, ctx.request.cookies)
    html = (
        templates()
        .get_template(f"portal/{template}")
        .render(t=table(lang), lang=lang, other_lang=LANGS[1 - LANGS.index(lang)], **data)
    )
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-cache" if status == 200 else "no-store"
    if remember:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="Lax", httponly=True
        )
    return response


@route(
    "GET",
    "/portal",
    summary="The portal: published entries, newest first (HTML)",
    tags=TAGS,
    response_content_type="text/html",
    roles=(),
)
def portal_home(ctx: RequestContext) -> Response:
    entries = [{**e, "when": local_time(e.get("published_at"))} for e in _entries(ctx)]
    return _page(ctx, "index.html", entries=entries)


@route(
    "GET",
    "/portal/<item_id>",
    summary="One published portal entry (HTML); 404 for unknown or withdrawn items",
    tags=TAGS,
    response_content_type="text/html",
    responses={200: "The entry", 404: "Not published on the portal (or withdrawn)"},
    roles=(),
)
def portal_entry(ctx: RequestContext, item_id: str) -> Response:
    try:
        found = ctx.services.call("publishing", "portal_entry", item_id)
    except Exception as exc:  # noqa: BLE001 - only "not there" becomes the page; others rise
        known = as_loa_error(exc)
        if known is None or known.status != 404:
            raise
        return _page(ctx, "missing.html", status=404, item_id=item_id)
    entry = {
        **found,
        "body": safe_body(found.get("body_html", "")),
        "published": local_time(found.get("published_at")),
        "updated": local_time(found.get("updated_at")),
    }
    return _page(ctx, "entry.html", entry=entry)
