"""The search projection: what events said about each document, in the search service's own DB.

Why a projection and not just the index: deliveries carry no version and must be merged into
their item; the index must be rebuildable without a round trip to every owning service; and one
`revision` per row gives every index write a total order even when two events race. The row is
updated (and, on PostgreSQL, locked) before the index is written, inside the same unit of work as
the inbox record, so a failure anywhere rolls both back and the event is retried.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from services.search.domain import Change, Delivered, Remove, SearchDoc, Upsert
from services.search.index.base import IndexOp
from services.search.models import deliveries, documents
from shared.db import Database


class ConcurrentChange(Exception):
    """Another worker changed the same document first: the event is retried, never parked."""


def _load(session: Session, doc_id: str) -> Row | None:
    stmt = select(documents).where(documents.c.doc_id == doc_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.execute(stmt).first()


def _delivered(session: Session, doc_id: str) -> list[str]:
    rows = session.execute(
        select(deliveries.c.channel)
        .where(deliveries.c.doc_id == doc_id)
        .order_by(deliveries.c.delivered_at, deliveries.c.channel)
    )
    return [r.channel for r in rows]


def _save(
    session: Session,
    row: Row | None,
    doc_id: str,
    source_version: int,
    doc: SearchDoc | None,
) -> IndexOp:
    """Write the row with the next revision; refuse if someone else changed it meanwhile."""
    now = datetime.now(UTC)
    values = {
        "source_version": source_version,
        "deleted": doc is None,
        "doc": json.dumps(doc.to_json(), ensure_ascii=False) if doc else None,
        "updated_at": now,
    }
    if row is None:
        # a concurrent insert of the same id fails on the key and the event is retried
        session.execute(insert(documents).values(doc_id=doc_id, revision=1, **values))
        revision = 1
    else:
        revision = row.revision + 1
        done = session.execute(
            update(documents)
            .where(documents.c.doc_id == doc_id, documents.c.revision == row.revision)
            .values(revision=revision, **values)
        )
        if done.rowcount != 1:
            raise ConcurrentChange(f"{doc_id} changed concurrently; retrying")
    return IndexOp(doc_id, revision, doc)


def apply_change(session: Session, change: Change) -> IndexOp | None:
    """Fold one change into the projection; the index write it calls for (None: nothing)."""
    if isinstance(change, Delivered):
        exists = session.execute(
            select(deliveries.c.doc_id).where(
                deliveries.c.doc_id == change.doc_id, deliveries.c.channel == change.channel
            )
        ).first()
        if exists:
            return None
        session.execute(
            insert(deliveries).values(
                doc_id=change.doc_id,
                channel=change.channel,
                url=change.url,
                delivered_at=datetime.now(UTC),
            )
        )
        row = _load(session, change.doc_id)
        if row is None or row.deleted:
            return None  # merged when the item itself arrives
        doc = SearchDoc.from_json(json.loads(row.doc)).with_channels([change.channel])
        return _save(session, row, change.doc_id, row.source_version, doc)

    doc_id = change.doc.id if isinstance(change, Upsert) else change.doc_id
    row = _load(session, doc_id)
    if isinstance(change, Upsert):
        if row is not None and change.source_version <= row.source_version:
            return None  # late or repeated: what we have is as new or newer
        doc = change.doc.with_channels(_delivered(session, doc_id))
        return _save(session, row, doc_id, change.source_version, doc)
    assert isinstance(change, Remove)
    if row is not None and (
        change.source_version < row.source_version
        or (row.deleted and change.source_version == row.source_version)
    ):
        return None
    return _save(session, row, doc_id, change.source_version, None)


def all_ops(db: Database, since: datetime | None = None, batch: int = 2000) -> Iterator[IndexOp]:
    """Every document and tombstone at its revision, in pages (the rebuild's source)."""
    last = ""
    while True:
        with db.session() as session:
            stmt = select(documents).where(documents.c.doc_id > last)
            if since is not None:
                stmt = stmt.where(documents.c.updated_at >= since)
            rows = session.execute(stmt.order_by(documents.c.doc_id).limit(batch)).all()
        if not rows:
            return
        for r in rows:
            doc = None if r.deleted else SearchDoc.from_json(json.loads(r.doc))
            yield IndexOp(r.doc_id, r.revision, doc)
        last = rows[-1].doc_id
