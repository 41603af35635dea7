"""Plan tracking: the 2019 plan's appendix (ten tasks) as data, planned against published.

"Planned" comes from the task's cadence (the newspaper column: 2 a month; the bulletin: 1 a month;
a quarter's contest: within its window). "Published" counts items of the task with at least one
successful delivery in the month (local time, Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.publishing.models import deliveries, items
from shared.errors import InvalidInput

DATA = Path(__file__).resolve().parent.parent / "data"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@lru_cache(maxsize=1)
def plan() -> dict[str, Any]:
    return json.loads((DATA / "plan_2019.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def units_seed() -> list[dict[str, Any]]:
    return json.loads((DATA / "units.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _months(start: str, end: str) -> list[str]:
    try:
        y, m = (int(p) for p in start.split("-"))
        ey, em = (int(p) for p in end.split("-"))
        date(y, m, 1), date(ey, em, 1)
    except ValueError:
        raise InvalidInput("from: tháng phải dạng YYYY-MM / months are YYYY-MM", "from") from None
    out = []
    while (y, m) <= (ey, em):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        if len(out) > 120:
            raise InvalidInput("to: tối đa 120 tháng / at most 120 months", "to")
    return out


def expected(task: dict[str, Any], month: str) -> int | None:
    rule = task["expected"]
    if rule["kind"] == "per_month":
        return int(rule["count"])
    if rule["kind"] == "window":
        first = f"{rule['from'][:7]}"
        last = f"{rule['to'][:7]}"
        return 1 if month == last and first <= month else 0 if first <= month <= last else None
    return None


def report(session: Session, start: str, end: str) -> dict[str, Any]:
    months = _months(start, end)
    rows = session.execute(
        select(items.c.plan_task, items.c.id, deliveries.c.sent_at)
        .join(deliveries, deliveries.c.item_id == items.c.id)
        .where(deliveries.c.status == "succeeded", items.c.plan_task.is_not(None))
    ).all()
    published: dict[tuple[int, str], set[str]] = defaultdict(set)
    for task_no, item_id, sent_at in rows:
        sent = sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at
        published[(task_no, sent.astimezone(TZ).strftime("%Y-%m"))].add(item_id)
    tasks = []
    for task in plan()["tasks"]:
        per_month = [
            {
                "month": m,
                "planned": expected(task, m),
                "published": len(published.get((task["no"], m), ())),
            }
            for m in months
        ]
        tasks.append(
            {
                "no": task["no"],
                "content": task["content"],
                "executor": task["executor"],
                "cadence": task["cadence"],
                "product": task["product"],
                "months": per_month,
                "behind": [
                    p["month"]
                    for p in per_month
                    if p["planned"]
                    and p["published"] < p["planned"]
                    and p["month"] < datetime.now(TZ).strftime("%Y-%m")
                ],
            }
        )
    return {"plan": plan()["plan"], "from": months[0], "to": months[-1], "tasks": tasks}
