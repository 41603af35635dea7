"""Vietnamese text in, clean text out: NFC everywhere, rich text sanitized with nh3.

Phones and Windows send NFD; two spellings of "một cửa" must be one string for search, feeds and
de-duplication. A body with script is refused (not silently cleaned), so the author knows.
"""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

from shared.errors import InvalidInput

ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "h2", "h3", "h4", "ul", "ol", "li",
    "blockquote", "a", "img", "figure", "figcaption", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}
_DANGEROUS = re.compile(r"<\s*(script|iframe|object|embed)\b|\son\w+\s*=|javascript:", re.I)
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|h[1-6]|li|blockquote|tr|figure)>|<br\s*/?>", re.I)


def nfc(value: str) -> str:
    """The NFC form, without surrounding blanks."""
    return unicodedata.normalize("NFC", value).strip()


def clean_text(value: str, field: str, *, max_len: int, required: bool = False) -> str:
    text = nfc(value or "")
    if required and not text:
        raise InvalidInput(f"{field}: không được để trống / must not be empty", field)
    if len(text) > max_len:
        raise InvalidInput(
            f"{field}: dài quá {max_len} ký tự / longer than {max_len} characters", field
        )
    return text


def sanitize_body(value: str, field: str = "body") -> str:
    """Safe HTML of a rich-text body; script tags or event handlers are an error, named."""
    body = nfc(value or "")
    if _DANGEROUS.search(body):
        raise InvalidInput(
            f"{field}: nội dung chứa mã script hoặc thuộc tính sự kiện, không được phép / "
            "the body contains script, iframe or event-handler markup, which is not allowed",
            field,
        )
    return nh3.clean(
        body,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def html_to_text(body_html: str) -> str:
    """Plain text of sanitized HTML (paragraphs kept), for channels that take no markup."""
    with_breaks = _BLOCK_END.sub("\n", body_html)
    text = html.unescape(_TAG.sub("", with_breaks))
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def shorten(text: str, limit: int) -> str:
    """At most limit characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"
