"""Publishing routes: items and their workflow, deliveries, series, channels, feeds, plan."""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Response

from services.gateway.auth import require
from services.gateway.auth.policy import CONTENT_WRITE
from services.gateway.http import RequestContext, UnsupportedMediaType, route

TAGS = ["publishing"]
DOCUMENT_MAX_BYTES = 20 * 1024 * 1024
"""As publishing reads them (services/publishing/domain/pdftext.py)."""


def actor(ctx: RequestContext) -> dict[str, str]:
    """Who acts, and in which role: the signed-in account (its username is stable and readable
    in the item's history). Which roles reach each route: services/gateway/auth/policy.py."""
    user = require(ctx)
    return {"user": user.username, "role": user.role}


class ImageIn(BaseModel):
    key: str
    size: int = Field(ge=0)
    content_type: str = "image/jpeg"
    alt: str = ""


class VariantIn(BaseModel):
    title: str | None = None
    text: str | None = None


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["article", "bulletin", "video_post", "document"] | None = None
    title: str | None = Field(None, max_length=500)
    summary: str | None = Field(None, max_length=5000)
    body: str | None = None
    tags: list[str] | None = None
    topics: list[str] | None = None
    images: list[ImageIn] | None = None
    variants: dict[str, VariantIn] | None = None
    unit_id: str | None = None
    asset_id: str | None = None
    plan_task: int | None = Field(None, ge=1, le=10)
    embargo_until: str | None = None


class TransitionIn(BaseModel):
    action: Literal["submit", "approve", "reject", "withdraw"]
    note: str = ""


class CorrectionIn(BaseModel):
    changes: ItemIn
    note: str = ""


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str
    at: str | None = Field(None, description="ISO time; wall clock in tz unless it has an offset")
    tz: str = "Asia/Ho_Chi_Minh"
    series_id: str | None = None
    options: dict[str, Any] = {}


class SeriesIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    channel: str
    rrule: str = Field(description="RFC 5545 RRULE, e.g. FREQ=MONTHLY;BYMONTHDAY=1,15")
    start: str = Field(description="First occurrence's wall-clock time, e.g. 2026-01-01T07:00")
    tz: str = "Asia/Ho_Chi_Minh"
    plan_task: int | None = Field(None, ge=1, le=10)


class SubscriberIn(BaseModel):
    email: str
    unit_id: str


def _item_data(body: ItemIn) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True, mode="json")


@route("POST", "/api/publishing/items", summary="Create a content item (draft)", tags=TAGS,
       request_model=ItemIn, responses={201: "Created", 422: "Invalid field"})  # fmt: skip
def create_item(ctx: RequestContext) -> Any:
    body = ctx.json(ItemIn)
    return 201, ctx.services.call("publishing", "create_item", _item_data(body), actor(ctx))


@route("GET", "/api/publishing/items", summary="List items", tags=TAGS,
       query={"status": "draft, in_review, approved…", "kind": "article…"})  # fmt: skip
def list_items(ctx: RequestContext) -> Any:
    args = ctx.request.args
    return ctx.services.call(
        "publishing", "list_items", args.get("status"), args.get("kind"),
        int(args.get("limit", "50")) if args.get("limit", "50").isdigit() else 50,
    )  # fmt: skip


@route("GET", "/api/publishing/items/<item_id>", summary="An item with its history", tags=TAGS)
def get_item(ctx: RequestContext, item_id: str) -> Any:
    return ctx.services.call("publishing", "get_item", item_id)


@route("PATCH", "/api/publishing/items/<item_id>", summary="Edit a draft or item in review",
       tags=TAGS, request_model=ItemIn)  # fmt: skip
def update_item(ctx: RequestContext, item_id: str) -> Any:
    body = ctx.json(ItemIn)
    return ctx.services.call("publishing", "update_item", item_id, _item_data(body), actor(ctx))


@route(
    "PUT",
    "/api/publishing/items/<item_id>/document",
    summary="Attach a document item's PDF (a leaflet); its text is read for search",
    tags=TAGS,
    request_content_type="application/pdf",
    query={"filename": "the file's name as shown to readers (default document.pdf)"},
    responses={
        200: "Attached (the item)",
        409: "Not a document item, or no longer a draft or in review",
        413: "Larger than 20 MB",
        415: "Not sent as application/pdf",
        422: "Not a PDF",
    },
    roles=CONTENT_WRITE,
)
def attach_document(ctx: RequestContext, item_id: str) -> Any:
    """The body is the PDF itself. A PDF whose text cannot be read (scanned, encrypted) is
    attached all the same and found by its title and summary only."""
    if (ctx.request.mimetype or "") != "application/pdf":
        raise UnsupportedMediaType("send the PDF as application/pdf")
    data = ctx.file_body(DOCUMENT_MAX_BYTES, "PDF documents")
    name = ctx.request.args.get("filename") or "document.pdf"
    encoded = base64.b64encode(data).decode("ascii")
    return ctx.services.call("publishing", "attach_document", item_id, name, encoded, actor(ctx))


@route("POST", "/api/publishing/items/<item_id>/transitions",
       summary="Submit, approve, reject or withdraw an item", tags=TAGS,
       request_model=TransitionIn, responses={403: "Role may not", 409: "Wrong state"})  # fmt: skip
def transition(ctx: RequestContext, item_id: str) -> Any:
    body = ctx.json(TransitionIn)
    return ctx.services.call(
        "publishing", "transition", item_id, body.action, actor(ctx), body.note
    )


@route("POST", "/api/publishing/items/<item_id>/corrections",
       summary="Correct a published item (new version, back to review)", tags=TAGS,
       request_model=CorrectionIn)  # fmt: skip
def correct(ctx: RequestContext, item_id: str) -> Any:
    body = ctx.json(CorrectionIn)
    return ctx.services.call(
        "publishing", "correct", item_id, _item_data(body.changes), actor(ctx), body.note
    )


@route("POST", "/api/publishing/items/<item_id>/deliveries",
       summary="Schedule the item to a channel", tags=TAGS, request_model=DeliveryIn,
       responses={201: "Scheduled", 422: "Unknown channel, past time, …"})  # fmt: skip
def schedule(ctx: RequestContext, item_id: str) -> Any:
    body = ctx.json(DeliveryIn)
    return 201, ctx.services.call(
        "publishing", "schedule", item_id, body.channel, actor(ctx), at=body.at, tz=body.tz,
        series_id=body.series_id, options=body.options,
    )  # fmt: skip


@route("GET", "/api/publishing/items/<item_id>/renditions/<channel>",
       summary="The stored rendition of an item for a channel", tags=TAGS)  # fmt: skip
def rendition(ctx: RequestContext, item_id: str, channel: str) -> Any:
    return ctx.services.call("publishing", "get_rendition", item_id, channel)


@route(
    "GET",
    "/api/publishing/deliveries",
    summary="Deliveries: what went out where",
    tags=TAGS,
    query={"item_id": "only this item's", "status": "scheduled, succeeded, failed…"},
)
def list_deliveries(ctx: RequestContext) -> Any:
    args = ctx.request.args
    return ctx.services.call(
        "publishing", "list_deliveries", args.get("item_id"), args.get("status")
    )


@route("GET", "/api/publishing/deliveries/<delivery_id>", summary="One delivery", tags=TAGS)
def get_delivery(ctx: RequestContext, delivery_id: str) -> Any:
    return ctx.services.call("publishing", "get_delivery", delivery_id)


@route("DELETE", "/api/publishing/deliveries/<delivery_id>", summary="Cancel a delivery",
       tags=TAGS)  # fmt: skip
def cancel_delivery(ctx: RequestContext, delivery_id: str) -> Any:
    return ctx.services.call("publishing", "cancel_delivery", delivery_id, actor(ctx))


@route(
    "POST",
    "/api/publishing/series",
    summary="A recurring schedule (RFC 5545 RRULE)",
    tags=TAGS,
    request_model=SeriesIn,
    responses={201: "Created", 422: "Invalid rule"},
)
def create_series(ctx: RequestContext) -> Any:
    body = ctx.json(SeriesIn)
    actor(ctx)
    return 201, ctx.services.call(
        "publishing", "create_series", body.name, body.channel, body.rrule, body.start, body.tz,
        body.plan_task,
    )  # fmt: skip


@route("GET", "/api/publishing/series/<series_id>", summary="A series and its next slots",
       tags=TAGS)  # fmt: skip
def get_series(ctx: RequestContext, series_id: str) -> Any:
    count = ctx.request.args.get("count", "12")
    return ctx.services.call(
        "publishing", "series_occurrences", series_id, int(count) if count.isdigit() else 12
    )


@route("GET", "/api/publishing/channels", summary="Channels and whether they need attention",
       tags=TAGS)  # fmt: skip
def channels(ctx: RequestContext) -> Any:
    return ctx.services.call("publishing", "channels")


@route("POST", "/api/publishing/channels/<channel>/resume",
       summary="Resume a channel after fixing its cause", tags=TAGS)  # fmt: skip
def resume(ctx: RequestContext, channel: str) -> Any:
    return ctx.services.call("publishing", "resume_channel", channel, actor(ctx))


@route("GET", "/api/publishing/feeds/rss.xml", summary="Portal RSS 2.0 feed", tags=TAGS,
       response_content_type="application/rss+xml")  # fmt: skip
def rss(ctx: RequestContext) -> Response:
    body = ctx.services.call("publishing", "feed", "rss")
    return Response(
        body, mimetype="application/rss+xml", content_type="application/rss+xml; charset=utf-8"
    )


@route("GET", "/api/publishing/feeds/atom.xml", summary="Portal Atom feed", tags=TAGS,
       response_content_type="application/atom+xml")  # fmt: skip
def atom(ctx: RequestContext) -> Response:
    body = ctx.services.call("publishing", "feed", "atom")
    return Response(
        body, mimetype="application/atom+xml", content_type="application/atom+xml; charset=utf-8"
    )


@route("GET", "/api/publishing/feeds/items.json", summary="Portal JSON listing", tags=TAGS)
def listing(ctx: RequestContext) -> Any:
    return {"items": ctx.services.call("publishing", "listing")}


@route("POST", "/api/publishing/subscribers", summary="Subscribe an address to a unit's list",
       tags=TAGS, request_model=SubscriberIn, responses={201: "Subscribed"})  # fmt: skip
def subscribe(ctx: RequestContext) -> Any:
    body = ctx.json(SubscriberIn)
    return 201, ctx.services.call("publishing", "subscribe", body.model_dump())


@route("GET", "/api/publishing/unsubscribe/<token>", summary="Unsubscribe page", tags=TAGS,
       response_content_type="text/html")  # fmt: skip
def unsubscribe_page(ctx: RequestContext, token: str) -> Response:
    """A page with a button: link scanners that open URLs do not unsubscribe anyone."""
    html = (
        '<!DOCTYPE html><html lang="vi"><meta charset="utf-8"><title>Hủy đăng ký</title>'
        '<form method="post"><p>Hủy nhận bản tin điện tử? / Stop receiving the e-bulletin?</p>'
        '<button type="submit">Hủy đăng ký / Unsubscribe</button></form></html>'
    )
    return Response(html, mimetype="text/html")


@route("POST", "/api/publishing/unsubscribe/<token>", summary="Unsubscribe (RFC 8058 one-click)",
       tags=TAGS, responses={200: "Unsubscribed", 404: "Unknown link"})  # fmt: skip
def unsubscribe(ctx: RequestContext, token: str) -> Any:
    ctx.services.call("publishing", "unsubscribe", token)
    return {"unsubscribed": True, "message": "Đã hủy đăng ký / you are unsubscribed"}


@route("GET", "/api/publishing/units", summary="The unit tree (valid on a day)", tags=TAGS,
       query={"on": "YYYY-MM-DD"})  # fmt: skip
def units(ctx: RequestContext) -> Any:
    return ctx.services.call("publishing", "units", ctx.request.args.get("on"))


@route("GET", "/api/publishing/plan", summary="Planned vs published per plan task and month",
       tags=TAGS, query={"from": "YYYY-MM", "to": "YYYY-MM"})  # fmt: skip
def plan_report(ctx: RequestContext) -> Any:
    args = ctx.request.args
    return ctx.services.call(
        "publishing", "plan_report", args.get("from", "2019-01"), args.get("to", "2019-12")
    )
