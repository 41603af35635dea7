"""Working days on the Vietnamese calendar: weekends and public holidays (Tết included) skipped.

Deadlines are "the end of the Nth working day after the day of receipt", in Asia/Ho_Chi_Minh, as
administrative deadlines are counted. The `holidays` package carries Vietnam's official holidays,
including the lunar Tết days and Hùng Kings' day, for any year.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def local_date(moment: datetime) -> date:
    return moment.astimezone(TZ).date()


def add_working_days(start: date, days: int) -> date:
    """The date that is `days` working days after `start` (start itself never counts)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days in (start, end]: how many the clock ran between two dates."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=TZ).astimezone(UTC)


def deadline_after(moment: datetime, days: int) -> datetime:
    """End of the `days`-th working day after the local date of `moment`."""
    return _deadline_from(local_date(moment), days)


@lru_cache(maxsize=1024)
def _deadline_from(day: date, days: int) -> datetime:
    # Every ticket of a day gets the same deadline: count the calendar once per (day, days).
    return end_of_day(add_working_days(day, days))


def extend(deadline: datetime, paused_from: datetime, resumed_at: datetime) -> datetime:
    """The deadline pushed by the working days that passed while the clock was paused."""
    lost = working_days_between(local_date(paused_from), local_date(resumed_at))
    if lost <= 0:
        return deadline
    return end_of_day(add_working_days(local_date(deadline), lost))
