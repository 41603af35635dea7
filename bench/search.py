"""Benchmark of the search backends: bulk indexing rate, query latency and index size.

Generates N Vietnamese documents from the vocabulary (and word frequencies) of the real
administrative text in the seed folder, indexes them into each backend through the same
`SearchIndex.rebuild` the service uses for a full reindex (version-checked bulk writes into a new
index, then the alias switch; on Elasticsearch this includes the rebuild's 1.5 s pause for
replicas to notice it), then runs a fixed, seeded mix
of queries (folded words, exact diacritics, phrases, prefixes, filters, empty query by date).
Not a test: run it by hand.

For tantivy it also measures, in the same run, what tantivy itself needs for the same work with
nothing of loa around it, as baselines: indexing every word of each title and body once into a
one-field index (no folding, no exact forms, no filters, nothing stored), and for each query of
the mix only its ranked top 10 on loa's index (no facets, no total, no highlights). The ratios to
them show what loa adds; the baselines show what this machine allows.

    .venv/bin/python bench/search.py [--docs 100000] [--queries 1000]
                                     [--backends tantivy,elasticsearch] [--es-url URL]
                                     [--seed-dir ../shared/seed]

Goals (issue 6): indexing ≥ 5,000 docs/s on Elasticsearch and ≥ 20,000 docs/s on tantivy;
query p95 < 50 ms on Elasticsearch and < 10 ms on tantivy.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.search.domain import (  # noqa: E402
    DOC_TYPES,
    SearchDoc,
    SearchQuery,
    fold,
    make_doc,
    parse_query,
    words,
)
from services.search.index.base import IndexOp, SearchIndex  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = ROOT.parent / "shared" / "seed"
UNITS = [f"unit-{i:02d}" for i in range(30)]
CHANNELS = ["portal", "facebook", "zalo", "youtube", "app", "newspaper", "tv", "email"]
STATUSES = ["published", "published", "published", "answered", "ready"]
WRITE_BATCH = 5000
# Issue 6's goals: indexing docs/s at least, query p95 ms below.
GOALS = {"tantivy": (20_000, 10.0), "elasticsearch": (5_000, 50.0)}


class Vocabulary:
    """Words of the seed text with their frequencies, for realistic term distributions."""

    def __init__(self, seed_dir: Path, rng: random.Random) -> None:
        text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(seed_dir.glob("*.txt")))
        counts = Counter(w for w in words(text) if w.isalpha())
        if not counts:
            raise SystemExit(f"no words found in {seed_dir}/*.txt")
        self.words = list(counts)
        self.weights = [counts[w] for w in self.words]
        self.rng = rng
        # multi-word tags drawn from frequent neighbouring pairs of the text
        tokens = [w for w in words(text) if w.isalpha()]
        pairs = Counter(zip(tokens, tokens[1:], strict=False))
        self.tags = [f"{a} {b}" for (a, b), _ in pairs.most_common(60)]

    def sample(self, n: int) -> list[str]:
        return self.rng.choices(self.words, self.weights, k=n)

    def sentence(self, lo: int, hi: int) -> str:
        return " ".join(self.sample(self.rng.randint(lo, hi)))


def generate(vocab: Vocabulary, n: int, rng: random.Random) -> list[SearchDoc]:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(n):
        title = vocab.sentence(5, 12)
        docs.append(
            make_doc(
                doc_id=f"bench:{i}",
                doc_type=rng.choice(DOC_TYPES),
                title=title[:1].upper() + title[1:],
                body=". ".join(vocab.sentence(8, 20) for _ in range(rng.randint(4, 12))),
                tags=rng.sample(vocab.tags, rng.randint(0, 3)),
                unit=rng.choice(UNITS),
                channels=rng.sample(CHANNELS, rng.randint(0, 3)),
                status=rng.choice(STATUSES),
                visibility="public" if rng.random() < 0.8 else "internal",
                date=start + timedelta(seconds=rng.randint(0, 2 * 365 * 86400)),
            )
        )
    return docs


KINDS = ["folded", "folded", "folded", "exact", "exact", "phrase", "prefix", "filtered",
         "by-date", "empty"]  # fmt: skip
"""The kind of query i of the mix is KINDS[i % 10]."""


def query_mix(vocab: Vocabulary, n: int, rng: random.Random) -> list[SearchQuery]:
    """A fixed mix: the same seed gives the same queries for every backend."""
    queries = []
    for i in range(n):
        kind = i % 10
        ws = vocab.sample(rng.randint(2, 3))
        raw: dict[str, Any]
        if kind < 3:
            raw = {"q": fold(" ".join(ws))}  # typed without diacritics
        elif kind < 5:
            raw = {"q": " ".join(ws)}  # with diacritics: exact ranks first
        elif kind == 5:
            raw = {"q": f'"{" ".join(ws[:2])}"'}  # phrase
        elif kind == 6:
            raw = {"q": " ".join(ws)[: max(3, len(" ".join(ws)) - 2)], "prefix": True}
        elif kind == 7:
            raw = {
                "q": fold(ws[0]),
                "filters": {"type": [rng.choice(DOC_TYPES)], "channel": [rng.choice(CHANNELS)]},
            }
        elif kind == 8:
            raw = {
                "q": ws[0],
                "sort": "date",
                "filters": {
                    "unit": [rng.choice(UNITS)],
                    "date_from": "2023-06-01",
                    "date_to": "2024-06-30",
                },
            }
        else:
            raw = {"q": ""}  # recent items
        queries.append(parse_query(raw, rng.choice(["public", "staff"])))
    return queries


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def ops(docs: list[SearchDoc]) -> Iterator[IndexOp]:
    for d in docs:
        yield IndexOp(d.id, 1, d)


def open_backend(name: str, es_url: str | None) -> tuple[SearchIndex, Any]:
    if name == "tantivy":
        from services.search.index.tantivy_index import TantivyIndex

        folder = Path(tempfile.mkdtemp(prefix="loa-bench-search-"))
        return TantivyIndex(folder / "index"), folder
    if name == "elasticsearch":
        if not es_url:
            raise SystemExit("--es-url (or LOA_TEST_ELASTICSEARCH_URL) is needed for elasticsearch")
        from services.search.index.es_index import ElasticsearchIndex

        return ElasticsearchIndex(es_url, f"bench-{uuid.uuid4().hex[:8]}"), None
    raise SystemExit(f"unknown backend {name!r}")


def size_of(name: str, index: SearchIndex, folder: Any) -> int:
    if name == "tantivy":
        return dir_size(folder)
    client = index.client  # type: ignore[attr-defined]
    client.indices.flush(index=index.alias)  # type: ignore[attr-defined]
    client.options(request_timeout=600).indices.forcemerge(
        index=index.alias, max_num_segments=1, wait_for_completion=True
    )
    stats = client.indices.stats(index=index.alias, metric="store")  # type: ignore[attr-defined]
    return int(stats["_all"]["primaries"]["store"]["size_in_bytes"])


def bare_tantivy_rate(docs: list[SearchDoc]) -> float:
    """Docs/s of a one-field tantivy index of every title and body word (the indexing baseline)."""
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=False, tokenizer_name="default")
    folder = tempfile.mkdtemp(prefix="loa-bench-bare-")
    try:
        index = tantivy.Index(sb.build(), path=folder)
        writer = index.writer(heap_size=512_000_000)
        t0 = time.perf_counter()
        for d in docs:
            doc = tantivy.Document()
            doc.add_text("text", d.title)
            doc.add_text("text", d.body)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        return len(docs) / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bare_top10_p95(index: SearchIndex, queries: list[SearchQuery]) -> float:
    """p95 ms of each query's ranked top 10 alone, on loa's own tantivy index (the query
    baseline: no facets, no total, no date order, no highlights)."""
    searcher = index.live.index.searcher()  # type: ignore[attr-defined]
    latencies = []
    for q in queries:
        s = time.perf_counter()
        searcher.search(index._base(q), limit=q.size, count=False)  # type: ignore[attr-defined]
        latencies.append((time.perf_counter() - s) * 1000)
    return statistics.quantiles(latencies, n=100, method="inclusive")[94]


def run(name: str, docs: list[SearchDoc], queries: list[SearchQuery], es_url: str | None) -> str:
    index, folder = open_backend(name, es_url)
    try:
        index.ensure()
        t0 = time.perf_counter()
        index.rebuild(ops(docs))  # the bulk path: a full (re)index behind the alias
        index.refresh()
        elapsed = time.perf_counter() - t0
        assert index.search(parse_query({}, "staff")).total > 0
        for q in queries[:20]:  # warm caches the way a running service would have them
            index.search(q)
        latencies = []
        hits = 0
        for q in queries:
            s = time.perf_counter()
            res = index.search(q)
            latencies.append((time.perf_counter() - s) * 1000)
            hits += res.total > 0
        pct = statistics.quantiles(latencies, n=100, method="inclusive")
        by_kind: dict[str, list[float]] = {}
        for i, ms in enumerate(latencies):
            by_kind.setdefault(KINDS[i % 10], []).append(ms)
        kinds = "  ".join(
            f"{k} {statistics.quantiles(v, n=20, method='inclusive')[18]:.1f}"
            for k, v in by_kind.items()
        )
        size = size_of(name, index, folder)
        rate = len(docs) / elapsed
        min_rate, max_p95 = GOALS.get(name, (0, float("inf")))

        def verdict(ok: bool) -> str:
            return "met" if ok else "NOT met"

        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        baselines = ""
        if name == "tantivy":
            bare_p95 = bare_top10_p95(index, queries)
            bare_rate = bare_tantivy_rate(docs)
            baselines = (
                f"\n{'':<14} baselines, tantivy alone on this machine: one-field index "
                f"{bare_rate:,.0f} docs/s (loa's indexing = {rate / bare_rate:.2f}× it); ranked "
                f"top 10 alone p95={bare_p95:.2f} ms (loa's query p95 = "
                f"{pct[94] / bare_p95:.2f}× it)"
            )
        return (
            f"{name:<14} docs={len(docs):>7}  index {rate:>9,.0f} docs/s ({elapsed:6.1f} s; "
            f"goal ≥ {min_rate:,}: {verdict(rate >= min_rate)})  query p50={pct[49]:6.2f} ms "
            f"p95={pct[94]:6.2f} ms (goal < {max_p95:g} ms: {verdict(pct[94] < max_p95)}) "
            f"p99={pct[98]:6.2f} ms  ({hits}/{len(queries)} with hits)  size={human(size)}  "
            f"load average {load}\n{'':<14} p95 ms by kind of query: {kinds}{baselines}"
        )
    finally:
        index.drop()
        index.close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--backends", default="tantivy,elasticsearch")
    parser.add_argument(
        "--es-url",
        default=os.environ.get("LOA_TEST_ELASTICSEARCH_URL")
        or os.environ.get("LOA_ELASTICSEARCH_URL"),
    )
    parser.add_argument("--seed-dir", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    vocab = Vocabulary(args.seed_dir, rng)
    t0 = time.perf_counter()
    docs = generate(vocab, args.docs, rng)
    queries = query_mix(vocab, args.queries, random.Random(args.seed + 1))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    avg_words = statistics.mean(len(d.body.split()) + len(d.title.split()) for d in docs[:1000])
    print(
        f"generated {len(docs):,} documents (~{avg_words:.0f} words each, vocabulary "
        f"{len(vocab.words):,} words from {args.seed_dir}) and {len(queries):,} queries "
        f"in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        print(run(name, docs, queries, args.es_url), flush=True)


if __name__ == "__main__":
    main()
