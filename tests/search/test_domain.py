"""The search domain in plain Python: folding, query parsing and validation, events to documents."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from services.search.domain import (
    Delivered,
    Remove,
    Upsert,
    change_from_event,
    fold,
    fold_for_index,
    highlight,
    parse_query,
    parse_text,
)
from shared.errors import InvalidInput

NOW = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, folded",
    [
        ("một cửa liên thông", "mot cua lien thong"),
        ("Đường ĐI đỏ", "duong di do"),
        ("Dịch vụ công mức độ 4", "dich vu cong muc do 4"),
        (unicodedata.normalize("NFD", "Tuyên truyền viên"), "tuyen truyen vien"),
        ("Ưu tiên, ơn, ỹ", "uu tien, on, y"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_parse_text_words_phrases_prefix() -> None:
    terms, phrases = parse_text('thủ tục "một cửa liên thông" đất', prefix=True)
    assert [t.exact for t in terms] == ["thủ", "tục", "đất"]
    assert terms[-1].prefix and terms[-1].folded == "dat"
    assert [[w.folded for w in p.words] for p in phrases] == [["mot", "cua", "lien", "thong"]]
    terms, phrases = parse_text('thủ tục "một cửa', prefix=False)  # unclosed quote: words
    assert [t.folded for t in terms] == ["thu", "tuc", "mot", "cua"] and not phrases
    terms, _ = parse_text("đất ", prefix=True)  # a finished word is not a prefix
    assert not terms[0].prefix
    terms, _ = parse_text("a:b (c) AND d* || e", prefix=False)
    assert [t.exact for t in terms] == ["a", "b", "c", "and", "d", "e"]


def test_query_defaults_and_validation() -> None:
    q = parse_query({"q": unicodedata.normalize("NFD", "mùa")}, "public")
    assert q.text == "mùa" and q.sort == "relevance" and q.size == 20
    assert q.visibilities == ("public",)
    assert parse_query({}, "staff").visibilities == ("public", "internal")
    assert parse_query(None).is_empty and parse_query({}).effective_sort == "date"
    for raw, field in [
        ({"q": 5}, "q"),
        ({"q": "x" * 1001}, "q"),
        ({"sort": "random"}, "sort"),
        ({"size": 0}, "size"),
        ({"size": 101}, "size"),
        ({"size": True}, "size"),
        ({"prefix": "yes"}, "prefix"),
        ({"page": 2}, "page"),
        ({"cursor": "%%%"}, "cursor"),
        ({"filters": []}, "filters"),
        ({"filters": {"status": ""}}, "status"),
        ({"filters": {"date_to": "2024-13-01"}}, "date_to"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            parse_query(raw, "public")
        assert exc.value.field == field, raw
    with pytest.raises(InvalidInput) as exc:
        parse_query({}, "root")
    assert exc.value.field == "visibility"


def test_cursor_of_another_sort_is_refused() -> None:
    from services.search.domain import encode_cursor

    token = encode_cursor({"sort": "date", "after": [1, "x"]})
    with pytest.raises(InvalidInput, match="another sort"):
        parse_query({"q": "mùa", "sort": "relevance", "cursor": token})


def test_highlight_marks_words_by_fold_keeping_original_text() -> None:
    q = parse_query({"q": "duong <b>"})
    assert highlight("Đường <b> & đi", q) == "<mark>Đường</mark> &lt;<mark>b</mark>&gt; &amp; đi"
    assert highlight("không khớp", q) is None


@pytest.mark.parametrize(
    "text",
    [
        "Đường dây nóng  1022\ttiếp nhận\n phản ánh",
        "ĐƯỜNG DÂY NÓNG, “một cửa” – mức độ 4…",
        "café  cafe\u0301",  # a decomposed accent
        "ΟΔΟΣ και Σ",  # a final sigma
        "",
    ],
)
def test_fold_for_index_is_fold_word_by_word(text: str) -> None:
    assert fold_for_index(text) == " ".join(fold(text).split())


@pytest.mark.parametrize(
    "q, text, marked",
    [
        ("duong", "ĐƯỜNG dây, đường phố", ["ĐƯỜNG", "đường"]),
        ("mua", "Mùa múa mua muaa amua", ["Mùa", "múa", "mua"]),
        ("cafe", "café cafe\u0301 CAFÉ", ["café", "cafe", "CAFÉ"]),  # a lone mark is no letter
        ("οδος", "ΟΔΟΣ οδος", ["ΟΔΟΣ", "οδος"]),
        ("phong", "Phóng sự, phòng họp", ["Phóng", "phòng"]),
    ],
)
def test_highlight_finds_every_form_that_folds_to_a_query_word(
    q: str, text: str, marked: list[str]
) -> None:
    out = highlight(text, parse_query({"q": q}))
    assert out is not None
    assert [m.split("</mark>")[0] for m in out.split("<mark>")[1:]] == marked


def test_events_become_documents_without_personal_data() -> None:
    change = change_from_event(
        "feedback.answer_published",
        {
            "ticket_id": "t1",
            "code": "BD-1",
            "category": "đất đai",
            "unit_id": "so-tnmt",
            "question": "Gọi 0912 345 678 hoặc a.b@mail.vn hỏi về sổ đỏ",
            "answer": "Nộp hồ sơ tại bộ phận một cửa.",
            "answered_at": "2024-04-01T02:00:00Z",
            "version": 3,
        },
        NOW,
    )
    assert isinstance(change, Upsert) and change.source_version == 3
    d = change.doc
    assert d.id == "answer:t1" and d.type == "answer" and d.visibility == "public"
    assert "0912" not in d.body and "@" not in d.body and "[phone]" in d.body
    assert d.tags == ("đất đai",) and d.date == datetime(2024, 4, 1, 2, tzinfo=UTC)

    media = change_from_event(
        "media.asset_ready",
        {
            "asset_id": "a1",
            "title": unicodedata.normalize("NFD", "Phóng sự"),
            "tags": ["x"],
            "subtitles_text": "lời thoại",
            "version": 2,
        },
        NOW,
    )
    assert isinstance(media, Upsert)
    assert media.doc.visibility == "internal" and media.doc.title == "Phóng sự"
    assert "lời thoại" in media.doc.body and media.doc.date == NOW

    item = change_from_event(
        "publishing.item_published",
        {
            "item_id": "i1",
            "kind": "bulletin",
            "title": "Bản tin",
            "channels": ["email"],
            "status": "published",
            "version": 4,
        },
        NOW,
    )
    assert isinstance(item, Upsert) and item.doc.visibility == "public"
    assert item.doc.type == "bulletin" and item.doc.channels == ("email",)
    draft = change_from_event(
        "publishing.item_published",
        {"item_id": "i2", "kind": "article", "title": "Nháp", "status": "scheduled", "version": 1},
        NOW,
    )
    assert isinstance(draft, Upsert) and draft.doc.visibility == "internal"

    assert change_from_event(
        "publishing.item_withdrawn", {"item_id": "i1", "version": 5}, NOW
    ) == Remove("item:i1", 5)
    assert change_from_event(
        "media.asset_deleted", {"asset_id": "a1", "version": 3}, NOW
    ) == Remove("media:a1", 3)
    assert change_from_event(
        "publishing.delivery_succeeded",
        {"delivery_id": "d", "item_id": "i1", "channel": "zalo"},
        NOW,
    ) == Delivered("item:i1", "zalo", None)
    assert change_from_event("system.probe", {"seq": 1}, NOW) is None
