"""The production backend: Elasticsearch 8 (client `elasticsearch>=8,<9`).

Names: readers and writers use the alias `<prefix>-search`, which points at one physical index
`<prefix>-search-v<N>`. A rebuild fills `v<N+1>` (reachable meanwhile as `<prefix>-search-next`,
so every replica's live writes reach it too), then moves the alias in one atomic
`_aliases` call.

Versions use Elasticsearch's external versioning: the node itself refuses a write whose version is
not newer, so replicas racing on one document cannot roll it back. Removals are tombstone
documents (not deletes, whose memory ES drops after a minute) so a withdrawn item stays gone.

Folding: text is folded by `domain.fold` and indexed next to the original. This does what an
`asciifolding` analyzer would, identically on both backends, and needs only the analysis that
every node has (the test node lacks the analysis-common module).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from services.search.domain import (
    FACETS,
    SearchQuery,
    SearchResults,
    Term,
    encode_cursor,
    facet_buckets,
    fold_for_index,
    make_hit,
)
from services.search.index.base import (
    BODY_BOOST,
    FOLDED_FIELDS,
    FUZZY_BOOST,
    KEYWORD_FIELDS,
    PREFIX_BOOST,
    PREFIX_FIELDS,
    TITLE_BOOST,
    IndexOp,
    SearchIndex,
    sort_key,
)
from shared.errors import InvalidInput, Unavailable

EXACT_FIELDS = (("title", TITLE_BOOST), ("body", BODY_BOOST))
NEXT_ALIAS_TTL = 1.0  # seconds a replica trusts its knowledge of a running rebuild
BULK_CHUNK = 2000  # documents per bulk request…
BULK_CHUNK_BYTES = 8 * 1024 * 1024  # …or this many bytes of body, whichever comes first
REBUILD_STREAMS = 2  # bulk requests in flight while a rebuild fills: one per write thread
BULK_RETRIES = 3  # rounds for items the node refused with 429 (its write queue was full)
# While a rebuild fills its index: no periodic refresh, no replica, and the translog synced in
# the background instead of on every request (a crash mid-fill just means rebuilding again).
BULK_LOAD_SETTINGS: dict[str, Any] = {
    "refresh_interval": "-1",
    "auto_expand_replicas": "false",
    "number_of_replicas": 0,
    "translog.durability": "async",
}
SERVING_SETTINGS: dict[str, Any] = {
    "refresh_interval": None,
    "auto_expand_replicas": "0-1",
    "translog.durability": "request",
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_source": {"excludes": ["title_fold", "body_fold", "keywords_fold"]},
    "properties": {
        "id": {"type": "keyword"},
        "type": {"type": "keyword"},
        "channels": {"type": "keyword"},
        "unit": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "status": {"type": "keyword"},
        "visibility": {"type": "keyword"},
        "deleted": {"type": "boolean"},
        "title": {"type": "text", "analyzer": "vi"},
        "body": {"type": "text", "analyzer": "vi"},
        "title_fold": {"type": "text", "analyzer": "vi"},
        "body_fold": {"type": "text", "analyzer": "vi"},
        "keywords_fold": {"type": "text", "analyzer": "vi"},
        "date": {"type": "date"},
        "ts": {"type": "long"},
        "sk": {"type": "long"},
        "source_id": {"type": "keyword", "index": False},
        "url": {"type": "keyword", "index": False},
        "duration_s": {"type": "float", "index": False},
    },
}
SETTINGS: dict[str, Any] = {
    "number_of_shards": 1,
    "auto_expand_replicas": "0-1",
    "analysis": {
        "analyzer": {"vi": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}
    },
    "max_result_window": 10_000,
}


def _unavailable(exc: Exception) -> Unavailable:
    detail = str(exc)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):  # the node's own reason is the useful part
        causes = body.get("error", {}).get("root_cause") or []
        detail += " " + "; ".join(str(c.get("reason")) for c in causes if isinstance(c, dict))
    return Unavailable(f"search backend unavailable: {type(exc).__name__}: {detail}"[:1000])


class ElasticsearchIndex(SearchIndex):
    def __init__(self, url: str, prefix: str = "loa", client: Elasticsearch | None = None) -> None:
        self.client = client or Elasticsearch(
            url, request_timeout=30, retry_on_timeout=True, max_retries=2
        )
        self.alias = f"{prefix}-search"
        self.next_alias = f"{prefix}-search-next"
        self._prefix = prefix
        self._next: str | None = None
        self._next_checked = 0.0

    # --- lifecycle ------------------------------------------------------------------------
    def _physical(self, n: int) -> str:
        return f"{self.alias}-v{n}"

    def _create(self, name: str, aliases: dict[str, Any] | None = None, bulk: bool = False) -> None:
        """`bulk`: set up for loading by a rebuild (see BULK_LOAD_SETTINGS)."""
        settings = {**SETTINGS, **BULK_LOAD_SETTINGS} if bulk else SETTINGS
        self.client.indices.create(
            index=name, settings=settings, mappings=MAPPINGS, aliases=aliases or {}
        )

    def ensure(self) -> None:
        try:
            if not self.client.indices.exists_alias(name=self.alias):
                try:
                    self._create(self._physical(1), {self.alias: {"is_write_index": True}})
                except ApiError as exc:  # another worker or replica created it first
                    if exc.meta.status != 400 or "already_exists" not in str(exc):
                        raise
            self._wait_ready(self.alias)
        except TransportError as exc:
            raise _unavailable(exc) from exc

    def _wait_ready(self, index: str) -> None:
        """Created is not ready: wait until the primary shard serves, whoever created it (a
        just-created index reports "yellow" before its primary is even allocated)."""
        self.client.cluster.health(
            index=index, wait_for_status="yellow", wait_for_active_shards="1", timeout="30s"
        )

    def ping(self) -> None:
        try:
            health = self.client.cluster.health(index=self.alias, timeout="5s")
        except (TransportError, ApiError) as exc:
            raise _unavailable(exc) from exc
        if health.get("status") == "red":
            raise Unavailable("search index is red (no primary shard)")

    def current_name(self) -> str:
        try:
            found = self.client.indices.get_alias(name=self.alias)
        except NotFoundError:
            return ""
        return next(iter(found))

    def close(self) -> None:
        self.client.close()

    def drop(self) -> None:
        self.client.indices.delete(
            index=f"{self.alias}-v*", ignore_unavailable=True, allow_no_indices=True
        )

    def refresh(self) -> None:
        try:
            self.client.indices.refresh(index=self.alias)
        except TransportError as exc:
            raise _unavailable(exc) from exc

    # --- writes ---------------------------------------------------------------------------
    def _next_target(self) -> str | None:
        """The index being rebuilt, if any; cached briefly so writes stay one request."""
        now = time.monotonic()
        if now - self._next_checked > NEXT_ALIAS_TTL:
            try:
                found = self.client.indices.get_alias(name=self.next_alias)
                self._next = next(iter(found))
            except NotFoundError:
                self._next = None
            self._next_checked = now
        return self._next

    def _source(self, op: IndexOp) -> dict[str, Any]:
        doc = op.doc
        if doc is None:
            return {"id": op.doc_id, "deleted": True, "visibility": "deleted", "sk": 0, "ts": 0}
        data = doc.to_json()
        data.update(
            deleted=False,
            title_fold=fold_for_index(doc.title),
            body_fold=fold_for_index(doc.body),
            keywords_fold=fold_for_index(" ".join(doc.tags)),
            ts=doc.ts,
            sk=sort_key(doc),
        )
        if data["date"] is None:
            data.pop("date")
        return data

    def _lines(self, op: IndexOp) -> bytes:
        """One bulk item as NDJSON: the action (external version; an equal-version removal still
        wins, as on tantivy) and the document. orjson: a bulk load spends a third of its Python
        time encoding JSON with the standard library, CPU the node itself needs."""
        action = {
            "index": {
                "_id": op.doc_id,
                "version": op.version,
                "version_type": "external_gte" if op.is_delete else "external",
            }
        }
        return orjson.dumps(action) + b"\n" + orjson.dumps(self._source(op)) + b"\n"

    def _chunks(self, ops: Iterable[IndexOp]) -> Iterator[tuple[list[IndexOp], list[bytes]]]:
        chunk: list[IndexOp] = []
        lines: list[bytes] = []
        size = 0
        for op in ops:
            line = self._lines(op)
            chunk.append(op)
            lines.append(line)
            size += len(line)
            if len(chunk) >= BULK_CHUNK or size >= BULK_CHUNK_BYTES:
                yield chunk, lines
                chunk, lines, size = [], [], 0
        if chunk:
            yield chunk, lines

    def _send(self, index: str, ops: list[IndexOp], lines: list[bytes]) -> int:
        """One bulk request (the body made here, as bytes); items the node refused for a full
        queue (429) go again after a pause. Returns how many writes took effect."""
        written = 0
        for attempt in range(BULK_RETRIES + 1):
            res = self.client.bulk(
                index=index,
                operations=b"".join(lines),
                filter_path="errors,items.*.status,items.*.error",
            )
            if not res.get("errors"):
                return written + len(ops)
            again_ops: list[IndexOp] = []
            again_lines: list[bytes] = []
            for op, line, item in zip(ops, lines, res["items"], strict=True):
                result = next(iter(item.values()))
                status = result.get("status", 0)
                if status < 300:
                    written += 1
                elif status == 429 and attempt < BULK_RETRIES:
                    again_ops.append(op)
                    again_lines.append(line)
                elif status != 409:  # 409: an equal or newer version is stored
                    raise Unavailable(f"indexing {op.doc_id} failed: {result.get('error')}")
            if not again_ops:
                return written
            ops, lines = again_ops, again_lines
            time.sleep(2**attempt)
        return written

    def _bulk(self, index: str, ops: Iterable[IndexOp], streams: int = 1) -> int:
        """Write ops in bulk requests; with `streams` > 1, that many requests are in flight at
        once (the node indexes each on its own write thread) while the next body is made."""
        if streams <= 1:
            return sum(self._send(index, chunk, lines) for chunk, lines in self._chunks(ops))
        written = 0
        pending: list[Future[int]] = []
        with ThreadPoolExecutor(max_workers=streams, thread_name_prefix="es-bulk") as pool:
            try:
                for chunk, lines in self._chunks(ops):
                    if len(pending) >= streams:
                        written += pending.pop(0).result()
                    pending.append(pool.submit(self._send, index, chunk, lines))
                for f in pending:
                    written += f.result()
            finally:
                for f in pending:
                    f.cancel()
        return written

    def write(self, ops: Iterable[IndexOp]) -> int:
        ops = list(ops)
        try:
            written = self._bulk(self.alias, ops)
            nxt = self._next_target()
            if nxt:
                self._bulk(nxt, ops)
            return written
        except TransportError as exc:
            raise _unavailable(exc) from exc

    def version_of(self, doc_id: str) -> tuple[int, bool] | None:
        try:
            got = self.client.get(index=self.alias, id=doc_id, source_includes=["deleted"])
        except NotFoundError:
            return None
        return int(got["_version"]), bool(got["_source"].get("deleted"))

    # --- rebuild --------------------------------------------------------------------------
    def rebuild(self, source: Iterable[IndexOp], catch_up: Iterable[IndexOp] | None = None) -> str:
        old = self.current_name()
        n = int(old.rsplit("-v", 1)[1]) + 1 if old else 1
        new = self._physical(n)
        self.client.indices.delete(index=new, ignore_unavailable=True)  # a rebuild that died
        self._create(new, {self.next_alias: {}}, bulk=True)
        self._wait_ready(new)
        self._next, self._next_checked = new, time.monotonic()
        time.sleep(NEXT_ALIAS_TTL * 1.5)  # every replica now writes to both indexes
        try:
            self._bulk(new, source, streams=REBUILD_STREAMS)
            self.client.indices.put_settings(index=new, settings=SERVING_SETTINGS)
            self.client.indices.refresh(index=new)
            actions: list[dict[str, Any]] = [
                {"add": {"index": new, "alias": self.alias, "is_write_index": True}},
                {"remove": {"index": new, "alias": self.next_alias}},
            ]
            if old:
                actions.insert(0, {"remove": {"index": old, "alias": self.alias}})
            self.client.indices.update_aliases(actions=actions)
        except BaseException:
            self.client.indices.delete(index=new, ignore_unavailable=True)
            self._next = None
            raise
        self._next = None
        if catch_up is not None:
            self._bulk(self.alias, catch_up)
        if old:
            self.client.indices.delete(index=old, ignore_unavailable=True)
        return new

    # --- queries --------------------------------------------------------------------------
    def _term(self, term: Term, typos: bool, scoring: bool = True) -> dict[str, Any]:
        should: list[dict[str, Any]] = []
        for field, boost in FOLDED_FIELDS:
            should.append(
                {"match": {field: {"query": term.folded, "operator": "and", "boost": boost}}}
            )
        for field, boost in EXACT_FIELDS if scoring else ():
            should.append(
                {"match": {field: {"query": term.exact, "operator": "and", "boost": boost}}}
            )
        if term.prefix:
            for field in PREFIX_FIELDS:
                should.append({"prefix": {field: {"value": term.folded, "boost": PREFIX_BOOST}}})
        for field, _boost in FOLDED_FIELDS:
            if typos and term.fuzzy:
                should.append(
                    {
                        "fuzzy": {
                            field: {
                                "value": term.folded,
                                "fuzziness": 1,
                                "prefix_length": 0,
                                "transpositions": True,
                                "boost": FUZZY_BOOST,
                            }
                        }
                    }
                )
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def _phrase(self, words: tuple[Term, ...], scoring: bool = True) -> dict[str, Any]:
        folded = " ".join(w.folded for w in words)
        exact = " ".join(w.exact for w in words)
        should = [
            {"match_phrase": {f: {"query": folded, "boost": b}}} for f, b in FOLDED_FIELDS[:2]
        ]
        if scoring:
            should += [{"match_phrase": {f: {"query": exact, "boost": b}}} for f, b in EXACT_FIELDS]
        return {"bool": {"should": should, "minimum_should_match": 1}}

    def _query(self, query: SearchQuery, scoring: bool = True) -> dict[str, Any]:
        """Without `scoring`: the same documents (an exact form always matches folded too), by
        fewer clauses, for counting."""
        must = [self._term(t, query.typos, scoring) for t in query.terms] + [
            self._phrase(p.words, scoring) for p in query.phrases
        ]
        flt: list[dict[str, Any]] = [{"terms": {"visibility": list(query.visibilities)}}]
        for name, values in query.filters.by_facet().items():
            flt.append({"terms": {KEYWORD_FIELDS[name]: list(values)}})
        f = query.filters
        if f.date_from or f.date_to:
            rng: dict[str, int] = {}
            if f.date_from:
                rng["gte"] = int(f.date_from.timestamp())
            if f.date_to:
                rng["lt"] = int(f.date_to.timestamp())
            flt.append({"range": {"ts": rng}})
        return {"bool": {"must": must or [{"match_all": {}}], "filter": flt}}

    def _search(self, query: SearchQuery) -> SearchResults:
        """Two searches in one `_msearch`, run at once by the node: the page (sorted, no counting,
        so nothing but the page is scored) and the counts (facets and the exact total, in filter
        context with size 0, which the node's request cache keeps until the next refresh: every
        later page of the same query, and the landing page asked all day, are counted once)."""
        by_date = query.effective_sort == "date"
        sort: list[Any] = (
            [{"sk": "desc"}, {"id": "asc"}] if by_date else [{"_score": "desc"}, {"id": "asc"}]
        )
        ranked = self._query(query)
        page_body: dict[str, Any] = {
            "query": ranked,
            "sort": sort,
            "size": query.size + 1,
            "track_total_hits": False,
            "track_scores": not by_date,
            "_source": {"excludes": ["deleted", "ts", "sk"]},
        }
        if query.cursor:
            after = query.cursor.get("after")
            if (
                not isinstance(after, list)
                or len(after) != 2
                or isinstance(after[0], bool)
                or not isinstance(after[0], int | float)
                or not isinstance(after[1], str)
            ):
                raise InvalidInput("cursor is not one this service issued", "cursor")
            page_body["search_after"] = after
        counts_body: dict[str, Any] = {
            "query": {"bool": {"filter": [self._query(query, scoring=False)]}},
            "size": 0,
            "track_total_hits": True,
            "aggs": {
                name: {"terms": {"field": field, "size": 100}}
                for name, field in KEYWORD_FIELDS.items()
            },
        }
        try:
            res = self.client.msearch(index=self.alias, searches=[{}, page_body, {}, counts_body])
        except ApiError as exc:
            raise _unavailable(exc) from exc
        except TransportError as exc:
            raise _unavailable(exc) from exc
        page_res, counts_res = (_answer(r) for r in res["responses"])
        rows = page_res["hits"]["hits"]
        page = rows[: query.size]
        hits = [
            make_hit(r["_source"], None if by_date else float(r["_score"]), query) for r in page
        ]
        next_cursor = None
        if len(rows) > query.size and page:
            next_cursor = encode_cursor({"sort": query.effective_sort, "after": page[-1]["sort"]})
        aggs = counts_res.get("aggregations", {})
        facets = {
            name: facet_buckets(
                {str(b["key"]): int(b["doc_count"]) for b in aggs.get(name, {}).get("buckets", [])}
            )
            for name in FACETS
        }
        return SearchResults(int(counts_res["hits"]["total"]["value"]), hits, facets, next_cursor)


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    """One search of an `_msearch`: its result, or its error raised as the API would."""
    error = response.get("error")
    if error is None:
        return response
    reason = error.get("reason") if isinstance(error, dict) else str(error)
    causes = error.get("root_cause") if isinstance(error, dict) else None
    if causes:
        reason = f"{reason}: " + "; ".join(str(c.get("reason")) for c in causes[:3])
    if int(response.get("status", 500)) == 400:
        raise InvalidInput(f"query refused by the index: {reason}", "q")
    raise Unavailable(f"search backend unavailable: {reason}"[:1000])
