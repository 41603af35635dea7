"""Search over everything produced or answered: one box, facets, highlights, with or without
Vietnamese diacritics ("mot cua" finds "một cửa"; exact-diacritic matches rank first).

The search service owns the index; this route only turns query-string parameters into its query
object. Signed-in staff search internal documents too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.auth import require
from services.gateway.auth.policy import ADMIN_ONLY, STAFF
from services.gateway.http import RequestContext, route
from shared.errors import BadRequest

FACETS = ("type", "channel", "unit", "tags", "status")


class SearchHit(BaseModel):
    id: str
    type: str
    title: str
    score: float | None = None
    date: str | None = None
    unit: str | None = None
    tags: list[str] = []
    channels: list[str] = []
    status: str = ""
    url: str | None = None
    highlight: dict[str, str] = Field(
        default_factory=dict,
        description="title/body as HTML-escaped text with the matches in <mark>…</mark>",
    )


class FacetBucket(BaseModel):
    value: str
    count: int


class SearchOut(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: dict[str, list[FacetBucket]]
    next_cursor: str | None = None


def _flag(value: str | None, name: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise BadRequest(f"{name} must be true or false", name)


def build_query(args: Any) -> dict[str, Any]:
    """The search service's query object from ?q=&type=&channel=…&sort=&size=&cursor=."""
    query: dict[str, Any] = {"q": args.get("q", "")}
    filters: dict[str, Any] = {}
    for name in FACETS:
        values = [v for v in args.getlist(name) if v]
        if values:
            filters[name] = values
    for name in ("date_from", "date_to"):
        if args.get(name):
            filters[name] = args[name]
    if filters:
        query["filters"] = filters
    if args.get("sort"):
        query["sort"] = args["sort"]
    if args.get("size"):
        if not args["size"].isdigit():
            raise BadRequest("size must be a number from 1 to 100", "size")
        query["size"] = int(args["size"])
    if args.get("cursor"):
        query["cursor"] = args["cursor"]
    query["prefix"] = _flag(args.get("prefix"), "prefix", False)
    query["highlight"] = _flag(args.get("highlight"), "highlight", True)
    return query


@route(
    "GET",
    "/api/search",
    summary="Search everything (with or without diacritics), with facets and highlights",
    tags=["search"],
    response_model=SearchOut,
    query={
        "q": 'words or "a phrase"; diacritics optional',
        "type": "media, article, bulletin, video_post, document, answer (repeatable)",
        "channel": "only documents delivered to this channel (repeatable)",
        "unit": "unit id (repeatable)",
        "tags": "tag (repeatable)",
        "status": "status (repeatable)",
        "date_from": "YYYY-MM-DD",
        "date_to": "YYYY-MM-DD",
        "sort": "relevance (default) or date",
        "size": "1..100 (default 20)",
        "cursor": "next_cursor of the previous page",
        "prefix": "true: the last word may begin a title or tag word (search as you type)",
    },
    responses={200: "Results", 422: "A parameter is invalid (the field is named)"},
    roles=STAFF,
)
def search(ctx: RequestContext) -> Any:
    """Staff see internal documents as well as public ones."""
    return ctx.services.call("search", "search", build_query(ctx.request.args), "staff")


class RebuildReport(BaseModel):
    index: str = Field(description="The new physical index the alias now points at")
    documents: int = Field(description="Documents and tombstones in it")
    owners: dict[str, int] = Field(description="Items each owning service exported")
    changed: int = Field(description="Documents the owners' exports changed in the projection")
    seconds: float


class RebuildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_owners: bool = Field(
        True, description="false: refill the index from search's own copy only (no owner asked)"
    )


class RebuildOut(BaseModel):
    id: str
    state: str = Field(description="queued, running, done or failed", examples=["queued"])
    from_owners: bool
    requested_by: str
    requested_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = Field(description="Runs so far (more than one if a worker died mid-way)")
    report: RebuildReport | None = Field(None, description="When done")
    error: str | None = Field(None, description="When failed: why (the old index stayed live)")


@route(
    "POST",
    "/api/search/rebuild",
    summary="Rebuild the search index from the owning services (media, publishing, feedback)",
    tags=["search"],
    request_model=RebuildIn,
    response_model=RebuildOut,
    responses={
        202: "Queued: follow it at /api/search/rebuilds/<id>",
        409: "A rebuild is already queued or running",
    },
    roles=ADMIN_ONLY,
)
def rebuild(ctx: RequestContext) -> Any:
    """A search worker fills a new versioned index from every owner's export and switches the
    alias to it atomically; searches keep being answered and events arriving meanwhile are
    kept. An owner that does not answer fails the rebuild and the old index stays live."""
    body = ctx.json(RebuildIn) if ctx.request.content_length else RebuildIn()
    who = require(ctx).username
    return 202, ctx.services.call("search", "request_rebuild", who, body.from_owners)


@route(
    "GET",
    "/api/search/rebuilds/<rebuild_id>",
    summary="One rebuild: its state, report or reason",
    tags=["search"],
    response_model=RebuildOut,
    responses={404: "No such rebuild"},
    roles=ADMIN_ONLY,
)
def get_rebuild(ctx: RequestContext, rebuild_id: str) -> Any:
    return ctx.services.call("search", "get_rebuild", rebuild_id)


@route(
    "GET",
    "/api/search/rebuilds",
    summary="The latest rebuilds, newest first",
    tags=["search"],
    roles=ADMIN_ONLY,
)
def list_rebuilds(ctx: RequestContext) -> Any:
    return {"rebuilds": ctx.services.call("search", "list_rebuilds")}
