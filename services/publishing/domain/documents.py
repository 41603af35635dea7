"""A document item's file: a leaflet's (or poster's) PDF, stored and read for search.

The PDF goes to object storage; its text (pdftext: bounded, never failing on a bad file) goes
in the item row and, when the item is published, in `publishing.item_published`'s
`document_text`, which search indexes. A PDF whose text cannot be read is still attached: the
item is published and indexed without that text, and the reason is logged and kept on the item
(the reason names the failure, never the file's content).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from services.publishing.domain import pdftext
from services.publishing.domain.items import (
    EDITABLE,
    EDITOR_ROLES,
    Actor,
    _check_role,
    _load,
    _now,
    _record,
    get_item,
)
from services.publishing.domain.text import nfc
from services.publishing.models import items
from shared.errors import Conflict, InvalidInput, PayloadTooLarge

log = logging.getLogger(__name__)

MAX_BYTES = pdftext.MAX_BYTES


def storage_key(item_id: str, sha256: str) -> str:
    return f"publishing/items/{item_id}/document/{sha256}.pdf"


def check(data: bytes, filename: str) -> str:
    """The file's name, once the bytes are a PDF of an accepted size (else a clear 4xx)."""
    name = nfc(filename or "").strip().replace("/", "_")[:200] or "document.pdf"
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"file: the PDF is larger than {MAX_BYTES} bytes", "file")
    if not pdftext.is_pdf(data):
        raise InvalidInput("file: tệp phải là PDF / the file must be a PDF", "file")
    return name


def attach(
    session: Session, store: Any, item_id: str, filename: str, data: bytes, actor: Actor
) -> dict[str, Any]:
    """Attach (or replace) a document item's PDF while it is a draft or in review."""
    _check_role(actor, EDITOR_ROLES, "gắn tệp / attach files")
    name = check(data, filename)
    row = _load(session, item_id, lock=True)
    if row["kind"] != "document":
        raise Conflict("kind: chỉ bài loại 'document' có tệp / only a document has a file", "kind")
    if row["status"] not in EDITABLE:
        raise Conflict(
            f"status: không gắn tệp vào bài '{row['status']}' / a file is attached to a draft or "
            "an item in review (correct a published one)",
            "status",
        )
    read = pdftext.extract_text(data)
    if not read.indexed:
        log.warning(
            "publishing item %s: PDF text not indexed (%s: %s)", item_id, read.status, read.reason
        )
    sha256 = hashlib.sha256(data).hexdigest()
    key = storage_key(item_id, sha256)
    store.put(key, data, size=len(data), content_type="application/pdf")
    document = {
        "key": key,
        "filename": name,
        "size": len(data),
        "sha256": sha256,
        "pages": read.pages,
        "text_status": read.status,
        "text_reason": read.reason,
        "text_chars": len(read.text),
    }
    session.execute(
        update(items)
        .where(items.c.id == item_id)
        .values(document=document, document_text=read.text, updated_at=_now())
    )
    _record(
        session, item_id, "attach", row["status"], row["status"], actor, row["version"],
        {"document": [(row["document"] or {}).get("filename"), name]},
    )  # fmt: skip
    return get_item(session, item_id)
