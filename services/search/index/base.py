"""What every index backend does, so the service and the conformance suite never see which one.

Versions: each document is written with an ordering number (the search projection's revision of
it). A write carrying a number not greater than the stored one is ignored, so a late or repeated
event can never roll a document back. A removal is a tombstone with its own number: an older
upsert arriving afterwards loses to it, so a withdrawn item stays gone.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from services.search.domain import SearchDoc, SearchQuery, SearchResults

# One behaviour on both backends: the same facets, the same field boosts (title counts more than
# body; exact diacritics, in each backend's own exact fields, count more than folded matches).
KEYWORD_FIELDS = {
    "type": "type",
    "channel": "channels",
    "unit": "unit",
    "tags": "tags",
    "status": "status",
}
FOLDED_FIELDS = (("title_fold", 2.0), ("body_fold", 1.0), ("keywords_fold", 1.5))
TITLE_BOOST, BODY_BOOST = 6.0, 3.0
"""Of the exact (as typed) title and body fields."""
FUZZY_BOOST = 0.3
PREFIX_BOOST = 0.5
PREFIX_FIELDS = ("title_fold", "keywords_fold")
"""Where a half-typed last word (search-as-you-type) is completed: titles and tags, what a person
recognises while typing. Completed against bodies too, "d" or "th" would match nearly every
document, so the half word would narrow nothing, at several times the cost; once the word is
whole it matches bodies like any other word."""


def sort_key(doc: SearchDoc) -> int:
    """A date sort key unique enough that ties are rare: seconds, then a hash of the id. Both
    backends sort on it (then on id), so they list by date in the same order."""
    return doc.ts * 1_000_000 + zlib.crc32(doc.id.encode()) % 1_000_000


@dataclass(frozen=True)
class IndexOp:
    """One write: a document (or a tombstone when `doc` is None) at a version."""

    doc_id: str
    version: int
    doc: SearchDoc | None = None

    @property
    def is_delete(self) -> bool:
        return self.doc is None


class SearchIndex(ABC):
    """A search index behind a stable name (alias), rebuildable without downtime."""

    @abstractmethod
    def ensure(self) -> None:
        """Create the live index and its alias if missing (idempotent)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the index cannot serve (used by health)."""

    @abstractmethod
    def write(self, ops: Iterable[IndexOp]) -> int:
        """Apply writes, each only if newer than what is stored; return how many took effect.
        During a rebuild, writes also go to the index being built."""

    def upsert(self, doc: SearchDoc, version: int) -> bool:
        return self.write([IndexOp(doc.id, version, doc)]) == 1

    def delete(self, doc_id: str, version: int) -> bool:
        return self.write([IndexOp(doc_id, version, None)]) == 1

    @abstractmethod
    def version_of(self, doc_id: str) -> tuple[int, bool] | None:
        """(version, is_tombstone) of a document, or None if never seen."""

    def search(self, query: SearchQuery) -> SearchResults:
        """Run a validated query; if it finds nothing, once more with typo tolerance."""
        results = self._search(query)
        retry = query.typo_retry if results.total == 0 else None
        return self._search(retry) if retry is not None else results

    @abstractmethod
    def _search(self, query: SearchQuery) -> SearchResults:
        """Run a validated query as it is."""

    @abstractmethod
    def refresh(self) -> None:
        """Make every acknowledged write visible to searches (tests, end of a rebuild)."""

    @abstractmethod
    def rebuild(self, source: Iterable[IndexOp], catch_up: Iterable[IndexOp] | None = None) -> str:
        """Fill a new versioned index from `source`, then point the alias at it atomically.

        While it fills, live writes go to both indexes (version checks keep the newest), so
        nothing arriving during the rebuild is missed. `catch_up`, read after the switch, covers
        writes that raced with the start. Returns the new index's name."""

    @abstractmethod
    def current_name(self) -> str:
        """Name of the physical index the alias points at."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""

    def drop(self) -> None:  # noqa: B027 - optional hook
        """Delete every index this instance owns (tests and benchmarks)."""
