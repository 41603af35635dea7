"""Attachments (photos, documents, call recordings): size and type checked, stored as objects
encrypted under the personal-data key ring (pii.Vault.encrypt_stream); size and sha256 in the
row are the plain file's, the object's bytes are ciphertext."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.feedback.domain.pii import Vault
from services.feedback.domain.text import clean
from services.feedback.models import attachments
from shared.errors import InvalidInput, NotFound, PayloadTooLarge
from shared.ids import new_id
from shared.storage.base import CHUNK_SIZE

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


@dataclass
class _Measured:
    """Plain chunks passing by on their way to encryption: their size and sha256."""

    chunks: Iterable[bytes]
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.size += len(chunk)
            self.digest.update(chunk)
            yield bytes(chunk)


def put_sealed(
    objects: Any, vault: Vault, key: str, data: bytes | Iterable[bytes], ctype: str
) -> tuple[str, int, str]:
    """Encrypt a file into the object store: (key, plain size, plain sha256)."""
    chunks: Iterable[bytes] = (
        [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
        if isinstance(data, bytes | bytearray)
        else data
    )
    plain = _Measured(chunks)
    info = objects.put(key, vault.encrypt_stream(plain), content_type=ctype)
    return info.key, plain.size, plain.digest.hexdigest()


def store(
    session: Session,
    objects: Any,
    ticket_id: str | None,
    filename: str,
    ctype: str,
    data: bytes | Any,
    size: int | None = None,
    call_id: str | None = None,
    *,
    vault: Vault,
) -> dict[str, Any]:
    att_id = new_id()
    owner = ticket_id or f"call-{call_id}"
    key, plain_size, digest = put_sealed(objects, vault, f"feedback/{owner}/{att_id}", data, ctype)
    if size is not None and plain_size != size:
        raise InvalidInput(f"expected {size} bytes, received {plain_size}", "size")
    values = dict(
        id=att_id,
        ticket_id=ticket_id,
        call_id=call_id,
        key=key,
        filename=filename,
        content_type=ctype,
        size=plain_size,
        sha256=digest,
        created_at=datetime.now(UTC),
    )
    session.execute(insert(attachments).values(**values))
    return values


def list_for(session: Session, ticket_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(attachments).where(attachments.c.ticket_id == ticket_id))
    return [dict(r._mapping) for r in rows]


def get(session: Session, att_id: str) -> dict[str, Any]:
    row = session.execute(select(attachments).where(attachments.c.id == att_id)).first()
    if row is None:
        raise NotFound(f"Không có tệp {att_id} / no attachment {att_id}", "attachment_id")
    return dict(row._mapping)


def read(session: Session, objects: Any, vault: Vault, att_id: str) -> tuple[str, str, bytes]:
    """(filename, content type, plain bytes) of an attachment, decrypted."""
    row = get(session, att_id)
    with objects.open(row["key"]) as reader:
        data = b"".join(vault.decrypt_stream(reader, "attachment"))
    return row["filename"], row["content_type"], data
