"""Plan tracking: the 2019 plan's appendix as data, planned against published per task and month
(the newspaper column 2 a month, the e-bulletin 1 a month, a quarter's contest in its window)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert

from services.publishing.domain import plan
from services.publishing.models import deliveries
from shared.db import Database
from shared.errors import InvalidInput
from shared.ids import new_id
from tests.publishing.conftest import approved_item


def _sent(
    db: Database, item_id: str, channel: str, at: datetime, status: str = "succeeded"
) -> None:
    did = new_id()
    with db.session() as s:
        s.execute(insert(deliveries).values(
            id=did, item_id=item_id, channel=channel, status=status, due_at=at, local_time="",
            tz="Asia/Ho_Chi_Minh", next_attempt_at=at, attempts=1, idempotency_key=f"loa-{did}",
            options={}, progress={}, created_at=at, sent_at=at if status == "succeeded" else None,
        ))  # fmt: skip


def _month(report: dict[str, Any], task_no: int) -> dict[str, dict[str, Any]]:
    task = next(t for t in report["tasks"] if t["no"] == task_no)
    return {m["month"]: m for m in task["months"]}


def test_plan_report_counts_planned_against_published(sqlite_db: Database) -> None:
    col = [approved_item(sqlite_db, title=f"Chuyên trang kỳ {n}", plan_task=4) for n in range(3)]
    bulletin = approved_item(sqlite_db, kind="bulletin", title="Bản tin tháng 2", plan_task=5)
    contest = approved_item(sqlite_db, title="Hội thi một cửa", plan_task=9)
    # January: two columns (one of them also on the portal: counted once); February: one.
    _sent(sqlite_db, col[0]["id"], "press", datetime(2019, 1, 1, 0, 30, tzinfo=UTC))
    _sent(sqlite_db, col[0]["id"], "portal", datetime(2019, 1, 2, tzinfo=UTC))
    _sent(sqlite_db, col[1]["id"], "press", datetime(2019, 1, 15, tzinfo=UTC))
    # 31 Jan 18:00 UTC is 1 Feb 01:00 in Hồ Chí Minh City: a February column.
    _sent(sqlite_db, col[2]["id"], "press", datetime(2019, 1, 31, 18, 0, tzinfo=UTC))
    _sent(sqlite_db, bulletin["id"], "ebulletin", datetime(2019, 2, 5, tzinfo=UTC))
    _sent(sqlite_db, bulletin["id"], "ebulletin", datetime(2019, 3, 5, tzinfo=UTC), "failed")
    _sent(sqlite_db, contest["id"], "portal", datetime(2019, 9, 20, tzinfo=UTC))
    with sqlite_db.session() as s:
        report = plan.report(s, "2019-01", "2019-12")
    assert report["plan"].startswith("Kế hoạch 14/KH-UBND")
    assert [t["no"] for t in report["tasks"]] == list(range(1, 11))
    column = _month(report, 4)
    assert (column["2019-01"]["planned"], column["2019-01"]["published"]) == (2, 2)
    assert (column["2019-02"]["planned"], column["2019-02"]["published"]) == (2, 1)
    assert column["2019-03"]["published"] == 0
    task4 = next(t for t in report["tasks"] if t["no"] == 4)
    assert task4["cadence"] == "02 kỳ/tháng" and "Báo Bình Dương" in task4["product"]
    assert task4["behind"] == [f"2019-{m:02d}" for m in range(2, 13)]
    bulletins = _month(report, 5)
    assert bulletins["2019-02"] == {"month": "2019-02", "planned": 1, "published": 1}
    assert bulletins["2019-03"]["published"] == 0  # the failed send does not count
    # The contest (Quý III/2019): expected by the end of September, not outside its window.
    contests = _month(report, 9)
    assert contests["2019-06"]["planned"] is None and contests["2019-07"]["planned"] == 0
    assert contests["2019-09"] == {"month": "2019-09", "planned": 1, "published": 1}
    assert next(t for t in report["tasks"] if t["no"] == 9)["behind"] == []
    assert _month(report, 1)["2019-05"]["planned"] is None  # continuous: no count to meet


@pytest.mark.parametrize("start, end", [("2019-13", "2019-12"), ("mười", "2019-12")])
def test_plan_report_refuses_bad_months(sqlite_db: Database, start: str, end: str) -> None:
    with sqlite_db.session() as s, pytest.raises(InvalidInput) as err:
        plan.report(s, start, end)
    assert err.value.field == "from"
