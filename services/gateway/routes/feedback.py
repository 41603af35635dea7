"""Feedback: the citizens' portal form and tracking look-up, the channels' webhooks (hotline
1022, Facebook page, Zalo OA) and the staff desk (tickets, units, rules, reports).

Staff calls are signed in (session cookie or API token, services/gateway/auth). The account's role
and unit decide what the feedback service lets the caller do and whether contact details are shown
or masked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Annotated, Any, Literal

import kombu.exceptions
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Response

from services.gateway.auth import audit, require, require_unit
from services.gateway.auth.policy import DESK_ACT
from services.gateway.batcher import Batcher
from services.gateway.clients import client_key, limiter
from services.gateway.http import MAX_JSON_BYTES, RequestContext, route
from shared.errors import BadRequest, Forbidden, LoaError, PayloadTooLarge, Unavailable
from shared.ids import new_id

TAGS = ["feedback"]


# --- rate limiting -----------------------------------------------------------------------
class TooManyRequests(LoaError):
    status = 429
    title = "Quá nhiều yêu cầu / Too many requests"
    slug = "too-many-requests"


def _limit(ctx: RequestContext) -> None:
    wait = limiter.allow(client_key(ctx), ctx.settings.feedback_portal_rate)
    if wait:
        raise TooManyRequests(
            f"Bạn gửi quá nhanh; hãy thử lại sau {wait:.0f} giây / too many submissions; retry "
            f"in {wait:.0f}s"
        )


# --- staff identity ----------------------------------------------------------------------
def actor(ctx: RequestContext) -> dict[str, Any]:
    """The signed-in account as the feedback service's actor (id, role, unit)."""
    user = require(ctx)
    return {"sub": user.id, "role": user.role, "unit_id": user.unit_id}


def _raw_body(ctx: RequestContext) -> str:
    raw = ctx.request.get_data(cache=True)
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_JSON_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None


def _call(ctx: RequestContext, method: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return ctx.services.call("feedback", method, *args, **kwargs)
    except (OSError, kombu.exceptions.OperationalError) as exc:
        # The broker is down or restarting: the request was not taken, the client may retry.
        raise Unavailable(
            "Hệ thống đang bận; hãy thử lại sau ít phút / the service is briefly unavailable; "
            f"retry in a minute ({type(exc).__name__})"
        ) from None


# --- public: portal and app --------------------------------------------------------------
class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=500)


class Attachment(BaseModel):
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    data: str = Field(description="base64")


class Submission(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(max_length=64, description="a code from GET /api/feedback/categories")
    title: str = Field("", max_length=300)
    description: str = Field(min_length=1, max_length=20000)
    contact: Contact | None = None
    is_public: bool = Field(False, description="the question and answer may be published")
    channel: Literal["portal", "app"] = "portal"
    attachments: list[Attachment] = Field(default_factory=list, max_length=5)


class Submitted(BaseModel):
    code: str
    status: str
    deadline_at: Any


PORTAL_BATCH: Batcher[dict[str, Any], dict[str, Any]] = Batcher(
    max_items=64, window_s=0.002, max_in_flight=2
)
"""Portal submissions of this gateway process, sent to feedback in batches (group commit)."""


def _external_ref(ctx: RequestContext) -> str:
    """The submission's idempotency reference.

    With an Idempotency-Key header, a retry of the same form (same key, same body) gives the
    same ticket; the body is part of the reference so a key alone never reveals anyone's
    ticket. Without one, a fresh id per HTTP request: if the broker redelivers the RPC (it
    restarted before the service's ack), the service answers with the ticket it already made.
    """
    key = ctx.request.headers.get("Idempotency-Key", "")
    if not key:
        return "portal:" + new_id()
    if len(key) > 200:
        raise BadRequest("Idempotency-Key is longer than 200 characters", "Idempotency-Key")
    digest = hashlib.sha256(key.encode() + b"\0" + ctx.request.get_data(cache=True))
    return "portal:key:" + digest.hexdigest()


_ERRORS: dict[str, type[LoaError]] = {}


def _item_error(data: dict[str, Any]) -> LoaError:
    """A batch item's error (type, detail, field) as the LoaError the service raised."""
    if not _ERRORS:
        pending: list[type[LoaError]] = [LoaError]
        while pending:
            cls = pending.pop()
            _ERRORS.setdefault(cls.__name__, cls)
            pending.extend(cls.__subclasses__())
    cls = _ERRORS.get(str(data.get("type")), LoaError)
    return cls(str(data.get("detail") or ""), data.get("field"))


@route(
    "POST",
    "/api/feedback/tickets",
    summary="Send a question or report (no login); returns the tracking code. Send an "
    "Idempotency-Key header to make a retried submission give the same ticket",
    tags=TAGS,
    request_model=Submission,
    response_model=Submitted,
    responses={201: "Received", 413: "Attachment too large", 429: "Too many submissions"},
)
def submit(ctx: RequestContext) -> Any:
    _limit(ctx)
    body = ctx.json(Submission)
    intake: dict[str, Any] = {
        "channel": body.channel,
        "category": body.category,
        "title": body.title,
        "description": body.description,
        "is_public": body.is_public,
        "contact": body.contact.model_dump(exclude_none=True) if body.contact else {},
        "external_ref": _external_ref(ctx),
    }
    if body.attachments:  # large: on their own, not in a batch
        intake["attachments"] = [a.model_dump() for a in body.attachments]
        ticket = _call(ctx, "submit", intake, brief=True)
    else:
        # 201 only once feedback has committed this item (its batch's transaction).
        result = PORTAL_BATCH.submit(
            intake,
            lambda items: _call(ctx, "submit_batch", items),
            timeout=ctx.services.timeout + 5,
        )
        if "error" in result:
            raise _item_error(result["error"])
        ticket = result["ticket"]
    return 201, Submitted(
        code=ticket["code"], status=ticket["status"], deadline_at=ticket["deadline_at"]
    )


@route("GET", "/api/feedback/categories", summary="Categories one can write about", tags=TAGS)
def categories(ctx: RequestContext) -> Any:
    return [
        {k: c[k] for k in ("code", "name", "description", "answer_days")}
        for c in _call(ctx, "categories")
    ]


@route(
    "GET",
    "/api/feedback/track/<code>",
    summary="Status and public answer of a ticket by its tracking code",
    tags=TAGS,
    responses={404: "No such code"},
)
def track(ctx: RequestContext, code: str) -> Any:
    _limit_lookup(ctx)
    return _call(ctx, "lookup", code)


def _limit_lookup(ctx: RequestContext) -> None:
    # Look-ups are cheap but codes must not be guessed: ten times the submission rate.
    count, _, per = ctx.settings.feedback_portal_rate.partition("/")
    wait = limiter.allow("lookup:" + client_key(ctx), f"{int(count) * 10}/{per or 60}")
    if wait:
        raise TooManyRequests(f"too many look-ups; retry in {wait:.0f}s")


class Rating(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


@route(
    "POST",
    "/api/feedback/track/<code>/rating",
    summary="Rate the answer (1–5)",
    tags=TAGS,
    request_model=Rating,
)
def rate(ctx: RequestContext, code: str) -> Any:
    _limit_lookup(ctx)
    body = ctx.json(Rating)
    return _call(ctx, "rate", code, body.score, body.comment)


class Reopen(BaseModel):
    reason: str = Field(min_length=1, max_length=5000)


@route(
    "POST",
    "/api/feedback/track/<code>/reopen",
    summary="Say it was not resolved",
    tags=TAGS,
    request_model=Reopen,
)
def reopen(ctx: RequestContext, code: str) -> Any:
    _limit_lookup(ctx)
    return _call(ctx, "reopen", code, ctx.json(Reopen).reason)


# --- webhooks ----------------------------------------------------------------------------
@route(
    "POST",
    "/api/feedback/webhooks/hotline",
    summary="Call events of the 1022 call center (signed: X-Loa-Timestamp, X-Loa-Signature)",
    tags=TAGS,
    responses={401: "Bad signature", 403: "Replayed (too old)"},
)
def hotline_webhook(ctx: RequestContext) -> Any:
    h = ctx.request.headers
    return _call(
        ctx, "hotline_webhook", _raw_body(ctx), h.get("X-Loa-Timestamp"), h.get("X-Loa-Signature")
    )


@route(
    "GET",
    "/api/feedback/webhooks/facebook",
    summary="Facebook webhook verification (hub.challenge)",
    tags=TAGS,
    response_content_type="text/plain",
)
def facebook_verify(ctx: RequestContext) -> Response:
    args = ctx.request.args
    token = ctx.settings.feedback_facebook_verify_token
    given = (args.get("hub.verify_token") or "").encode("utf-8", "surrogatepass")
    same = bool(token) and hmac.compare_digest((token or "").encode("utf-8"), given)
    if args.get("hub.mode") != "subscribe" or not same:
        raise Forbidden("verify token does not match", "hub.verify_token")
    return Response(args.get("hub.challenge", ""), mimetype="text/plain")


@route(
    "POST",
    "/api/feedback/webhooks/facebook",
    summary="Facebook page messages (X-Hub-Signature-256)",
    tags=TAGS,
    responses={401: "Bad signature"},
)
def facebook_webhook(ctx: RequestContext) -> Any:
    return _call(
        ctx, "facebook_webhook", _raw_body(ctx), ctx.request.headers.get("X-Hub-Signature-256")
    )


@route(
    "POST",
    "/api/feedback/webhooks/zalo",
    summary="Zalo Official Account events (X-ZEvent-Signature)",
    tags=TAGS,
    responses={401: "Bad signature", 403: "Replayed (too old)"},
)
def zalo_webhook(ctx: RequestContext) -> Any:
    return _call(ctx, "zalo_webhook", _raw_body(ctx), ctx.request.headers.get("X-ZEvent-Signature"))


# --- staff: calls ------------------------------------------------------------------------
@route(
    "GET",
    "/api/feedback/calls/<call_id>",
    summary="A live call and the caller's earlier tickets",
    tags=TAGS,
    public=False,
)
def call_view(ctx: RequestContext, call_id: str) -> Any:
    view = _call(ctx, "call", call_id, actor(ctx))
    audit(ctx, "feedback.call_read", call_id[:200])  # the caller's number and earlier tickets
    return view


class CallTicket(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(max_length=64)
    description: str = Field(min_length=1, max_length=20000)
    unit_id: str | None = None
    name: str | None = Field(None, max_length=200)
    is_public: bool = False


@route(
    "POST",
    "/api/feedback/calls/<call_id>/ticket",
    summary="Turn a call into a ticket (once per call)",
    tags=TAGS,
    request_model=CallTicket,
    public=False,
)
def call_ticket(ctx: RequestContext, call_id: str) -> Any:
    who = actor(ctx)
    ticket = _call(ctx, "ticket_from_call", call_id, ctx.json(CallTicket).model_dump(), who)
    return (200 if ticket.get("duplicate") else 201), ticket


# --- staff: tickets ----------------------------------------------------------------------
@route(
    "GET",
    "/api/feedback/staff/tickets",
    summary="Tickets (officers see their unit's)",
    tags=TAGS,
    public=False,
    query={
        "status": "comma-separated",
        "unit_id": "",
        "category": "",
        "channel": "",
        "limit": "≤1000",
    },
)
def list_tickets(ctx: RequestContext) -> Any:
    args = ctx.request.args
    filters: dict[str, Any] = {
        k: args[k] for k in ("unit_id", "category", "channel") if args.get(k)
    }
    if args.get("status"):
        filters["status"] = args["status"].split(",")
    if args.get("limit", "").isdigit():
        filters["limit"] = int(args["limit"])
    require_unit(ctx, filters.get("unit_id"))
    rows = _call(ctx, "list_tickets", filters, actor(ctx))
    if rows:  # titles are redacted, but say who listed which tickets
        audit(ctx, "feedback.tickets_listed", None, {"tickets": [r["id"] for r in rows]})
    return rows


@route(
    "GET",
    "/api/feedback/staff/tickets/<ticket>",
    summary="One ticket (by id, public id or code), for its handlers; each read is audited",
    tags=TAGS,
    public=False,
)
def get_ticket(ctx: RequestContext, ticket: str) -> Any:
    view = _call(ctx, "get_ticket", ticket, actor(ctx))
    # Every read of a citizen's personal data: who, when, which ticket (GET /api/admin/audit
    # ?action=feedback.ticket_read&target=<ticket id>).
    audit(ctx, "feedback.ticket_read", view["id"], {"public_id": view.get("public_id")})
    return view


@route(
    "GET",
    "/api/feedback/staff/tickets/<ticket>/attachments/<attachment_id>",
    summary="One attachment or call recording of a ticket, decrypted, for its handlers",
    tags=TAGS,
    public=False,
    roles=DESK_ACT,  # content, not a list: viewers never
)
def get_attachment(ctx: RequestContext, ticket: str, attachment_id: str) -> Response:
    found = _call(ctx, "attachment", ticket, attachment_id, actor(ctx))
    audit(ctx, "feedback.attachment_read", attachment_id, {"ticket": ticket})
    resp = Response(base64.b64decode(found["data"]), mimetype=found["content_type"])
    resp.headers["Content-Disposition"] = "attachment"
    resp.headers["Cache-Control"] = "no-store"
    return resp


ACTIONS = (
    "assign",
    "forward",
    "start",
    "ask",
    "resume",
    "answer",
    "publish",
    "close",
    "merge",
    "unmerge",
    "duplicates",
)


@route(
    "POST",
    "/api/feedback/staff/tickets/<ticket>/<action>",
    summary="Act on a ticket: " + ", ".join(ACTIONS),
    tags=TAGS,
    public=False,
    responses={409: "Not allowed in the ticket's state"},
)
def act(ctx: RequestContext, ticket: str, action: str) -> Any:
    who = actor(ctx)
    if action not in ACTIONS:
        raise BadRequest(f"unknown action '{action}' (known: {', '.join(ACTIONS)})", "action")
    data = ctx.json(_Any) if ctx.request.get_data(cache=True).strip() else _Any()
    return _call(ctx, "act", ticket, action, data.model_dump(), who)


class _Any(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- staff: units, categories, rules, reports --------------------------------------------
@route("GET", "/api/feedback/units", summary="Units (a tree with validity dates)", tags=TAGS)
def units(ctx: RequestContext) -> Any:
    return _call(ctx, "units")


@route(
    "PUT",
    "/api/feedback/units/<unit_id>",
    summary="Create or rename a unit",
    tags=TAGS,
    public=False,
)
def put_unit(ctx: RequestContext, unit_id: str) -> Any:
    who = actor(ctx)
    return _call(ctx, "put_unit", unit_id, ctx.json(_Any).model_dump(), who)


@route(
    "POST",
    "/api/feedback/units/<unit_id>/dissolve",
    summary="Dissolve a unit; open tickets move to its successor",
    tags=TAGS,
    public=False,
)
def dissolve(ctx: RequestContext, unit_id: str) -> Any:
    who = actor(ctx)
    return _call(ctx, "dissolve_unit", unit_id, ctx.json(_Any).model_dump(), who)


@route(
    "PUT",
    "/api/feedback/categories/<code>",
    summary="Create or change a category and its deadlines",
    tags=TAGS,
    public=False,
)
def put_category(ctx: RequestContext, code: str) -> Any:
    who = actor(ctx)
    return _call(ctx, "put_category", code, ctx.json(_Any).model_dump(), who)


@route(
    "GET", "/api/feedback/rules", summary="Routing rules (category → unit)", tags=TAGS, public=False
)
def rules(ctx: RequestContext) -> Any:
    actor(ctx)
    return _call(ctx, "rules")


@route("POST", "/api/feedback/rules", summary="Add a routing rule", tags=TAGS, public=False)
def add_rule(ctx: RequestContext) -> Any:
    who = actor(ctx)
    return 201, _call(ctx, "add_rule", ctx.json(_Any).model_dump(), who)


@route(
    "GET",
    "/api/feedback/reports/<month>",
    summary="Per unit and month: on-time rate, median time to answer, satisfaction "
    "(add ?format=csv)",
    tags=TAGS,
    public=False,
    query={"unit_id": "one unit", "format": "json or csv"},
)
def report(ctx: RequestContext, month: str) -> Any:
    who = actor(ctx)
    unit_id = ctx.request.args.get("unit_id") or None
    require_unit(ctx, unit_id)
    if ctx.request.args.get("format") == "csv":
        body = _call(ctx, "report_csv", month, unit_id, who)
        resp = Response(body, mimetype="text/csv")
        resp.headers["Content-Disposition"] = f'attachment; filename="feedback-{month}.csv"'
        return resp
    return _call(ctx, "report", month, unit_id, who)


# --- citizens' data requests (Law 91/2025, Decree 356/2025) ----------------------------------
class DataRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["access", "delete"] = Field(description="see my data, or delete it")
    code: str = Field(max_length=24, description="the tracking code of one of my tickets")
    codes: list[Annotated[str, Field(max_length=24)]] = Field(
        default_factory=list, max_length=19, description="tracking codes of my other tickets"
    )
    phone: str | None = Field(None, max_length=30, description="as written on those tickets")
    email: str | None = Field(None, max_length=200, description="as written on those tickets")
    scope: Literal["tickets", "phone"] = Field(
        "tickets",
        description="tickets: those whose codes are given; phone: every ticket of this phone, "
        "handled once staff have checked my identity",
    )


@route(
    "POST",
    "/api/feedback/privacy/requests",
    summary="Ask to see or delete my personal data (acknowledged within 2 working days)",
    tags=TAGS,
    request_model=DataRequest,
    responses={201: "Recorded", 404: "Code and contact do not match", 429: "Too many"},
    roles=(),  # public: the tracking code and the contact on the ticket are the proof
)
def data_request(ctx: RequestContext) -> Any:
    _limit(ctx)
    return 201, _call(ctx, "data_request", ctx.json(DataRequest).model_dump())


@route(
    "GET",
    "/api/feedback/privacy/requests",
    summary="Citizens' data requests and their deadlines (admins; operators check identities)",
    tags=TAGS,
    public=False,
    query={"open": "1: only those not yet completed"},
    roles=("admin", "operator"),
)
def data_requests(ctx: RequestContext) -> Any:
    who = actor(ctx)
    return _call(ctx, "data_requests", ctx.request.args.get("open") == "1", who)


@route(
    "POST",
    "/api/feedback/privacy/requests/<request_id>/<action>",
    summary="Handle a data request: verify (identity checked; operators, admins), acknowledge, "
    "export (access), erase (delete), reject (admins)",
    tags=TAGS,
    public=False,
    responses={409: "Not allowed in the request's state (or identity not checked yet)"},
    roles=("admin", "operator"),
)
def handle_data_request(ctx: RequestContext, request_id: str, action: str) -> Any:
    who = actor(ctx)
    data = ctx.json(_Any) if ctx.request.get_data(cache=True).strip() else _Any()
    result = _call(ctx, "handle_data_request", request_id, action, data.model_dump(), who)
    if action == "export":
        audit(ctx, "feedback.data_exported", request_id, {"tickets": len(result["tickets"])})
    return result
