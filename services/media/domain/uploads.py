"""The state of resumable uploads (tus 1.0.0): offsets, stored parts, leases, expiry.

The bytes never pass through here: the gateway streams them to object storage and reports what
it stored. This module decides whether that report is consistent (right offset, lease held, not
past the length) so a retried or concurrent PATCH can never corrupt an upload.
"""

from __future__ import annotations

import secrets
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.media.models import uploads
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from shared.ids import new_id

LEASE_S = 120
OPEN = "uploading"
RECEIVED = "received"
ENDED = ("terminated", "expired")
META_KEYS_KEPT = 20
META_VALUE_MAX = 1000


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def clean_meta(meta: dict[str, str]) -> dict[str, str]:
    """Client metadata is data only: NFC text, no control characters, bounded sizes."""
    out: dict[str, str] = {}
    for key, value in list(meta.items())[:META_KEYS_KEPT]:
        key = unicodedata.normalize("NFC", str(key))[:100]
        text = unicodedata.normalize("NFC", str(value))
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
        out[key] = text[:META_VALUE_MAX]
    return out


def display_filename(meta: dict[str, str]) -> str:
    """The name the editor gave the file, without any folder part (never used as a path)."""
    raw = meta.get("filename") or meta.get("name") or ""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:500] or "upload"


def view(row: Any) -> dict[str, Any]:
    """The upload as the gateway sees it (JSON-ready)."""
    expires = _aware(row.expires_at)
    state = row.state
    if state == OPEN and expires is not None and expires <= now():
        state = "expired"
    return {
        "id": row.id,
        "state": state,
        "length": int(row.length),
        "offset": int(row.offset),
        "meta": dict(row.meta or {}),
        "storage_key": row.storage_key,
        "multipart_id": row.multipart_id,
        "next_part": len(row.parts or []) + 1,
        "tail_key": row.tail_key,
        "tail_size": int(row.tail_size or 0),
        "expires_at": expires.isoformat() if expires else None,
        "asset_id": row.asset_id,
        "reason": row.reason,
    }


def create(
    session: Session,
    *,
    length: int,
    meta: dict[str, str],
    max_bytes: int,
    expiry_s: int,
    multipart_id: str | None,
    upload_id: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    if length < 0:
        raise InvalidInput("Upload-Length must be 0 or more", "Upload-Length")
    if length > max_bytes:
        raise PayloadTooLarge(
            f"Tệp {length} byte vượt giới hạn {max_bytes} byte / the file ({length} bytes) is "
            f"larger than the {max_bytes} bytes allowed",
            "Upload-Length",
        )
    upload_id = upload_id or new_id()
    created = now()
    session.execute(
        uploads.insert().values(
            id=upload_id,
            state=OPEN,
            length=length,
            offset=0,
            meta=clean_meta(meta),
            storage_key=storage_key(upload_id),
            multipart_id=multipart_id,
            parts=[],
            tail_key=None,
            tail_size=0,
            created_at=created,
            expires_at=created + timedelta(seconds=expiry_s),
            owner=owner,
        )
    )
    return get(session, upload_id)


OVERSEERS = frozenset({"admin"})
"""Roles that may look at and cancel anyone's upload (never write into it)."""


def owner_of(actor: dict[str, Any]) -> str:
    """The account an actor is (its id: a username can be renamed, an id cannot)."""
    owner = str(actor.get("sub") or "")
    if not owner:
        raise Forbidden("Không rõ người tải lên / the actor has no account id", "actor")
    return owner


def check_owner(
    session: Session, upload_id: str, actor: dict[str, Any], *, overseen: bool = False
) -> None:
    """An upload is its creator's: another account may not write to it, nor (unless overseen
    and an admin: reading its state, cancelling it) touch it at all. Uploads made before owners
    were recorded (owner NULL) stay open to any caller, until they expire."""
    row = _row(session, upload_id)
    if row.owner is None or row.owner == owner_of(actor):
        return
    if overseen and actor.get("role") in OVERSEERS:
        return
    raise Forbidden(
        "Lượt tải lên này của người khác / this upload belongs to another account", "upload_id"
    )


def storage_key(upload_id: str) -> str:
    return f"uploads/{upload_id}/original"


def _row(session: Session, upload_id: str, *, lock: bool = False) -> Any:
    query = select(uploads).where(uploads.c.id == upload_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None:
        raise NotFound(
            "Không có lượt tải lên này / no such upload (it may have been removed)", "upload_id"
        )
    return row


def parts_of(session: Session, upload_id: str) -> list[tuple[int, str]]:
    """(number, etag) of the stored parts, as complete_multipart wants them."""
    return [(int(n), str(e)) for n, e, _ in _row(session, upload_id).parts or []]


def get(session: Session, upload_id: str) -> dict[str, Any]:
    return view(_row(session, upload_id))


def begin_patch(session: Session, upload_id: str, offset: int) -> dict[str, Any]:
    """Take the upload's write lease if the offset is right: one writer at a time.

    Returns {"result": "ok" | "gone" | "locked" | "offset" | "complete", "upload": …, "lease": …}
    so the gateway can answer with tus' own status codes (410, 423, 409).
    """
    row = _row(session, upload_id, lock=True)
    upload = view(row)
    if upload["state"] in ENDED:
        return {"result": "gone", "upload": upload}
    if upload["state"] != OPEN:
        return {"result": "complete", "upload": upload}
    if offset != row.offset:
        return {"result": "offset", "upload": upload}
    lease_until = _aware(row.lease_until)
    if row.lease_token and lease_until and lease_until > now():
        return {"result": "locked", "upload": upload}
    token = secrets.token_hex(16)
    session.execute(
        update(uploads)
        .where(uploads.c.id == upload_id)
        .values(lease_token=token, lease_until=now() + timedelta(seconds=LEASE_S))
    )
    return {"result": "ok", "upload": upload, "lease": token}


def renew_lease(session: Session, upload_id: str, lease: str) -> bool:
    done = session.execute(
        update(uploads)
        .where(uploads.c.id == upload_id, uploads.c.lease_token == lease)
        .values(lease_until=now() + timedelta(seconds=LEASE_S))
    )
    return bool(done.rowcount)


def release(session: Session, upload_id: str, lease: str) -> None:
    session.execute(
        update(uploads)
        .where(uploads.c.id == upload_id, uploads.c.lease_token == lease)
        .values(lease_token=None, lease_until=None)
    )


def commit_patch(
    session: Session,
    upload_id: str,
    lease: str,
    *,
    new_parts: list[list[Any]],
    tail_key: str | None,
    tail_size: int,
    new_offset: int,
) -> tuple[dict[str, Any], str | None]:
    """Record what one PATCH stored; returns the upload and the tail object it replaced."""
    row = _row(session, upload_id, lock=True)
    if row.state != OPEN or row.lease_token != lease:
        raise Conflict(
            "Lượt ghi đã hết hiệu lực / this write lost its lease (another request took over); "
            "ask the server for the offset and resume",
            "Upload-Offset",
        )
    if not row.offset <= new_offset <= row.length:
        raise Conflict(f"offset {new_offset} is outside 0..{row.length}", "Upload-Offset")
    parts = [list(p) for p in (row.parts or [])]
    for number, etag, size in new_parts:
        if int(number) != len(parts) + 1:
            raise Conflict("parts must follow each other", "parts")
        parts.append([int(number), str(etag), int(size)])
    stored = sum(p[2] for p in parts) + tail_size
    if stored != new_offset:
        raise Conflict(f"stored {stored} bytes but the offset says {new_offset}", "Upload-Offset")
    complete = new_offset == row.length
    values: dict[str, Any] = {
        "offset": new_offset,
        "parts": parts,
        "tail_key": tail_key,
        "tail_size": tail_size,
        "lease_token": None,
        "lease_until": None,
    }
    if complete:
        values.update(state=RECEIVED, completed_at=now())
    session.execute(update(uploads).where(uploads.c.id == upload_id).values(**values))
    replaced = row.tail_key if row.tail_key and row.tail_key != tail_key else None
    return get(session, upload_id), replaced


def mark_received(session: Session, upload_id: str) -> dict[str, Any]:
    """A form upload stored its bytes in one go: it is complete."""
    row = _row(session, upload_id, lock=True)
    if row.state != OPEN:
        raise Conflict(f"the upload is {row.state}, not open", "upload_id")
    session.execute(
        update(uploads)
        .where(uploads.c.id == upload_id)
        .values(offset=row.length, state=RECEIVED, completed_at=now())
    )
    return get(session, upload_id)


def end(session: Session, upload_id: str, state: str) -> Any:
    """Terminate or expire an open upload; returns the row before (its storage to clean)."""
    row = _row(session, upload_id, lock=True)
    if row.state != OPEN:
        if row.state in ENDED:
            raise NotFound("the upload was already removed", "upload_id")
        raise Conflict(
            "Tệp đã tải lên xong, hãy xoá tài sản thay vì lượt tải / the upload is complete; "
            "delete the asset instead",
            "upload_id",
        )
    session.execute(
        update(uploads)
        .where(uploads.c.id == upload_id)
        .values(state=state, lease_token=None, lease_until=None, tail_key=None, parts=[])
    )
    return row


def expired_ids(session: Session, limit: int = 100) -> list[str]:
    rows = session.execute(
        select(uploads.c.id)
        .where(uploads.c.state == OPEN, uploads.c.expires_at < now())
        .limit(limit)
    )
    return [r.id for r in rows]


def finish(
    session: Session, upload_id: str, state: str, asset_id: str | None, reason: str | None
) -> None:
    session.execute(
        update(uploads)
        .where(uploads.c.id == upload_id)
        .values(state=state, asset_id=asset_id, reason=reason)
    )
