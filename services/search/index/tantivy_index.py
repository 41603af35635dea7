"""The embedded backend: a tantivy index on disk, for one machine and one process.

Layout: `<index_dir>/CURRENT` names the live versioned folder (`v1`, `v2`, …); switching it is an
atomic file rename, which is tantivy's equivalent of moving an Elasticsearch alias. Only one
process may write (tantivy locks the folder), which matches the embedded deployment where all
services share one process.

Text is indexed twice: folded (lowercase + ASCII folding in tantivy's own analyzer, which folds
Vietnamese exactly like `domain.fold`, đ→d included, without a Python pass over every body) and
exact (lowercase with diacritics), the exact field boosted so that "mùa" ranks "mùa" above "mua".
Highlighting is the domain's, on the stored original text.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import tantivy

from services.search.domain import (
    FACETS,
    MAX_OFFSET,
    Hit,
    Phrase,
    SearchQuery,
    SearchResults,
    Term,
    encode_cursor,
    facet_buckets,
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
from shared.offload import in_parallel, off_hub

ANALYZER = "vi"
FOLDING = "vi_fold"
EXACT_FIELDS = (("title_exact", TITLE_BOOST), ("body_exact", BODY_BOOST))
BATCH = 5000
WRITER_HEAP = 128_000_000
REBUILD_WRITER_HEAP = 512_000_000  # a rebuild fills its index in few, large segments
TOTAL_AGG = "_total"
COUNTS_CACHED = 256
_META_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _analyzers() -> dict[str, tantivy.TextAnalyzer]:
    """Words split on non-alphanumerics (text is NFC already) and lowercased; one also folded."""

    def build(*extra: tantivy.Filter) -> tantivy.TextAnalyzer:
        builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        builder = builder.filter(tantivy.Filter.remove_long(100)).filter(tantivy.Filter.lowercase())
        for f in extra:
            builder = builder.filter(f)
        return builder.build()

    return {ANALYZER: build(), FOLDING: build(tantivy.Filter.ascii_fold())}


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw", fast=True)
    for name in ("type", "channels", "unit", "tags", "status", "visibility"):
        sb.add_text_field(name, stored=False, tokenizer_name="raw", fast=True)
    for name in ("title_fold", "body_fold", "keywords_fold"):
        sb.add_text_field(name, stored=False, tokenizer_name=FOLDING)
    for name in ("title_exact", "body_exact"):  # stored: the hit's title and highlight source
        sb.add_text_field(name, stored=True, tokenizer_name=ANALYZER)
    sb.add_unsigned_field("ts", stored=False, indexed=True, fast=True)
    sb.add_unsigned_field("sk", stored=True, indexed=True, fast=True)
    sb.add_unsigned_field("version", stored=True, indexed=False, fast=True)
    sb.add_boolean_field("deleted", stored=True, indexed=True, fast=False)
    sb.add_bytes_field("src", stored=True, indexed=False, fast=False)
    return sb.build()


class _Physical:
    """One versioned folder: its index, one writer, and its analyzers.

    `known`, for an index this instance created empty (a rebuild's), holds the version of every
    document written to it, so version checks need neither a search nor a commit: the index is
    filled without committing and committed once, when it is switched to."""

    def __init__(
        self,
        path: Path,
        schema: tantivy.Schema,
        analyzers: dict[str, Any],
        heap: int = WRITER_HEAP,
        fresh: bool = False,
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.index = tantivy.Index(schema, path=str(path), reuse=True)
        for name, analyzer in analyzers.items():
            self.index.register_tokenizer(name, analyzer)
        self.writer = self.index.writer(heap_size=heap)
        self.known: dict[str, tuple[int, bool]] | None = {} if fresh else None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing anyway
            self.writer.wait_merging_threads()


class TantivyIndex(SearchIndex):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.schema = _schema()
        self.analyzers = _analyzers()
        self._lock = threading.RLock()
        self._live: _Physical | None = None
        self._next: _Physical | None = None
        self._generation = 0  # bumped on every commit: keys of `_counts`
        self._counts: dict[tuple[Any, ...], tuple[dict, int]] = {}

    # --- lifecycle ------------------------------------------------------------------------
    def ensure(self) -> None:
        with self._lock:
            if self._live is not None:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            current = self.root / "CURRENT"
            if not current.exists():
                self._point_to("v1")
            self._live = _Physical(
                self.root / current.read_text().strip(), self.schema, self.analyzers
            )

    def _point_to(self, name: str) -> None:
        tmp = self.root / "CURRENT.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.root / "CURRENT")  # atomic: readers see the old or the new name

    @property
    def live(self) -> _Physical:
        if self._live is None:
            self.ensure()
        assert self._live is not None
        return self._live

    def current_name(self) -> str:
        return self.live.path.name

    def ping(self) -> None:
        try:
            self.live.index.searcher().num_docs  # noqa: B018 - touching the reader is the check
        except Exception as exc:
            raise Unavailable(f"search index unavailable: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for phys in (self._live, self._next):
                if phys is not None:
                    phys.close()
            self._live = self._next = None

    def drop(self) -> None:
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def refresh(self) -> None:
        self.live.index.reload()

    # --- writes ---------------------------------------------------------------------------
    def write(self, ops: Iterable[IndexOp]) -> int:
        with self._lock:
            targets = [self.live] + ([self._next] if self._next is not None else [])
            done = 0
            for batch in _batches(ops, BATCH):
                for i, target in enumerate(targets):
                    n = self._write_batch(target, batch, commit=target.known is None)
                    if i == 0:
                        done += n
            return done

    def _write_batch(self, target: _Physical, ops: list[IndexOp], commit: bool = True) -> int:
        """Write the ops that are newer than what `target` holds; with `commit`, make them
        durable and visible at once (live writes), else leave that to the rebuild's end."""
        newest: dict[str, IndexOp] = {}
        for op in ops:  # the newest op per document; a tombstone wins a tie
            seen = newest.get(op.doc_id)
            if (
                seen is None
                or op.version > seen.version
                or (op.version == seen.version and op.is_delete)
            ):
                newest[op.doc_id] = op
        known = target.known
        stored = known if known is not None else self._versions(target, list(newest))
        writer = target.writer
        written = 0
        for op in newest.values():
            old = stored.get(op.doc_id)
            if old is not None:
                if not _beats(op, old):
                    continue
                writer.delete_documents_by_term("id", op.doc_id)
            writer.add_document(self._to_tantivy(op))
            if known is not None:
                known[op.doc_id] = (op.version, op.is_delete)
            written += 1
        if written and commit:
            writer.commit()
            target.index.reload()
            self._changed()
        return written

    def _versions(self, target: _Physical, ids: list[str]) -> dict[str, tuple[int, bool]]:
        if target.known is not None:
            return {i: target.known[i] for i in ids if i in target.known}
        searcher = target.index.searcher()
        if searcher.num_docs == 0 or not ids:
            return {}
        query = tantivy.Query.term_set_query(self.schema, "id", ids)
        found: dict[str, tuple[int, bool]] = {}
        for _score, addr in searcher.search(query, limit=len(ids), count=False).hits:
            d = searcher.doc(addr)
            found[d.get_first("id")] = (int(d.get_first("version")), bool(d.get_first("deleted")))
        return found

    def _to_tantivy(self, op: IndexOp) -> tantivy.Document:
        d = tantivy.Document()
        add_text = d.add_text
        add_text("id", op.doc_id)
        d.add_unsigned("version", op.version)
        doc = op.doc
        d.add_boolean("deleted", doc is None)
        if doc is None:
            add_text("visibility", "deleted")
            d.add_unsigned("sk", 0)
            d.add_unsigned("ts", 0)
            return d
        add_text("type", doc.type)
        add_text("visibility", doc.visibility)
        add_text("status", doc.status)
        if doc.unit:
            add_text("unit", doc.unit)
        for c in doc.channels:
            add_text("channels", c)
        for t in doc.tags:
            add_text("tags", t)
        add_text("keywords_fold", " ".join(doc.tags))
        add_text("title_fold", doc.title)
        add_text("title_exact", doc.title)
        add_text("body_fold", doc.body)
        add_text("body_exact", doc.body)
        d.add_unsigned("ts", doc.ts)
        d.add_unsigned("sk", sort_key(doc))
        # stored once, the title and body in the exact fields (the same as `doc.to_json()`)
        meta = {
            "id": doc.id,
            "type": doc.type,
            "tags": doc.tags,
            "unit": doc.unit,
            "channels": doc.channels,
            "status": doc.status,
            "visibility": doc.visibility,
            "date": doc.date.isoformat() if doc.date else None,
            "source_id": doc.source_id,
            "url": doc.url,
            "duration_s": doc.duration_s,
        }
        d.add_bytes("src", _META_JSON(meta).encode())
        return d

    def _changed(self) -> None:
        self._generation += 1
        self._counts = {}

    def version_of(self, doc_id: str) -> tuple[int, bool] | None:
        return self._versions(self.live, [doc_id]).get(doc_id)

    # --- rebuild --------------------------------------------------------------------------
    def rebuild(self, source: Iterable[IndexOp], catch_up: Iterable[IndexOp] | None = None) -> str:
        with self._lock:
            live = self.live
            n = int(live.path.name.lstrip("v") or 1) + 1
            target = self.root / f"v{n}"
            shutil.rmtree(target, ignore_errors=True)  # a rebuild that died half-way
            self._next = _Physical(
                target, self.schema, self.analyzers, heap=REBUILD_WRITER_HEAP, fresh=True
            )
        nxt = self._next
        try:
            for batch in _batches(source, BATCH):
                with self._lock:  # live writes interleave between batches, into both indexes
                    self._write_batch(nxt, batch, commit=False)
            with self._lock:
                nxt.writer.commit()
                nxt.index.reload()
                nxt.known = None  # committed: from now on the index itself answers
                self._point_to(target.name)
                self._live, self._next = nxt, None
                self._changed()
        except BaseException:
            with self._lock:
                self._next = None
            nxt.close()
            shutil.rmtree(target, ignore_errors=True)
            raise
        if catch_up is not None:
            self.write(catch_up)
        live.close()
        shutil.rmtree(live.path, ignore_errors=True)
        return target.name

    # --- queries --------------------------------------------------------------------------
    def _analyze(self, analyzer: str, text: str) -> list[str]:
        return list(self.analyzers[analyzer].analyze(text))

    def _match(self, field: str, tokens: list[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return tantivy.Query.term_query(self.schema, field, tokens[0])
        return tantivy.Query.phrase_query(self.schema, field, tokens)

    def _term_query(self, term: Term, typos: bool, scoring: bool) -> tantivy.Query | None:
        folded = self._analyze(FOLDING, term.exact)
        exact = self._analyze(ANALYZER, term.exact)
        if not folded:  # a word too long to be indexed: no document has it (as on Elasticsearch)
            return tantivy.Query.boolean_query([])  # matches nothing, rather than being ignored
        should: list[tantivy.Query] = []
        for field, boost in FOLDED_FIELDS:
            should.append(tantivy.Query.boost_query(self._match(field, folded), boost))
        for field, boost in EXACT_FIELDS if scoring else ():
            should.append(tantivy.Query.boost_query(self._match(field, exact), boost))
        if len(folded) == 1 and term.prefix:
            for field in PREFIX_FIELDS:
                q = tantivy.Query.fuzzy_term_query(self.schema, field, folded[0], 0, True, True)
                should.append(tantivy.Query.boost_query(q, PREFIX_BOOST))
        elif len(folded) == 1 and typos and term.fuzzy:
            for field, _boost in FOLDED_FIELDS:
                q = tantivy.Query.fuzzy_term_query(self.schema, field, folded[0], 1, True)
                should.append(tantivy.Query.boost_query(q, FUZZY_BOOST))
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in should])

    def _phrase_query(self, phrase: Phrase, scoring: bool) -> tantivy.Query | None:
        text = " ".join(t.exact for t in phrase.words)
        folded = self._analyze(FOLDING, text)
        exact = self._analyze(ANALYZER, text)
        if not folded:
            return tantivy.Query.boolean_query([])  # matches nothing
        should = [
            tantivy.Query.boost_query(self._match(f, folded), b) for f, b in FOLDED_FIELDS[:2]
        ] + [
            tantivy.Query.boost_query(self._match(f, exact), b)
            for f, b in (EXACT_FIELDS if scoring else ())
        ]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in should])

    def _filters(self, query: SearchQuery) -> list[tantivy.Query]:
        s = self.schema
        out = [tantivy.Query.term_set_query(s, "visibility", list(query.visibilities))]
        for name, values in query.filters.by_facet().items():
            out.append(tantivy.Query.term_set_query(s, KEYWORD_FIELDS[name], list(values)))
        f = query.filters
        if f.date_from or f.date_to:
            lo = int(f.date_from.timestamp()) if f.date_from else 0
            hi = int(f.date_to.timestamp()) - 1 if f.date_to else 2**63 - 1
            out.append(tantivy.Query.range_query(s, "ts", tantivy.FieldType.Unsigned, lo, hi))
        return out

    def _base(self, query: SearchQuery, scoring: bool = True) -> tantivy.Query:
        """Text clauses (all must match) and filters (scoring nothing). Without `scoring`: the
        same documents (an exact form always matches folded too), by fewer clauses, for counting
        and ordering by date."""
        text: list[tantivy.Query] = []
        for term in query.terms:
            q = self._term_query(term, query.typos, scoring)
            if q is not None:
                text.append(q)
        for phrase in query.phrases:
            q = self._phrase_query(phrase, scoring)
            if q is not None:
                text.append(q)
        clauses = [(tantivy.Occur.Must, q) for q in text]
        clauses += [
            (tantivy.Occur.Must, tantivy.Query.const_score_query(q, 0.0))
            for q in self._filters(query)
        ]
        if not text:
            clauses.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(clauses)

    def _search(self, query: SearchQuery) -> SearchResults:
        try:
            return self._run(query)
        except ValueError as exc:
            raise Unavailable(f"search index error: {exc}") from exc

    def _run(self, query: SearchQuery) -> SearchResults:
        _check_cursor(query.cursor)
        key = self._counts_key(query)
        searcher = self.live.index.searcher()
        matching = self._base(query, scoring=False)
        page = functools.partial(self._page, searcher, matching, query)
        counted = self._counts.get(key)
        if counted is None:  # facets and total: one pass over every match, beside the page
            counted, (hits, addrs, has_more) = in_parallel(
                functools.partial(self._facets, searcher, matching), page
            )
            self._remember(key, counted)
        else:
            hits, addrs, has_more = off_hub(page)
        facets, total = counted
        if query.effective_sort != "date":
            offset = int((query.cursor or {}).get("offset", 0))
            has_more = offset + query.size < min(total, MAX_OFFSET)
        next_cursor = None
        if has_more and hits:
            if query.effective_sort == "date":
                last = searcher.doc(addrs[-1])
                next_cursor = encode_cursor(
                    {"sort": "date", "sk": int(last.get_first("sk")), "id": last.get_first("id")}
                )
            else:
                offset = int((query.cursor or {}).get("offset", 0)) + query.size
                next_cursor = encode_cursor({"sort": "relevance", "offset": offset})
        return SearchResults(total, hits, facets, next_cursor)

    def _page(
        self, searcher: tantivy.Searcher, matching: tantivy.Query, query: SearchQuery
    ) -> tuple[list[Hit], list[Any], bool]:
        """The hits of the page asked for, their addresses, and (by date) whether more follow."""
        if query.effective_sort == "date":
            addrs, has_more = self._by_date(searcher, matching, query)
            scored: list[tuple[float | None, Any]] = [(None, a) for a in addrs]
        else:
            offset = int((query.cursor or {}).get("offset", 0))
            ranked = self._base(query)
            res = searcher.search(ranked, limit=query.size, offset=offset, count=False)
            scored = [(float(s), a) for s, a in res.hits]
            addrs, has_more = [a for _, a in scored], False
        return self._hits(searcher, scored, query), addrs, has_more

    def _counts_key(self, query: SearchQuery) -> tuple[Any, ...]:
        """What decides the matching set, in the index as it is now (see `_remember`)."""
        return (self._generation, query.terms, query.phrases, query.filters,
                query.visibilities, query.typos)  # fmt: skip

    def _remember(self, key: tuple[Any, ...], counted: tuple[dict, int]) -> None:
        """Facet counts and totals of recent queries (the console's landing page asks the same
        one all day) until the next commit changes the index."""
        if key[0] != self._generation:
            return
        self._counts[key] = counted
        while len(self._counts) > COUNTS_CACHED:
            self._counts.pop(next(iter(self._counts)))

    def _by_date(
        self, searcher: tantivy.Searcher, base: tantivy.Query, query: SearchQuery
    ) -> tuple[list[Any], bool]:
        """Keyset pagination on (sk desc, id asc): correct at any depth, even if documents are
        added between pages. tantivy orders by one fast field only, so ties on `sk` are
        gathered whole and ordered by id here."""
        s = self.schema
        size = query.size
        rows: list[tuple[int, str, Any]] = []
        upper = 2**63 - 1
        cur = query.cursor
        if cur:
            k, last_id = int(cur["sk"]), str(cur["id"])
            rows += [r for r in self._with_sk(searcher, base, k) if r[1] > last_id]
            upper = k - 1
        if len(rows) <= size and upper >= 0:
            rest_q = base  # the first page: no bound (a range over every key costs a pass)
            if cur:
                rest_q = tantivy.Query.boolean_query(
                    [
                        (tantivy.Occur.Must, base),
                        (
                            tantivy.Occur.Must,
                            tantivy.Query.range_query(
                                s, "sk", tantivy.FieldType.Unsigned, 0, upper
                            ),
                        ),
                    ]
                )
            rest = searcher.search(rest_q, limit=size + 1, count=False, order_by_field="sk").hits
            fetched = [(int(k), "", a) for k, a in rest]
            if fetched:
                edge = fetched[-1][0]  # documents sharing the edge key: take them all, by id
                rows += [(k, self._id(searcher, a), a) for k, _, a in fetched if k != edge]
                rows += self._with_sk(searcher, rest_q, edge)
        rows.sort(key=lambda r: (-r[0], r[1]))
        return [a for _, _, a in rows[:size]], len(rows) > size

    def _with_sk(self, searcher: tantivy.Searcher, base: tantivy.Query, k: int) -> list[Any]:
        q = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, base),
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(self.schema, "sk", tantivy.FieldType.Unsigned, k, k),
                ),
            ]
        )
        hits = searcher.search(q, limit=10_000, count=False).hits
        return [(k, self._id(searcher, a), a) for _, a in hits]

    @staticmethod
    def _id(searcher: tantivy.Searcher, addr: Any) -> str:
        return str(searcher.doc(addr).get_first("id"))

    def _hits(
        self,
        searcher: tantivy.Searcher,
        scored: list[tuple[float | None, Any]],
        query: SearchQuery,
    ) -> list[Hit]:
        hits = []
        for score, addr in scored:
            d = searcher.doc(addr)
            src = json.loads(bytes(d.get_first("src")).decode())
            src["title"], src["body"] = d.get_first("title_exact"), d.get_first("body_exact")
            hits.append(make_hit(src, score, query))
        return hits

    def _facets(
        self, searcher: tantivy.Searcher, base: tantivy.Query
    ) -> tuple[dict[str, list[dict]], int]:
        """Facet counts of the matching set, and its size (every document has an `sk`)."""
        aggs: dict[str, Any] = {
            name: {"terms": {"field": field, "size": 100}} for name, field in KEYWORD_FIELDS.items()
        }
        aggs[TOTAL_AGG] = {"value_count": {"field": "sk"}}
        result = searcher.aggregate(base, aggs)
        facets = {}
        for name in FACETS:
            buckets = (result.get(name) or {}).get("buckets", [])
            facets[name] = facet_buckets({str(b["key"]): int(b["doc_count"]) for b in buckets})
        return facets, int((result.get(TOTAL_AGG) or {}).get("value") or 0)


def _is_int(value: Any, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high


def _check_cursor(cursor: dict[str, Any] | None) -> None:
    """A cursor is opaque but travels through the browser: one not made here (an offset of
    "abc", a key of -1) is the caller's error, not the index's."""
    if not cursor:
        return
    if "offset" in cursor:
        ok = _is_int(cursor["offset"], MAX_OFFSET)
    else:
        ok = _is_int(cursor.get("sk"), 2**63 - 1) and isinstance(cursor.get("id"), str)
    if not ok:
        raise InvalidInput("cursor is not one this service issued", "cursor")


def _batches(ops: Iterable[IndexOp], size: int) -> Iterator[list[IndexOp]]:
    batch: list[IndexOp] = []
    for op in ops:
        batch.append(op)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _beats(op: IndexOp, stored: tuple[int, bool]) -> bool:
    """A write replaces what is stored only if newer; a removal also wins at an equal version."""
    version, _deleted = stored
    return op.version > version or (op.version == version and op.is_delete and not _deleted)
