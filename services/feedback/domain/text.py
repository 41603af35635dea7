"""Incoming text: Unicode NFC (phones and Windows send NFD), no control characters, bounded.

HTML or script in a description is kept exactly as typed: it is text, escaped wherever it is
rendered, never interpreted, so nothing is lost and nothing runs.
"""

from __future__ import annotations

import re
import unicodedata

from shared.errors import InvalidInput

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(value: str | None, field: str, max_length: int, required: bool = False) -> str:
    text = _CONTROL.sub("", unicodedata.normalize("NFC", value or "")).strip()
    if required and not text:
        raise InvalidInput(f"Thiếu {field} / {field} is required", field)
    if len(text) > max_length:
        raise InvalidInput(
            f"{field} dài quá {max_length} ký tự / {field} is longer than {max_length} characters",
            field,
        )
    return text


def fold(text: str) -> str:
    """Lower case without diacritics ("Một cửa" → "mot cua", "đ" → "d"), for similarity."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", fold(text)) if len(w) > 1}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of word pairs (diacritics folded); robust to word order noise."""

    def pairs(text: str) -> set[str]:
        toks = [w for w in re.findall(r"\w+", fold(text)) if len(w) > 1]
        return {f"{x} {y}" for x, y in zip(toks, toks[1:], strict=False)} or set(toks)

    pa, pb = pairs(a), pairs(b)
    if not pa or not pb:
        return 0.0
    return len(pa & pb) / len(pa | pb)
