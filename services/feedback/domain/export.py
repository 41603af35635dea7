"""What feedback tells search, page by page, for a rebuild of the search index: the published,
anonymized questions and answers, exactly as `feedback.answer_published` carries them.

Only `published_question` / `published_answer` leave (anonymized when they were published, with
the citizen's consent); never the ticket's description, contact, answer as typed or anything else.
In ticket id order. Read-only: nothing is written, no event recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback.models import tickets
from shared.events.export import check_page, export_item, page


def search_documents(session: Session, after: str | None, limit: int) -> dict[str, Any]:
    """{"items": [{key, type, version, occurred_at, payload}], "next": key or None}."""
    check_page(after, limit)
    columns = (  # nothing personal is even read
        tickets.c.id,
        tickets.c.code,
        tickets.c.category,
        tickets.c.unit_id,
        tickets.c.published_question,
        tickets.c.published_answer,
        tickets.c.published_version,
        tickets.c.answered_at,
        tickets.c.updated_at,
    )
    query = select(*columns).where(
        tickets.c.published_version > 0,
        tickets.c.published_question.is_not(None),
        tickets.c.published_answer.is_not(None),
        tickets.c.answered_at.is_not(None),
    )
    if after:
        query = query.where(tickets.c.id > after)
    rows = session.execute(query.order_by(tickets.c.id).limit(limit)).all()
    items = []
    for row in rows:
        payload = {
            "ticket_id": row.id,
            "code": row.code,
            "category": row.category,
            "unit_id": row.unit_id,
            "question": row.published_question,
            "answer": row.published_answer,
            "answered_at": row.answered_at,
            "version": row.published_version,
        }
        items.append(export_item("feedback.answer_published", row.id, payload, row.updated_at))
    return page(items, rows, limit)
