"""Reading a PDF's text for search: Vietnamese in NFC, bounded, and never failing on a bad file."""

from __future__ import annotations

import logging
import unicodedata

import pytest

from services.publishing.domain import pdftext
from tests.publishing.pdfs import encrypt, make_pdf

LEAFLET = [
    ["Tờ rơi: Hướng dẫn thủ tục đăng ký khai sinh", "Nộp hồ sơ tại bộ phận một cửa cấp xã"],
    ["Lệ phí: miễn phí đối với trẻ em dưới 6 tuổi"],
]


def test_text_of_a_two_page_leaflet() -> None:
    got = pdftext.extract_text(make_pdf(LEAFLET))
    assert got.status == pdftext.OK and got.pages == 2 and got.reason == ""
    assert "Hướng dẫn thủ tục đăng ký khai sinh" in got.text
    assert "bộ phận một cửa cấp xã" in got.text and "dưới 6 tuổi" in got.text
    assert unicodedata.is_normalized("NFC", got.text)


def test_decomposed_text_comes_out_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Đường một chiều")
    got = pdftext.extract_text(make_pdf([[nfd]]))
    assert got.text == "Đường một chiều"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (lambda: encrypt(make_pdf(LEAFLET)), pdftext.ENCRYPTED),
        (lambda: make_pdf(LEAFLET)[:400], pdftext.UNREADABLE),  # truncated
        (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 20, pdftext.UNREADABLE),  # garbage
        (lambda: b"PK\x03\x04 a zip, not a PDF", pdftext.UNREADABLE),
        (lambda: make_pdf([[" "]]), pdftext.EMPTY),  # no text layer worth the name
    ],
)
def test_bad_files_give_no_text_and_a_reason(data, status, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    got = pdftext.extract_text(data())
    assert got.status == status and got.text == "" and got.reason
    assert not got.indexed
    assert "khai sinh" not in caplog.text and "khai sinh" not in got.reason


def test_limits() -> None:
    data = make_pdf(LEAFLET)
    too_big = pdftext.extract_text(data, max_bytes=len(data) - 1)
    assert too_big.status == pdftext.TOO_LARGE and too_big.text == ""
    first_page = pdftext.extract_text(data, max_pages=1)
    assert first_page.status == pdftext.PARTIAL and "khai sinh" in first_page.text
    assert "dưới 6 tuổi" not in first_page.text
    short = pdftext.extract_text(data, max_chars=20)
    assert short.status == pdftext.PARTIAL and len(short.text) == 20
