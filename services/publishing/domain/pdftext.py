"""The text of a PDF (a leaflet, a poster, a bulletin as printed), for search.

A PDF that cannot give its text (encrypted, broken, too large, image-only) never stops anything:
the result says why (`status`, `reason`), the text is empty or partial, and the caller goes on
without it. The reason names the kind of failure only, never the file's content.
"""

from __future__ import annotations

import io
import logging
import unicodedata
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024
MAX_PAGES = 200
MAX_CHARS = 200_000  # what a search event carries at most

OK = "ok"
EMPTY = "empty"  # no text layer (a scan): nothing to index
PARTIAL = "partial"  # cut at MAX_PAGES / MAX_CHARS, or some pages unreadable
ENCRYPTED = "encrypted"
UNREADABLE = "unreadable"
TOO_LARGE = "too_large"


@dataclass(frozen=True)
class PdfText:
    text: str
    status: str
    pages: int = 0
    reason: str = ""

    @property
    def indexed(self) -> bool:
        return bool(self.text)


def is_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-")


def _clean(text: str) -> str:
    """NFC, lines trimmed, runs of blank lines folded (PDF text comes in scattered pieces)."""
    lines = [" ".join(line.split()) for line in unicodedata.normalize("NFC", text).splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def extract_text(
    data: bytes, max_bytes: int = MAX_BYTES, max_pages: int = MAX_PAGES, max_chars: int = MAX_CHARS
) -> PdfText:
    """The PDF's text in reading order as the file stores it, bounded; never raises for a bad
    file."""
    if len(data) > max_bytes:
        return PdfText("", TOO_LARGE, reason=f"{len(data)} bytes, more than {max_bytes}")
    if not is_pdf(data):
        return PdfText("", UNREADABLE, reason="not a PDF file (no %PDF- header)")
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings quote file content
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return PdfText("", ENCRYPTED, reason="the PDF is encrypted")
        total = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return PdfText("", UNREADABLE, reason=f"cannot be read ({type(exc).__name__})")
    except Exception as exc:  # noqa: BLE001 - a hostile file must not break publishing
        return PdfText("", UNREADABLE, reason=f"cannot be read ({type(exc).__name__})")
    parts: list[str] = []
    size = 0
    failed = 0
    cut = total > max_pages
    for number in range(min(total, max_pages)):
        try:
            page_text = reader.pages[number].extract_text() or ""
        except Exception:  # noqa: BLE001 - one bad page loses that page only
            failed += 1
            continue
        parts.append(page_text)
        size += len(page_text)
        if size >= max_chars:
            cut = cut or size > max_chars or number + 1 < total
            break
    text = _clean("\n".join(parts))[:max_chars]
    if failed and not text:
        return PdfText("", UNREADABLE, total, f"{failed} of {total} pages cannot be read")
    if not text:
        return PdfText("", EMPTY, total, "no text layer (a scanned image?)")
    if cut or failed:
        why = []
        if cut:
            why.append(f"cut at {max_pages} pages / {max_chars} characters")
        if failed:
            why.append(f"{failed} pages cannot be read")
        return PdfText(text, PARTIAL, total, "; ".join(why))
    return PdfText(text, OK, total)
