"""Search over everything produced or answered: one box, facets, highlights, with or without
Vietnamese diacritics ("mot cua" finds "một cửa"; exact-diacritic matches rank first).

The search service owns the index; this route only turns query-string parameters into its query
object. Signed-in staff search internal documents too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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
        "prefix": "true: the last word may be a prefix (search as you type)",
    },
    responses={200: "Results", 422: "A parameter is invalid (the field is named)"},
    roles=STAFF,
)
def search(ctx: RequestContext) -> Any:
    """Staff see internal documents as well as public ones."""
    return ctx.services.call("search", "search", build_query(ctx.request.args), "staff")


class RebuildOut(BaseModel):
    index: str = Field(description="The new physical index the alias now points at")
    documents: int = Field(description="Documents and tombstones in it")
    owners: dict[str, int] = Field(description="Items each owning service exported")
    changed: int = Field(description="Documents the owners' exports changed in the projection")
    seconds: float


REBUILD_TIMEOUT = 900.0


@route(
    "POST",
    "/api/search/rebuild",
    summary="Rebuild the search index from the owning services (media, publishing, feedback)",
    tags=["search"],
    response_model=RebuildOut,
    responses={
        200: "The new index is live",
        409: "A rebuild is already running",
        503: "An owning service did not answer: nothing was switched, the old index stays live",
    },
    roles=ADMIN_ONLY,
)
def rebuild(ctx: RequestContext) -> Any:
    """Fills a new versioned index from every owner's export and switches the alias to it
    atomically; searches keep being answered and events arriving meanwhile are kept."""
    return ctx.services.call("search", "rebuild", timeout=REBUILD_TIMEOUT)
