"""The record of rebuilds admins asked for: asked, running, done (with its report) or failed
(with the reason). The API answers at once with the record; a search worker runs the rebuild from
a durable queue (if that worker dies the message comes back and the rebuild runs again), and
anyone can follow it here, from any replica.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.search.models import rebuilds
from shared.errors import Conflict, NotFound
from shared.ids import new_id

ACTIVE = ("queued", "running")
STALE_AFTER = timedelta(hours=6)
"""A rebuild still 'running' after this long lost its worker for good: a new one may start."""


def _now() -> datetime:
    return datetime.now(UTC)


def _view(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in ("requested_at", "started_at", "finished_at"):
        data[key] = data[key].isoformat() if data[key] is not None else None
    return data


def request(session: Session, requested_by: str, from_owners: bool) -> dict[str, Any]:
    """A new queued rebuild, unless one is already queued or running (409 naming it)."""
    since = _now() - STALE_AFTER
    active = session.execute(
        select(rebuilds.c.id)
        .where(rebuilds.c.state.in_(ACTIVE), rebuilds.c.requested_at > since)
        .limit(1)
    ).scalar()
    if active:
        raise Conflict(
            f"Đang dựng lại chỉ mục ({active}) / a search rebuild is already queued or running "
            f"({active}); follow it at /api/search/rebuilds/{active}",
            "rebuild",
        )
    rebuild_id = new_id()
    session.execute(
        rebuilds.insert().values(
            id=rebuild_id,
            state="queued",
            from_owners=from_owners,
            requested_by=requested_by[:200],
            requested_at=_now(),
            attempts=0,
        )
    )
    return get(session, rebuild_id)


def start(session: Session, rebuild_id: str) -> bool:
    """Mark it running (again, after a worker died); False if it already ended."""
    done = session.execute(
        update(rebuilds)
        .where(rebuilds.c.id == rebuild_id, rebuilds.c.state.in_(ACTIVE))
        .values(state="running", started_at=_now(), attempts=rebuilds.c.attempts + 1)
    )
    return bool(done.rowcount)


def finish(session: Session, rebuild_id: str, report: dict[str, Any]) -> None:
    session.execute(
        update(rebuilds)
        .where(rebuilds.c.id == rebuild_id)
        .values(state="done", finished_at=_now(), report=report, error=None)
    )


def fail(session: Session, rebuild_id: str, reason: str) -> None:
    session.execute(
        update(rebuilds)
        .where(rebuilds.c.id == rebuild_id)
        .values(state="failed", finished_at=_now(), error=reason[:2000])
    )


def get(session: Session, rebuild_id: str) -> dict[str, Any]:
    row = session.execute(select(rebuilds).where(rebuilds.c.id == rebuild_id)).first()
    if row is None:
        raise NotFound("Không có lần dựng lại này / no such rebuild", "rebuild_id")
    return _view(row)


def recent(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    rows = session.execute(select(rebuilds).order_by(rebuilds.c.requested_at.desc()).limit(limit))
    return [_view(r) for r in rows]
