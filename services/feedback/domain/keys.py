"""Key rotation: every sealed value and encrypted object re-encrypted under the newest key of the
ring, in batches, while the service runs (`loa keys rotate`, docs/operations.md).

Idempotent and resumable: what is already under the newest key is skipped, so a run stopped half
way is simply run again. Each batch is its own short transaction, and a value is replaced only if
it is still the one read (a handler's write in between wins; the next run takes it). Text written
before its column was encrypted is sealed on the way. Look-up hashes are not touched: their key
is LOA_FEEDBACK_LOOKUP_KEY, not the ring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from services.feedback.domain.pii import Vault
from services.feedback.models import SEALED, attachments, metadata

log = logging.getLogger(__name__)


def rotate(
    db: Any,
    objects: Any,
    vault: Vault,
    batch: int = 200,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """{"values": rewritten column values, "objects": rewritten objects, "rows": rows read}."""
    counts = {"values": 0, "objects": 0, "rows": 0}
    for name, columns in SEALED.items():
        table = metadata.tables[name]
        (pk,) = table.primary_key.columns
        after: Any = None
        while True:
            with db.session() as session:
                query = select(pk, *(table.c[c] for c in columns)).order_by(pk).limit(batch)
                if after is not None:
                    query = query.where(pk > after)
                rows = session.execute(query).all()
                for row in rows:
                    old = row._mapping
                    changes = {c: new for c in columns if (new := vault.reseal(old[c])) is not None}
                    if not changes:
                        continue
                    still = [table.c[c] == old[c] for c in changes]
                    done = session.execute(
                        update(table).where(pk == old[pk.name], *still).values(**changes)
                    )
                    counts["values"] += len(changes) * done.rowcount
            counts["rows"] += len(rows)
            if progress and rows:
                progress(f"{name}: {counts['rows']} rows read, {counts['values']} values rewritten")
            if len(rows) < batch:
                break
            after = rows[-1][0]
    after = None
    while True:
        with db.session() as session:
            query = select(attachments.c.id, attachments.c.key, attachments.c.content_type)
            if after is not None:
                query = query.where(attachments.c.id > after)
            rows = session.execute(query.order_by(attachments.c.id).limit(batch)).all()
        for row in rows:
            with objects.open(row.key) as reader:
                if vault.object_is_current(reader):
                    continue
            with objects.open(row.key) as reader:  # put replaces the object atomically
                objects.put(
                    row.key,
                    vault.encrypt_stream(vault.decrypt_stream(reader, "attachment")),
                    content_type=row.content_type,
                )
            counts["objects"] += 1
        if progress and rows:
            progress(f"attachments: {counts['objects']} objects rewritten")
        if len(rows) < batch:
            break
        after = rows[-1].id
    log.info("key rotation: %s", counts)
    return counts
