"""Monthly report per unit: on-time rate, median time to answer, satisfaction (SIPAS-style)."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.feedback.domain.workdays import TZ
from services.feedback.models import tickets, units

COLUMNS = (
    "month",
    "unit_id",
    "unit_name",
    "received",
    "answered",
    "answered_on_time",
    "on_time_rate",
    "median_hours_to_answer",
    "ratings",
    "mean_rating",
    "satisfaction_rate",
)


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=TZ)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def monthly(session: Session, month: str, unit_id: str | None = None) -> list[dict[str, Any]]:
    """One row per unit for tickets received in the month (Asia/Ho_Chi_Minh)."""
    start, end = _month_bounds(month)
    q = select(
        tickets.c.unit_id,
        tickets.c.created_at,
        tickets.c.answered_at,
        tickets.c.answered_on_time,
        tickets.c.rating,
    ).where(tickets.c.created_at >= start, tickets.c.created_at < end, tickets.c.status != "merged")
    if unit_id:
        q = q.where(tickets.c.unit_id == unit_id)
    names = {r.id: r.name for r in session.execute(select(units.c.id, units.c.name))}
    groups: dict[str | None, list[Any]] = {}
    for row in session.execute(q):
        groups.setdefault(row.unit_id, []).append(row)
    out = []
    for unit, rows in sorted(groups.items(), key=lambda kv: kv[0] or ""):
        answered = [r for r in rows if r.answered_at is not None]
        hours = [
            (_aware(r.answered_at) - _aware(r.created_at)).total_seconds() / 3600 for r in answered
        ]
        ratings = [r.rating for r in rows if r.rating is not None]
        on_time = sum(1 for r in answered if r.answered_on_time)
        out.append(
            {
                "month": month,
                "unit_id": unit,
                "unit_name": names.get(unit or "", ""),
                "received": len(rows),
                "answered": len(answered),
                "answered_on_time": on_time,
                "on_time_rate": round(on_time / len(answered), 4) if answered else None,
                "median_hours_to_answer": round(statistics.median(hours), 2) if hours else None,
                "ratings": len(ratings),
                "mean_rating": round(statistics.fmean(ratings), 2) if ratings else None,
                "satisfaction_rate": round(sum(1 for s in ratings if s >= 4) / len(ratings), 4)
                if ratings
                else None,
            }
        )
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with a UTF-8 BOM so Excel shows Vietnamese unit names correctly."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    return buf.getvalue()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
