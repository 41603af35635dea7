"""Deadlines, the paused clock, reminders and overdue events, and the monthly report, on the
domain with a controllable clock and a real database (PostgreSQL and SQLite)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.feedback.domain import catalog, reports, workdays
from services.feedback.domain.tickets import Actor, Intake
from tests.feedback.conftest import DeskAt, event_types

OP = Actor("op", "operator")


def _units(s: Any) -> None:
    catalog.put_unit(s, "so-tp", "Sở Tư pháp")
    catalog.add_rule(s, "thu_tuc", "so-tp")


@pytest.fixture
def desk(desk_at: DeskAt) -> Any:
    return desk_at(datetime(2026, 2, 10, 2, 0, tzinfo=UTC), _units)  # Tuesday before Tết, 09:00


events = event_types


def test_deadline_skips_tet_pauses_reminds_and_goes_overdue(desk) -> None:
    db, d, clock = desk
    with db.session() as s:
        t = d.submit(s, Intake(channel="portal", category="thu_tuc", description="Hỏi"))
    deadline = workdays.local_date(t["deadline_at"])
    # 15 working days from 10 Feb 2026 skip the weekends and the Tết break (16–20 Feb).
    assert deadline == date(2026, 3, 10)
    assert workdays.local_date(t["forward_deadline_at"]) == date(2026, 2, 24)

    clock.now = datetime(2026, 2, 11, 2, tzinfo=UTC)
    with db.session() as s:
        d.ask_citizen(s, t["id"], "Cần bản sao giấy tờ", OP)
    clock.now = datetime(2026, 2, 25, 2, tzinfo=UTC)  # 5 working days later (Tết skipped)
    with db.session() as s:
        t = d.add_message(s, t["id"], "Đây là bản sao")
    assert t["status"] == "in_progress"
    assert workdays.local_date(t["deadline_at"]) == date(2026, 3, 17)  # +5 working days

    with db.session() as s:
        assert d.tick(s) == {"overdue": 0, "reminded": 0}
    clock.now = datetime(2026, 3, 13, 2, tzinfo=UTC)  # two working days before the deadline
    with db.session() as s:
        assert d.tick(s) == {"overdue": 0, "reminded": 1}
        assert d.tick(s) == {"overdue": 0, "reminded": 0}  # once
    clock.now = datetime(2026, 3, 18, 2, tzinfo=UTC)
    with db.session() as s:
        assert d.tick(s)["overdue"] == 1
        assert d.tick(s)["overdue"] == 0  # one escalation event, not one per tick
    assert events(db).count("feedback.ticket_overdue") == 1
    with db.session() as s:
        t = d.answer(s, t["id"], "Trả lời muộn", OP)
    assert t["answered_on_time"] is False


def test_category_deadlines_are_configurable(desk) -> None:
    db, d, clock = desk
    with db.session() as s:
        catalog.put_category(s, "thai_do", "Thái độ cán bộ", answer_days=10, forward_days=3)
        t = d.submit(s, Intake(channel="hotline", category="thai_do", description="Cán bộ gắt"))
    assert workdays.local_date(t["deadline_at"]) == workdays.add_working_days(date(2026, 2, 10), 10)


def test_monthly_report_and_csv(desk) -> None:
    db, d, clock = desk
    clock.now = datetime(2026, 6, 1, 2, tzinfo=UTC)
    ids = []
    with db.session() as s:
        for _ in range(4):
            ids.append(
                d.submit(s, Intake(channel="portal", category="thu_tuc", description="Hỏi"))["id"]
            )
    for i, hours in enumerate((2, 10, 30)):
        clock.now = datetime(2026, 6, 1, 2, tzinfo=UTC) + timedelta(hours=hours)
        with db.session() as s:
            t = d.answer(s, ids[i], "Đáp", OP)
            d.close(s, ids[i], OP)
            d.rate(s, t["code"], [5, 4, 2][i])
    clock.now = datetime(2026, 7, 30, 2, tzinfo=UTC)
    with db.session() as s:
        d.answer(s, ids[3], "Muộn", OP)
        (row,) = reports.monthly(s, "2026-06")
        assert reports.monthly(s, "2026-05") == []
    assert row["unit_id"] == "so-tp" and row["received"] == 4 and row["answered"] == 4
    assert row["on_time_rate"] == 0.75 and row["median_hours_to_answer"] == 20.0
    assert row["mean_rating"] == 3.67 and row["satisfaction_rate"] == 0.6667
    text = reports.to_csv([row])
    parsed = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert parsed[0]["unit_name"] == "Sở Tư pháp" and parsed[0]["on_time_rate"] == "0.75"
