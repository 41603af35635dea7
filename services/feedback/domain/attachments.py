"""Attachments (photos, documents, call recordings): size and type checked, stored as objects."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.feedback.domain.text import clean
from services.feedback.models import attachments
from shared.errors import InvalidInput, PayloadTooLarge
from shared.ids import new_id

ALLOWED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "application/pdf",
        "audio/mpeg",
        "audio/wav",
        "audio/x-wav",
        "audio/ogg",
    }
)


def decode(item: dict[str, Any], max_bytes: int, index: int) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of a base64 attachment, or a clear 4xx."""
    field = f"attachments.{index}"
    filename = clean(str(item.get("filename", "")), f"{field}.filename", 200, required=True)
    ctype = str(item.get("content_type", "")).lower()
    if ctype not in ALLOWED_TYPES:
        raise InvalidInput(
            f"Loại tệp '{ctype}' không được nhận / file type '{ctype}' is not accepted "
            f"(accepted: {', '.join(sorted(ALLOWED_TYPES))})",
            f"{field}.content_type",
        )
    data_b64 = str(item.get("data", ""))
    if len(data_b64) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(
            f"Tệp '{filename}' lớn hơn {max_bytes} byte / the attachment is larger than "
            f"{max_bytes} bytes",
            f"{field}.data",
        )
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("Tệp không đúng base64 / data is not base64", f"{field}.data") from None
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the attachment is larger than {max_bytes} bytes", f"{field}.data")
    return filename, ctype, data


def store(
    session: Session,
    objects: Any,
    ticket_id: str | None,
    filename: str,
    ctype: str,
    data: bytes | Any,
    size: int | None = None,
    call_id: str | None = None,
) -> dict[str, Any]:
    att_id = new_id()
    owner = ticket_id or f"call-{call_id}"
    info = objects.put(f"feedback/{owner}/{att_id}", data, size=size, content_type=ctype)
    values = dict(
        id=att_id,
        ticket_id=ticket_id,
        call_id=call_id,
        key=info.key,
        filename=filename,
        content_type=ctype,
        size=info.size,
        sha256=info.sha256 or "",
        created_at=datetime.now(UTC),
    )
    session.execute(insert(attachments).values(**values))
    return values


def list_for(session: Session, ticket_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(attachments).where(attachments.c.ticket_id == ticket_id))
    return [dict(r._mapping) for r in rows]
