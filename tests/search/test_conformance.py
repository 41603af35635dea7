"""One behaviour, two backends: every test here runs on tantivy and on Elasticsearch."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.search.domain import SearchDoc, encode_cursor, make_doc, parse_query
from services.search.index.base import IndexOp, SearchIndex, sort_key
from shared.errors import InvalidInput

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def doc(doc_id: str, title: str, body: str = "", days: float = 0, **kw: Any) -> SearchDoc:
    values: dict[str, Any] = {"doc_type": "article", "visibility": "public", "date": None}
    values.update(kw)
    if values["date"] is None:
        values["date"] = T0 + timedelta(days=days)
    return make_doc(doc_id=doc_id, title=title, body=body, **values)


def load(index: SearchIndex, *docs: SearchDoc, version: int = 1) -> None:
    index.write([IndexOp(d.id, version, d) for d in docs])
    index.refresh()


def search(index: SearchIndex, q: str = "", audience: str = "staff", **kw: Any) -> Any:
    return index.search(parse_query({"q": q, **kw}, audience))


def ids(result: Any) -> list[str]:
    return [h.id for h in result.hits]


@pytest.fixture
def corpus(index: SearchIndex) -> SearchIndex:
    load(
        index,
        doc(
            "a1",
            "Thủ tục một cửa liên thông cấp huyện",
            "Bộ phận một cửa liên thông tiếp nhận hồ sơ đất đai.",
            1,
            tags=["CCHC", "đất đai"],
            unit="ubnd-thu-dau-mot",
            channels=["portal", "facebook"],
        ),
        doc(
            "a2",
            "Dịch vụ công mức độ 4 trên Cổng dịch vụ công",
            "Người dân nộp hồ sơ trực tuyến, thanh toán phí.",
            2,
            tags=["dịch vụ công"],
            unit="so-tttt",
            channels=["portal"],
            doc_type="bulletin",
        ),
        doc(
            "a3",
            "Đường dây nóng 1022 tiếp nhận phản ánh",
            "Tổng đài 1022 hoạt động cả ngày.",
            3,
            unit="so-tttt",
            channels=["zalo"],
        ),
        doc(
            "a4",
            "Liên thông một cửa giữa các sở",
            "Thông tin về cải cách hành chính.",
            4,
            doc_type="video_post",
            channels=["youtube"],
        ),
        doc(
            "m1",
            "Phóng sự mùa lúa",
            "Clip mùa gặt ở Bến Cát.",
            5,
            doc_type="media",
            visibility="internal",
            status="ready",
            tags=["nông nghiệp"],
        ),
        doc(
            "q1",
            "Hỏi về thủ tục cấp sổ đỏ",
            "Trả lời: nộp hồ sơ tại bộ phận một cửa.",
            6,
            doc_type="answer",
            status="answered",
            tags=["đất đai"],
        ),
    )
    return index


# --- matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q, expected",
    [
        ("mot cua lien thong", {"a1", "a4"}),
        ("dich vu cong muc do 4", {"a2"}),
        ("duong day nong", {"a3"}),  # đ folds to d
        ("ĐƯỜNG DÂY NÓNG", {"a3"}),
        ("cap so do", {"q1"}),
        ("so do", {"a2", "q1"}),  # hồ sơ … mức độ; sổ đỏ
        ("1022", {"a3"}),
        ("dat dai", {"a1", "q1"}),  # tags count too
    ],
)
def test_matches_with_or_without_diacritics(corpus: SearchIndex, q: str, expected: set) -> None:
    assert set(ids(search(corpus, q))) == expected


def test_decomposed_input_matches(corpus: SearchIndex) -> None:
    nfd = unicodedata.normalize("NFD", "một cửa liên thông")
    assert nfd != unicodedata.normalize("NFC", nfd)
    assert set(ids(search(corpus, nfd))) == {"a1", "a4"}
    load(corpus, doc("d1", unicodedata.normalize("NFD", "Tuyên truyền viên xã"), days=9))
    assert ids(search(corpus, "tuyên truyền viên")) == ["d1"]


def test_exact_diacritics_rank_first(index: SearchIndex) -> None:
    load(index, doc("mua", "mua"), doc("mua2", "mùa"), doc("mua3", "múa"), doc("x", "khác"))
    for q, first in (("mùa", "mua2"), ("múa", "mua3"), ("mua", "mua")):
        got = ids(search(index, q))
        assert set(got) == {"mua", "mua2", "mua3"}, q
        assert got[0] == first, (q, got)


def test_exact_phrase_ranks_above_folded_words_in_longer_text(index: SearchIndex) -> None:
    load(index, doc("f", "Một cửa", "mot cua"), doc("e", "một cửa", "một cửa"))
    assert ids(search(index, "một cửa"))[0] == "e"


def test_phrases_need_the_words_together(corpus: SearchIndex) -> None:
    assert ids(search(corpus, '"một cửa liên thông"')) == ["a1"]
    assert ids(search(corpus, '"lien thong mot cua"')) == ["a4"]
    assert set(ids(search(corpus, '"mot cua" ho so'))) == {"a1", "q1"}


def test_prefix_for_search_as_you_type(corpus: SearchIndex) -> None:
    assert ids(search(corpus, "duong day no", prefix=True)) == ["a3"]
    assert ids(search(corpus, "phóng s", prefix=True)) == ["m1"]
    assert ids(search(corpus, "duong day no")) == []


def test_a_half_typed_word_is_completed_in_titles_and_tags(index: SearchIndex) -> None:
    load(
        index,
        doc("t", "Lịch tiếp dân", "Thông báo."),
        doc("g", "Thông báo", "Lịch họp.", tags=["tiếp công dân"]),
        doc("b", "Thông báo", "Lịch tiếp dân tháng này."),
    )
    assert set(ids(search(index, "thong bao tie", prefix=True))) == {"t", "g"}
    assert set(ids(search(index, "thong bao tiep", prefix=True))) == {"t", "g", "b"}


def test_modest_typo_tolerance(corpus: SearchIndex) -> None:
    got = search(corpus, "thogn tin")  # transposed letters in a long word
    assert ids(got) == ["a4"] and "<mark>Thông</mark>" in got.hits[0].highlight["body"]
    assert ids(search(corpus, "dat dau")) == []  # short words stay exact
    # tolerance only when the words as typed find nothing: "phong" is not a typo of "thong"
    assert ids(search(corpus, "phong")) == ["m1"]


def test_visibility(corpus: SearchIndex) -> None:
    assert "m1" in ids(search(corpus, "mua lua", audience="staff"))
    assert ids(search(corpus, "mua lua", audience="public")) == []
    assert search(corpus, "", audience="public").total == 5
    assert search(corpus, "", audience="staff").total == 6


# --- filters, facets, highlights, sorting -------------------------------------------------


def test_filters(corpus: SearchIndex) -> None:
    assert set(ids(search(corpus, "", filters={"type": ["bulletin", "video_post"]}))) == {
        "a2",
        "a4",
    }
    assert set(ids(search(corpus, "", filters={"channel": "portal"}))) == {"a1", "a2"}
    assert set(ids(search(corpus, "", filters={"unit": ["so-tttt"]}))) == {"a2", "a3"}
    assert set(ids(search(corpus, "", filters={"tags": ["đất đai"]}))) == {"a1", "q1"}
    assert set(ids(search(corpus, "", filters={"status": ["answered"]}))) == {"q1"}
    got = search(corpus, "", filters={"date_from": "2024-03-03", "date_to": "2024-03-05"})
    assert set(ids(got)) == {"a2", "a3", "a4"}  # whole days, Vietnam time, `to` inclusive
    got = search(corpus, "mot cua", filters={"type": ["article"], "channel": ["facebook"]})
    assert ids(got) == ["a1"]


def test_facets_count_the_matching_set(corpus: SearchIndex) -> None:
    facets = search(corpus, "", audience="public").facets
    assert facets["type"] == [
        {"value": "article", "count": 2},
        {"value": "answer", "count": 1},
        {"value": "bulletin", "count": 1},
        {"value": "video_post", "count": 1},
    ]
    assert {"value": "portal", "count": 2} in facets["channel"]
    assert facets["unit"] == [
        {"value": "so-tttt", "count": 2},
        {"value": "ubnd-thu-dau-mot", "count": 1},
    ]
    assert facets["tags"][0] == {"value": "đất đai", "count": 2}
    assert search(corpus, "1022").facets["type"] == [{"value": "article", "count": 1}]


def test_totals_and_facets_follow_every_write(corpus: SearchIndex) -> None:
    """Counts of a query asked again (the landing page, all day) change as soon as the index
    does: a new match, a changed one and a removed one each show at once."""
    before = search(corpus, "", audience="public")
    load(corpus, doc("n1", "Tin mới", doc_type="bulletin", channels=["zalo"]))
    after = search(corpus, "", audience="public")
    assert after.total == before.total + 1
    assert {"value": "bulletin", "count": 2} in after.facets["type"]
    load(corpus, doc("n1", "Tin mới", doc_type="answer", channels=["zalo"]), version=2)
    changed = search(corpus, "", audience="public")
    assert {"value": "bulletin", "count": 1} in changed.facets["type"]
    assert {"value": "answer", "count": 2} in changed.facets["type"]
    corpus.write([IndexOp("n1", 3, None)])
    corpus.refresh()
    again = search(corpus, "", audience="public")
    assert (again.total, again.facets) == (before.total, before.facets)


def test_highlights_keep_original_diacritics(corpus: SearchIndex) -> None:
    (hit,) = search(corpus, "duong day nong").hits
    assert (
        hit.highlight["title"] == "<mark>Đường</mark> <mark>dây</mark> <mark>nóng</mark> 1022 "
        "tiếp nhận phản ánh"
    )
    (hit,) = [h for h in search(corpus, "ho so dat dai").hits if h.id == "a1"]
    assert (
        "<mark>hồ</mark> <mark>sơ</mark> <mark>đất</mark> <mark>đai</mark>" in hit.highlight["body"]
    )


def test_highlight_of_long_body_is_a_window_around_matches(index: SearchIndex) -> None:
    body = "Mở đầu văn bản. " * 60 + "Kết quả khảo sát SIPAS năm 2023." + " Phần cuối." * 60
    load(index, doc("long", "Báo cáo", body))
    (hit,) = search(index, "sipas").hits
    assert "<mark>SIPAS</mark>" in hit.highlight["body"]
    assert len(hit.highlight["body"]) < 300


def test_sort_by_date_and_empty_query_lists_recent(corpus: SearchIndex) -> None:
    assert ids(search(corpus, "")) == ["q1", "m1", "a4", "a3", "a2", "a1"]
    assert ids(search(corpus, "mot cua", sort="date")) == ["q1", "a4", "a1"]
    rel = ids(search(corpus, "mot cua lien thong", sort="relevance"))
    assert set(rel) == {"a1", "a4"}


def _all_pages(index: SearchIndex, **query: Any) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        res = search(index, cursor=cursor, **query) if cursor else search(index, **query)
        seen += ids(res)
        pages += 1
        cursor = res.next_cursor
        if not cursor:
            return seen, pages
        assert pages < 100


def test_deep_pagination_is_exact_even_with_equal_dates(index: SearchIndex) -> None:
    docs = [doc(f"p{i:03d}", f"Bản tin số {i}", "thông báo", days=i // 10) for i in range(230)]
    load(index, *docs)
    expected = [d.id for d in sorted(docs, key=lambda d: (-sort_key(d), d.id))]
    seen, pages = _all_pages(index, q="", size=7)
    assert seen == expected and pages == 33
    seen, _ = _all_pages(index, q="thong bao", sort="date", size=25)
    assert seen == expected
    seen, _ = _all_pages(index, q="thong bao", size=50)
    assert sorted(seen) == sorted(expected)


def test_pages_stay_correct_when_documents_arrive_between_pages(index: SearchIndex) -> None:
    load(index, *[doc(f"s{i:02d}", "Tin", days=i) for i in range(20)])
    first = search(index, "", size=10)
    load(index, doc("new", "Tin mới nhất", days=100))
    second = search(index, "", size=10, cursor=first.next_cursor)
    assert ids(first) + ids(second) == [f"s{i:02d}" for i in range(19, -1, -1)]


# --- bad input ----------------------------------------------------------------------------


ALL = {"a1", "a2", "a3", "a4", "m1", "q1"}


@pytest.mark.parametrize(
    "q, plain, expected",
    [
        # operators and syntax are plain text: these words are in no document
        ("AND OR NOT ( ) : * ? \\ / [ ] { } ~ ^ - + ! && ||", "and or not", set()),
        # syntax between real words changes nothing (`-` does not exclude, `|` is not OR)
        (
            "một cửa ( ) : * ? \\ / [ ] { } ~ ^ - + ! && || liên thông",
            "một cửa liên thông",
            {"a1", "a4"},
        ),
        ("(mot|cua)^ +lien~ -thong*", "mot cua lien thong", {"a1", "a4"}),
        ('tiếp:"1022', "tiếp 1022", {"a3"}),  # a field prefix and an unclosed quote
        ("* ", "", ALL),  # no words: everything, not an error
        ('"" "', "", ALL),
        # a word too long to be indexed is in no document: it finds nothing, not everything
        ("a" * 900, "a" * 150, set()),
        (f'"{"b" * 150} {"c" * 150}"', f"{'b' * 150} {'c' * 150}", set()),
        ("một cửa " * 120, "một cửa", {"a1", "a4", "q1"}),
    ],
)
def test_syntax_characters_and_long_queries_never_break(
    corpus: SearchIndex, q: str, plain: str, expected: set[str]
) -> None:
    got = search(corpus, q)
    assert set(ids(got)) == expected and got.total == len(expected)
    assert ids(got) == ids(search(corpus, plain))  # the same as without the syntax


def test_too_long_query_and_bad_cursor_are_refused(corpus: SearchIndex) -> None:
    with pytest.raises(InvalidInput) as exc:
        search(corpus, "x" * 1001)
    assert exc.value.field == "q"
    with pytest.raises(InvalidInput) as exc:
        search(corpus, "", cursor="bm90IGEgY3Vyc29y")
    assert exc.value.field == "cursor"


@pytest.mark.parametrize(
    "forged",
    [
        {"sort": "relevance", "offset": "abc"},
        {"sort": "relevance", "offset": -5},
        {"sort": "relevance", "offset": 10**9},
        {"sort": "date", "sk": "abc", "id": "a1"},
        {"sort": "date", "sk": 5, "id": ["a1"]},
        {"sort": "relevance", "after": ["not a score", "a1"]},
        {"sort": "date", "after": [1, {"id": "a1"}]},
        {"sort": "relevance", "after": [True, "a1"]},
    ],
)
def test_a_forged_cursor_is_the_callers_error(corpus: SearchIndex, forged: dict) -> None:
    """Well-formed base64 JSON with the wrong content: a 4xx naming the cursor, never a 503."""
    for q, sort in (("mot cua", forged["sort"]), ("", "date")):
        with pytest.raises(InvalidInput) as exc:
            search(corpus, q, sort=sort, cursor=encode_cursor(forged))
        assert exc.value.field == "cursor"


@pytest.mark.parametrize(
    "filters, field",
    [
        ({"colour": ["red"]}, "colour"),
        ({"type": ["podcast"]}, "type"),
        ({"tags": [1, 2]}, "tags"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2024-05-01", "date_to": "2024-04-01"}, "date_from"),
        ({"unit": ["x"] * 51}, "unit"),
    ],
)
def test_invalid_filters_name_the_field(corpus: SearchIndex, filters: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        search(corpus, "mot cua", filters=filters)
    assert exc.value.field == field and exc.value.status == 422


# --- versions, tombstones, rebuild --------------------------------------------------------


def test_only_a_newer_version_overwrites(index: SearchIndex) -> None:
    assert index.upsert(doc("v", "Phiên bản hai"), 2)
    assert not index.upsert(doc("v", "Phiên bản một"), 1)  # late
    assert not index.upsert(doc("v", "Phiên bản hai bis"), 2)  # repeated
    index.refresh()
    assert [h.title for h in search(index, "phien ban").hits] == ["Phiên bản hai"]
    assert index.version_of("v") == (2, False)
    # within one batch too: the newest wins whatever the order
    index.write([IndexOp("w", 5, doc("w", "năm")), IndexOp("w", 4, doc("w", "bốn"))])
    index.refresh()
    assert [
        h.title for h in search(index, "", filters={"type": ["article"]}).hits if h.id == "w"
    ] == ["năm"]


def test_withdrawn_item_stays_gone(index: SearchIndex) -> None:
    load(index, doc("g", "Bài sẽ bị gỡ"), version=1)
    assert index.delete("g", 2)
    assert not index.upsert(doc("g", "Bài sẽ bị gỡ"), 1)  # a late, older publish
    index.refresh()
    assert search(index, "bai se bi go").total == 0
    assert search(index, "").total == 0
    assert index.version_of("g") == (2, True)
    # a withdrawal that arrives before the publish it follows
    assert index.delete("h", 3)
    assert not index.upsert(doc("h", "Chưa đăng đã gỡ"), 2)
    index.refresh()
    assert search(index, "chua dang").total == 0
    # a republish at a newer version brings it back
    assert index.upsert(doc("g", "Bài đăng lại"), 3)
    index.refresh()
    assert ids(search(index, "dang lai")) == ["g"]


def test_rebuild_switches_atomically_and_misses_nothing(index: SearchIndex) -> None:
    load(index, doc("r1", "Tài liệu cũ"), doc("r2", "Tờ rơi tuyên truyền"))
    before = index.current_name()

    def source() -> Any:
        yield IndexOp("r1", 2, doc("r1", "Tài liệu cũ đã sửa"))
        yield IndexOp("r2", 1, doc("r2", "Tờ rơi tuyên truyền"))
        # live events while the rebuild is filling: they must survive the switch
        index.upsert(doc("r3", "Áp phích mới trong lúc dựng lại"), 1)
        index.delete("r2", 2)
        index.refresh()
        assert ids(search(index, "ap phich")) == ["r3"]  # the old index still serves
        yield IndexOp("r2", 1, doc("r2", "Tờ rơi tuyên truyền"))  # stale copy: must lose

    after = index.rebuild(source())
    index.refresh()
    assert after != before and index.current_name() == after
    assert ids(search(index, "ap phich")) == ["r3"]
    assert search(index, "to roi").total == 0
    assert [h.title for h in search(index, "tai lieu").hits] == ["Tài liệu cũ đã sửa"]
