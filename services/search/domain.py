"""The search domain in plain Python: documents, Vietnamese folding, queries and their validation.

Nothing here knows about Elasticsearch, tantivy or nameko; both index backends receive the same
`SearchDoc` and `SearchQuery`, which is what lets one conformance suite hold them to one behaviour.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.errors import InvalidInput
from shared.logging import redact

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

DOC_TYPES: tuple[str, ...] = ("media", "article", "bulletin", "video_post", "document", "answer")
VISIBILITIES: tuple[str, ...] = ("public", "internal")
FACETS: tuple[str, ...] = ("type", "channel", "unit", "tags", "status")
FILTER_FIELDS: tuple[str, ...] = (*FACETS, "date_from", "date_to")
SORTS: tuple[str, ...] = ("relevance", "date")

MAX_QUERY_CHARS = 1000  # longer is rejected: nobody types it, and it costs the backend
MAX_TERMS = 24  # extra words of a pasted paragraph are ignored rather than refused
MAX_FILTER_VALUES = 50
MAX_PAGE_SIZE = 100
MAX_OFFSET = 10_000  # offset-based cursors (tantivy, relevance) stop here
SNIPPET_CHARS = 200

# --- text ---------------------------------------------------------------------------------


def nfc(text: str) -> str:
    """Phones and Windows send decomposed (NFD) Vietnamese; everything is stored and queried NFC."""
    return unicodedata.normalize("NFC", text)


def _fold_char(c: str) -> str:
    """One character without its diacritics ("ộ" → "o", "đ" → "d", a lone combining mark → "")."""
    if c in "đĐ":
        return "d"
    return "".join(x for x in unicodedata.normalize("NFD", c) if not unicodedata.combining(x))


class _FoldTable(dict[int, str]):
    """A str.translate table filled on first sight of each character, so folding runs in C."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_FOLD = _FoldTable()
for _code in (*range(0xC0, 0x250), *range(0x300, 0x370), *range(0x1E00, 0x1F00)):
    _FOLD[_code]  # noqa: B018 - pre-fill the Latin letters Vietnamese uses


def fold(text: str) -> str:
    """Accent-insensitive form: NFC, lowercase, diacritics stripped, đ→d ("Đường" → "duong")."""
    lowered = nfc(text).lower()
    return lowered if lowered.isascii() else lowered.translate(_FOLD)


class _FoldedChunks(dict[str, str]):
    """Folded forms of whitespace-separated chunks, filled on first sight (lookups run in C)."""

    def __missing__(self, chunk: str) -> str:
        folded = self[chunk] = fold(chunk)
        return folded


_FOLDED_CHUNKS = _FoldedChunks()
_FOLDED_CHUNKS_MAX = 200_000


def fold_for_index(text: str) -> str:
    """`fold` of a text to be indexed, whitespace-separated chunk by chunk through a cache (a
    corpus repeats its words far more than it invents them). Runs of whitespace become one space,
    which no tokenizer tells apart; the words are exactly `fold`'s."""
    if len(_FOLDED_CHUNKS) > _FOLDED_CHUNKS_MAX:  # bounded: numbers, codes and typos never repeat
        _FOLDED_CHUNKS.clear()
    return " ".join(map(_FOLDED_CHUNKS.__getitem__, text.split()))


def clean_text(text: str | None, limit: int = 200_000) -> str:
    """Text as indexed: NFC, without phone numbers or e-mail addresses, bounded in size."""
    if not text:
        return ""
    return redact(nfc(text))[:limit]


_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Word tokens (lowercase NFC) the way the backends' tokenizers split Vietnamese syllables."""
    return [w.lower() for w in _WORD.findall(nfc(text)) if w.strip("_")]


def is_folded(word: str) -> bool:
    """True when a word carries no diacritic, so an exact match says nothing more than a fold."""
    return fold(word) == word


# --- documents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchDoc:
    """One searchable thing. `id` is "<kind>:<source id>" so sources never collide."""

    id: str
    type: str
    title: str
    body: str = ""
    tags: tuple[str, ...] = ()
    unit: str | None = None
    channels: tuple[str, ...] = ()
    status: str = "published"
    visibility: str = "internal"
    date: datetime | None = None
    source_id: str = ""
    url: str | None = None
    duration_s: float | None = None

    @property
    def ts(self) -> int:
        """Seconds since the epoch (0 when undated, so undated items sort last)."""
        return int(self.date.timestamp()) if self.date else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "body": self.body,
            "tags": list(self.tags),
            "unit": self.unit,
            "channels": list(self.channels),
            "status": self.status,
            "visibility": self.visibility,
            "date": self.date.isoformat() if self.date else None,
            "source_id": self.source_id,
            "url": self.url,
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchDoc:
        raw_date = data.get("date")
        return cls(
            id=data["id"],
            type=data["type"],
            title=data.get("title") or "",
            body=data.get("body") or "",
            tags=tuple(data.get("tags") or ()),
            unit=data.get("unit"),
            channels=tuple(data.get("channels") or ()),
            status=data.get("status") or "published",
            visibility=data.get("visibility") or "internal",
            date=_aware(datetime.fromisoformat(raw_date)) if raw_date else None,
            source_id=data.get("source_id") or "",
            url=data.get("url"),
            duration_s=data.get("duration_s"),
        )

    def with_channels(self, extra: list[str]) -> SearchDoc:
        merged = tuple(dict.fromkeys([*self.channels, *extra]))
        return replace(self, channels=merged)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _labels(values: Any) -> tuple[str, ...]:
    out = []
    for v in values or ():
        text = nfc(str(v)).strip()
        if text:
            out.append(text[:100])
    return tuple(dict.fromkeys(out))


def make_doc(
    *,
    doc_id: str,
    doc_type: str,
    title: str,
    body: str = "",
    tags: Any = (),
    unit: str | None = None,
    channels: Any = (),
    status: str = "published",
    visibility: str = "internal",
    date: datetime | None = None,
    source_id: str = "",
    url: str | None = None,
    duration_s: float | None = None,
) -> SearchDoc:
    """Build a document with every text normalized and personal data stripped."""
    if doc_type not in DOC_TYPES:
        raise InvalidInput(f"document type {doc_type!r} is not one of {list(DOC_TYPES)}", "type")
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility {visibility!r} is not one of {list(VISIBILITIES)}")
    return SearchDoc(
        id=doc_id,
        type=doc_type,
        title=clean_text(title, 1000),
        body=clean_text(body),
        tags=_labels(tags),
        unit=nfc(unit) if unit else None,
        channels=_labels(channels),
        status=nfc(status or "published"),
        visibility=visibility,
        date=_aware(date) if date else None,
        source_id=source_id,
        url=url,
        duration_s=duration_s,
    )


# --- changes derived from events ----------------------------------------------------------


@dataclass(frozen=True)
class Upsert:
    doc: SearchDoc
    source_version: int


@dataclass(frozen=True)
class Remove:
    doc_id: str
    source_version: int


@dataclass(frozen=True)
class Delivered:
    doc_id: str
    channel: str
    url: str | None


Change = Upsert | Remove | Delivered

ITEM_TYPES = {"article", "bulletin", "video_post", "document"}


def item_doc_id(item_id: str) -> str:
    return f"item:{item_id}"


def change_from_event(
    event_type: str, payload: Mapping[str, Any], occurred_at: datetime
) -> Change | None:
    """What an event means for the index (None: nothing). Personal data never gets in: feedback
    events carry none by schema, and every text is passed through `redact` anyway."""
    p = payload
    if event_type == "media.asset_ready":
        body = "\n".join(x for x in (p.get("description"), p.get("subtitles_text")) if x)
        doc = make_doc(
            doc_id=f"media:{p['asset_id']}",
            doc_type="media",
            title=p["title"],
            body=body,
            tags=p.get("tags"),
            unit=p.get("unit_id"),
            status="ready",
            visibility="internal",  # raw footage is working material for staff
            date=occurred_at,
            source_id=p["asset_id"],
            duration_s=p.get("duration_s"),
        )
        return Upsert(doc, int(p.get("version") or 1))
    if event_type == "media.asset_deleted":
        return Remove(f"media:{p['asset_id']}", int(p.get("version") or 1))
    if event_type == "publishing.item_published":
        kind = p.get("kind") if p.get("kind") in ITEM_TYPES else "article"
        status = p.get("status") or "published"
        audience = p.get("audience") or "public"
        texts = (p.get("summary"), p.get("body_text"), p.get("document_text"))
        body = "\n".join(x for x in texts if x)
        published_at = p.get("published_at")
        doc = make_doc(
            doc_id=item_doc_id(p["item_id"]),
            doc_type=kind,
            title=p["title"],
            body=body,
            tags=[*(p.get("tags") or []), *(p.get("topics") or [])],
            unit=p.get("unit_id"),
            channels=p.get("channels"),
            status=status,
            visibility="public" if status == "published" and audience == "public" else "internal",
            date=_parse_dt(published_at) if published_at else occurred_at,
            source_id=p["item_id"],
        )
        return Upsert(doc, int(p["version"]))
    if event_type == "publishing.item_withdrawn":
        return Remove(item_doc_id(p["item_id"]), int(p["version"]))
    if event_type == "publishing.delivery_succeeded":
        return Delivered(item_doc_id(p["item_id"]), nfc(p["channel"]), p.get("url"))
    if event_type == "feedback.answer_published":
        doc = make_doc(
            doc_id=f"answer:{p['ticket_id']}",
            doc_type="answer",
            title=p["question"][:300],
            body=f"{p['question']}\n{p['answer']}",
            tags=[p.get("category")] if p.get("category") else [],
            unit=p.get("unit_id"),
            status="answered",
            visibility="public",
            date=_parse_dt(p["answered_at"]),
            source_id=p["code"],
        )
        return Upsert(doc, int(p.get("version") or 1))
    return None


def _parse_dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _aware(value)
    return _aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


# --- queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A query word: `exact` keeps its diacritics (ranks exact matches first), `folded` matches."""

    exact: str
    folded: str
    prefix: bool = False

    @property
    def fuzzy(self) -> int:
        """Modest typo tolerance: one edit, and only for words long enough not to drift."""
        return 1 if len(self.folded) >= 5 and not self.prefix else 0


@dataclass(frozen=True)
class Phrase:
    words: tuple[Term, ...]


@dataclass(frozen=True)
class Filters:
    type: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    unit: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None  # exclusive

    def by_facet(self) -> dict[str, tuple[str, ...]]:
        return {name: getattr(self, name) for name in FACETS if getattr(self, name)}


Audience = Literal["public", "staff"]


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    terms: tuple[Term, ...] = ()
    phrases: tuple[Phrase, ...] = ()
    filters: Filters = field(default_factory=Filters)
    sort: str = "relevance"
    size: int = 20
    cursor: dict[str, Any] | None = None
    audience: Audience = "public"
    highlight: bool = True
    typos: bool = False  # set on the retry of a search that found nothing

    @property
    def typo_retry(self) -> SearchQuery | None:
        """Typo tolerance only when the words as typed found nothing: Vietnamese syllables
        are short, and one edit away from "phong" lies "thong", a different word."""
        if self.typos or not any(t.fuzzy for t in self.terms):
            return None
        return replace(self, typos=True)

    @property
    def is_empty(self) -> bool:
        return not self.terms and not self.phrases

    @property
    def effective_sort(self) -> str:
        """An empty query lists recent items, whatever sort was asked."""
        return "date" if self.is_empty else self.sort

    @property
    def visibilities(self) -> tuple[str, ...]:
        return VISIBILITIES if self.audience == "staff" else ("public",)


@dataclass
class Hit:
    id: str
    type: str
    title: str
    score: float | None
    date: str | None
    unit: str | None
    tags: list[str]
    channels: list[str]
    status: str
    url: str | None
    highlight: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SearchResults:
    total: int
    hits: list[Hit]
    facets: dict[str, list[dict[str, Any]]]
    next_cursor: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "hits": [h.to_json() for h in self.hits],
            "facets": self.facets,
            "next_cursor": self.next_cursor,
        }


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise InvalidInput("cursor is not one this service issued", "cursor") from None
    if not isinstance(data, dict):
        raise InvalidInput("cursor is not one this service issued", "cursor")
    return data


def _terms_of(text: str) -> list[Term]:
    return [Term(w, fold(w)) for w in words(text)]


def parse_text(text: str, prefix: bool = False) -> tuple[tuple[Term, ...], tuple[Phrase, ...]]:
    """Split query text into loose words and "quoted phrases"; every other character is text,
    so query syntax (`:` `(` `*` `AND` …) can never break a search. An unclosed quote is a word
    list. With `prefix`, the last loose word also matches as a prefix (search-as-you-type) of a
    title or tag word (see `index.base.PREFIX_FIELDS`)."""
    text = nfc(text)
    parts = text.split('"')
    if len(parts) % 2 == 0:  # unbalanced: the last quote opens nothing
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    terms: list[Term] = []
    phrases: list[Phrase] = []
    budget = MAX_TERMS
    for i, part in enumerate(parts):
        found = _terms_of(part)[:budget]
        budget -= len(found)
        if i % 2 == 1 and len(found) > 1:
            phrases.append(Phrase(tuple(found)))
        else:
            terms.extend(found)
    if prefix and terms and text and _WORD.match(text[-1]) and terms[-1].exact == words(text)[-1]:
        terms[-1] = Term(terms[-1].exact, terms[-1].folded, prefix=True)
    return tuple(dict.fromkeys(terms)), tuple(phrases)


def _str_list(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(f"filter {name} must be a string or a list of strings", name)
    if len(value) > MAX_FILTER_VALUES:
        raise InvalidInput(f"filter {name} takes at most {MAX_FILTER_VALUES} values", name)
    out = []
    for v in value:
        if not isinstance(v, str) or not v.strip() or len(v) > 100:
            raise InvalidInput(f"filter {name} values must be non-empty strings (≤100 chars)", name)
        out.append(nfc(v.strip()))
    return tuple(dict.fromkeys(out))


def _when(name: str, value: Any, end: bool) -> datetime:
    """A date or datetime; a bare date means the whole day in Vietnam (to: inclusive)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"filter {name} must be an ISO date (YYYY-MM-DD) or datetime", name)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), TZ).astimezone(UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"filter {name} must be an ISO date (YYYY-MM-DD) or datetime, got {value[:40]!r}", name
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TZ)
    return moment.astimezone(UTC)


def parse_filters(raw: Any) -> Filters:
    if raw is None:
        return Filters()
    if not isinstance(raw, Mapping):
        raise InvalidInput("filters must be an object", "filters")
    unknown = sorted(set(raw) - set(FILTER_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown filter {unknown[0]!r}; filters are {list(FILTER_FIELDS)}", unknown[0]
        )
    values: dict[str, Any] = {}
    for name in FACETS:
        if raw.get(name) is not None:
            values[name] = _str_list(name, raw[name])
    bad = [t for t in values.get("type", ()) if t not in DOC_TYPES]
    if bad:
        raise InvalidInput(f"filter type {bad[0]!r} is not one of {list(DOC_TYPES)}", "type")
    if raw.get("date_from") is not None:
        values["date_from"] = _when("date_from", raw["date_from"], end=False)
    if raw.get("date_to") is not None:
        values["date_to"] = _when("date_to", raw["date_to"], end=True)
    f = Filters(**values)
    if f.date_from and f.date_to and f.date_from >= f.date_to:
        raise InvalidInput("filter date_from must be before date_to", "date_from")
    return f


QUERY_FIELDS = ("q", "filters", "sort", "size", "cursor", "prefix", "highlight")


def parse_query(raw: Any, audience: str = "public") -> SearchQuery:
    """Validate a query as received over RPC; every refusal names the field at fault."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidInput("query must be an object", "query")
    unknown = sorted(set(raw) - set(QUERY_FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown query field {unknown[0]!r}; fields are {list(QUERY_FIELDS)}", unknown[0]
        )
    if audience not in ("public", "staff"):
        raise InvalidInput("visibility must be 'public' or 'staff'", "visibility")
    text = raw.get("q") or ""
    if not isinstance(text, str):
        raise InvalidInput("q must be a string", "q")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q is too long ({len(text)} characters, max {MAX_QUERY_CHARS})", "q")
    sort = raw.get("sort") or "relevance"
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {list(SORTS)}", "sort")
    size = raw.get("size", 20)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"size must be an integer from 1 to {MAX_PAGE_SIZE}", "size")
    prefix = raw.get("prefix", False)
    highlight = raw.get("highlight", True)
    for name, flag in (("prefix", prefix), ("highlight", highlight)):
        if not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be true or false", name)
    cursor = raw.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidInput("cursor must be a string", "cursor")
    terms, phrases = parse_text(text, prefix=prefix)
    query = SearchQuery(
        text=nfc(text),
        terms=terms,
        phrases=phrases,
        filters=parse_filters(raw.get("filters")),
        sort=sort,
        size=size,
        audience=audience,  # type: ignore[arg-type]
        highlight=highlight,
    )
    if cursor:
        data = decode_cursor(cursor)
        if data.get("sort") != query.effective_sort:
            raise InvalidInput("cursor belongs to a search with another sort", "cursor")
        query = replace(query, cursor=data)
    return query


def facet_buckets(counts: Mapping[str, int], limit: int = 20) -> list[dict[str, Any]]:
    """Facet values by count, then value, so both backends list them the same way."""
    ordered = sorted(((k, v) for k, v in counts.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    return [{"value": k, "count": v} for k, v in ordered[:limit]]


# --- highlighting -------------------------------------------------------------------------
# Done here, on the original text, rather than by each backend: both backends then highlight
# exactly alike, always with the original diacritics.

HIGHLIGHT_PRE = "<mark>"
HIGHLIGHT_POST = "</mark>"


def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance ≤ 1 (transposition counts as one), for typo-tolerant highlights."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _matches(token: str, query: SearchQuery) -> bool:
    f = fold(token)
    for term in query.terms:
        if f == term.folded or (term.prefix and f.startswith(term.folded)):
            return True
        if query.typos and term.fuzzy and _within_one_edit(f, term.folded):
            return True
    return any(f == w.folded for p in query.phrases for w in p.words)


def mark(text: str, spans: list[tuple[int, int]]) -> str:
    """HTML-escape `text` and wrap the character spans in <mark>."""
    import html

    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(HIGHLIGHT_PRE + html.escape(text[start:end]) + HIGHLIGHT_POST)
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _spans(text: str, query: SearchQuery) -> list[tuple[int, int]]:
    """Where the query's words occur: whole words of the text folding to a query word (or, for
    a prefix, starting with it). Fast path: for each query word, a regex over the original text
    whose letters are classes of everything folding to the word's letters (no folding of the
    text); word by word when typos are allowed or a character does not fold to exactly one."""
    if query.typos or _fold_tables()[1].search(text):
        return [(m.start(), m.end()) for m in _WORD.finditer(text) if _matches(m.group(), query)]
    return [m.span() for m in _query_pattern(query.terms, query.phrases).finditer(text)]


@lru_cache(maxsize=256)
def _query_pattern(terms: tuple[Term, ...], phrases: tuple[Phrase, ...]) -> re.Pattern[str]:
    """One pass over the text for all of the query's words: a whole word folding to one of them
    (or, for a prefix, starting with it)."""
    exact = {t.folded for t in terms if not t.prefix}
    exact |= {w.folded for p in phrases for w in p.words}
    forms = [_word_form(w) for w in sorted(exact)]
    forms += [_word_form(t.folded) + r"\w*" for t in terms if t.prefix]
    return re.compile(r"(?<!\w)(?:" + "|".join(forms or ["(?!)"]) + r")(?!\w)")


def _word_form(folded: str) -> str:
    classes = _fold_tables()[0]
    return "".join(classes.get(c) or re.escape(c) for c in folded)


def _fold_classes() -> tuple[dict[str, str], re.Pattern[str]]:
    """For each folded character, a regex class of the characters folding to it; and a pattern
    of the characters whose fold is not one character of the same kind (those take the slow
    path): combining marks, "İ", Σ (its lowercase depends on the next letter), astral ones."""
    variants: dict[str, list[str]] = {}
    odd = [r"\u03a3\ud800-\udfff\U00010000-\U0010ffff"]
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        c = chr(code)
        f = fold(c)
        if len(f) != 1 or bool(_WORD.match(c)) != bool(_WORD.match(f)):
            odd.append(re.escape(c))
        elif f != c:
            variants.setdefault(f, [f]).append(c)
    classes = {f: "[" + "".join(re.escape(c) for c in cs) + "]" for f, cs in variants.items()}
    return classes, re.compile("[" + "".join(odd) + "]")


@lru_cache(maxsize=1)
def _fold_tables() -> tuple[dict[str, str], re.Pattern[str]]:
    """Built on the first highlight (a pass over the BMP), not at import."""
    return _fold_classes()


def highlight(text: str, query: SearchQuery, max_chars: int | None = None) -> str | None:
    """The text (or its best window of `max_chars`) with query matches marked; None if none."""
    if not text or query.is_empty:
        return None
    spans = _spans(text, query)
    if not spans:
        return None
    start, end = 0, len(text)
    if max_chars and len(text) > max_chars:
        best, best_n = spans[0][0], 0
        for s, _ in spans:  # the window starting a little before a match that holds the most
            n = sum(1 for a, b in spans if s <= a and b <= s + max_chars)
            if n > best_n:
                best, best_n = s, n
        start = max(0, best - 30)
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end = min(len(text), start + max_chars)
        while end < len(text) and not text[end].isspace() and end - start < max_chars + 20:
            end += 1
    inside = [(a - start, b - start) for a, b in spans if start <= a and b <= end]
    fragment = text[start:end]
    return ("…" if start > 0 else "") + mark(fragment, inside) + ("…" if end < len(text) else "")


def make_hit(src: Mapping[str, Any], score: float | None, query: SearchQuery) -> Hit:
    """A result row from a stored document, highlighted the same way for every backend."""
    hl: dict[str, str] = {}
    if query.highlight:
        title = highlight(src.get("title") or "", query)
        body = highlight(src.get("body") or "", query, SNIPPET_CHARS)
        if title:
            hl["title"] = title
        if body:
            hl["body"] = body
    return Hit(
        id=src["id"],
        type=src["type"],
        title=src.get("title") or "",
        score=score,
        date=src.get("date"),
        unit=src.get("unit"),
        tags=list(src.get("tags") or []),
        channels=list(src.get("channels") or []),
        status=src.get("status") or "",
        url=src.get("url"),
        highlight=hl,
    )
