"""Call recordings: the call center's webhook announces a URL; the clock downloads it outside any
transaction, stores it as an attachment of the call (and of its ticket, now or once the operator
makes one), retrying outages with backoff and giving up on what can never succeed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.feedback.adapters.recording_fetch import FetchFailed, Recording
from services.feedback.domain.attachments import put_sealed
from services.feedback.domain.pii import Vault
from services.feedback.models import attachments, calls, recordings
from shared.errors import LoaError
from shared.ids import new_id

BACKOFF_S = (10, 60, 300, 1800)


def announce(session: Session, call_id: str, url: str) -> bool:
    """Remember a recording to fetch; False if this call's recording is already known."""
    if session.execute(select(recordings.c.call_id).where(recordings.c.call_id == call_id)).first():
        return False
    session.execute(
        insert(recordings).values(
            call_id=call_id,
            url=url,
            status="pending",
            attempts=0,
            next_attempt_at=datetime.now(UTC),
        )
    )
    return True


def fetch_due(
    db: Any,
    store: Any,
    opener: Callable[[str, int], Recording],
    max_bytes: int,
    limit: int = 5,
    *,
    vault: Vault,
) -> dict[str, int]:
    """Download what is due (opener: the call center adapter), encrypted into the store as it
    streams in; counts by outcome."""
    now = datetime.now(UTC)
    with db.session() as session:
        due = session.execute(
            select(recordings)
            .where(recordings.c.status == "pending", recordings.c.next_attempt_at <= now)
            .order_by(recordings.c.next_attempt_at)
            .limit(limit)
        ).all()
    counts = {"stored": 0, "retry": 0, "failed": 0}
    for row in due:
        changes: dict[str, Any] = {"attempts": row.attempts + 1}
        att_id = new_id()
        try:
            rec = opener(row.url, max_bytes)
            try:
                key, size, digest = put_sealed(
                    store, vault, f"feedback/call-{row.call_id}/{att_id}", rec.chunks,
                    rec.content_type,
                )
                if rec.size is not None and size != rec.size:
                    store.delete(key)
                    raise FetchFailed(f"received {size} of {rec.size} bytes", retry=True)
            finally:
                rec.close()
        except (FetchFailed, LoaError) as exc:
            # A store that refused or is down (LoaError) is tried again later.
            failure = (
                exc
                if isinstance(exc, FetchFailed)
                else FetchFailed(f"storing the recording failed: {exc}", retry=True)
            )
            if failure.retry and row.attempts < len(BACKOFF_S):
                changes.update(
                    last_error=failure.reason[:2000],
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=BACKOFF_S[row.attempts]),
                )
                counts["retry"] += 1
            else:
                changes.update(status="failed", last_error=failure.reason[:2000])
                counts["failed"] += 1
            with db.session() as session:
                session.execute(
                    update(recordings).where(recordings.c.call_id == row.call_id).values(**changes)
                )
            continue
        with db.session() as session:
            ticket_id = session.execute(
                select(calls.c.ticket_id).where(calls.c.call_id == row.call_id)
            ).scalar()
            session.execute(
                insert(attachments).values(
                    id=att_id,
                    ticket_id=ticket_id,
                    call_id=row.call_id,
                    key=key,
                    filename=f"recording-{row.call_id}"[:250] + _extension(rec.content_type),
                    content_type=rec.content_type,
                    size=size,
                    sha256=digest,
                    created_at=datetime.now(UTC),
                )
            )
            changes.update(status="stored", attachment_id=att_id, last_error=None)
            session.execute(
                update(recordings).where(recordings.c.call_id == row.call_id).values(**changes)
            )
        counts["stored"] += 1
    return counts


def link_to_ticket(session: Session, call_id: str, ticket_id: str) -> None:
    """The call became a ticket: its recording (fetched before or after) belongs to it."""
    session.execute(
        update(attachments)
        .where(attachments.c.call_id == call_id, attachments.c.ticket_id.is_(None))
        .values(ticket_id=ticket_id)
    )


def status(session: Session, call_id: str) -> dict[str, Any] | None:
    row = session.execute(select(recordings).where(recordings.c.call_id == call_id)).first()
    if row is None:
        return None
    return {k: row._mapping[k] for k in ("status", "attempts", "last_error", "attachment_id")}


def _extension(ctype: str) -> str:
    return {
        "audio/mpeg": ".mp3",
        "audio/mp3": ".mp3",
        "audio/ogg": ".ogg",
        "audio/mp4": ".m4a",
    }.get(ctype, ".wav")
