"""Open311 GeoReport v2 views of tickets: what any Open311 client may read, without an account.

- service_request_id is the ticket's public id, never its tracking code: the code is the secret
  that tracking, rating, reopening and privacy requests need, given only to whoever filed.
- The description is what publishing shows (the question as anonymized and published by staff,
  with the citizen's consent), never the text as typed; until then, none.
- The position of a public ticket is rounded to about a kilometre (2 decimals): the area of the
  problem on a map, not the house of the person who reported it. Contact details never.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback.domain.states import LABELS_VI, OPEN, Status
from services.feedback.models import categories, tickets, units

DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
POSITION_DECIMALS = 2


def services(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(categories).where(categories.c.active.is_(True)).order_by(categories.c.code)
    )
    return [
        {
            "service_code": r.code,
            "service_name": r.name,
            "description": r.description,
            "metadata": True,
            "type": "realtime",
            "keywords": "",
            "group": "hanh-chinh-cong",
        }
        for r in rows
    ]


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _coarse(value: float | None, public: bool) -> float | None:
    return round(value, POSITION_DECIMALS) if public and value is not None else None


def view(row: Any, unit_names: dict[str, str], cat_names: dict[str, str]) -> dict[str, Any]:
    public = bool(row.is_public)
    status = Status(row.status)
    return {
        "service_request_id": row.public_id,
        "status": "open" if status in OPEN else "closed",
        "status_notes": LABELS_VI[status],
        "service_name": cat_names.get(row.category, row.category),
        "service_code": row.category,
        "description": row.published_question if public and row.published_version else None,
        "agency_responsible": unit_names.get(row.unit_id or "", None),
        "service_notice": None,
        "requested_datetime": _iso(row.created_at),
        "updated_datetime": _iso(row.updated_at),
        "expected_datetime": _iso(row.deadline_at),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": _coarse(row.lat, public),
        "long": _coarse(row.long, public),
        "media_url": None,
    }


def requests(
    session: Session,
    *,
    ids: list[str] | None = None,
    service_codes: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: list[str] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """GET requests: by ids (dates ignored), else the filters with the 90-day default window."""
    columns = (  # never the tracking code, the description as typed or the contact
        tickets.c.public_id,
        tickets.c.status,
        tickets.c.category,
        tickets.c.unit_id,
        tickets.c.is_public,
        tickets.c.published_question,
        tickets.c.published_version,
        tickets.c.lat,
        tickets.c.long,
        tickets.c.created_at,
        tickets.c.updated_at,
        tickets.c.deadline_at,
    )
    q = select(*columns).order_by(tickets.c.created_at.desc()).limit(MAX_RESULTS)
    if ids:
        q = q.where(tickets.c.public_id.in_([i.strip() for i in ids]))
    else:
        now = now or datetime.now(UTC)
        if start is None and end is None:
            start = now - DEFAULT_WINDOW
        elif start is None and end is not None:
            start = end - DEFAULT_WINDOW
        if start is not None:
            q = q.where(tickets.c.created_at >= start)
        if end is not None:
            q = q.where(tickets.c.created_at <= end)
        if service_codes:
            q = q.where(tickets.c.category.in_(service_codes))
        if status:
            wanted: set[str] = set()
            if "open" in status:
                wanted |= {s.value for s in OPEN}
            if "closed" in status:
                wanted |= {s.value for s in Status if s not in OPEN}
            q = q.where(tickets.c.status.in_(sorted(wanted)))
    unit_names = {r.id: r.name for r in session.execute(select(units.c.id, units.c.name))}
    cat_names = {
        r.code: r.name for r in session.execute(select(categories.c.code, categories.c.name))
    }
    return [view(r, unit_names, cat_names) for r in session.execute(q)]


def token(session: Session, token_id: str) -> dict[str, Any] | None:
    row = session.execute(select(tickets.c.public_id).where(tickets.c.id == token_id)).first()
    return {"service_request_id": row.public_id, "token": token_id} if row else None
