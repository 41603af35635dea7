"""Scheduling: zones, recurring series that never drift, embargo, media waits, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.publishing.config import ChannelSettings
from services.publishing.domain import items, schedule
from services.publishing.models import deliveries
from shared.db import Database
from shared.errors import Conflict, InvalidInput
from tests.publishing.conftest import PUBLISHER, approved_item, events_of

P = items.Actor(**PUBLISHER)
CFG = ChannelSettings(press_target="ftp://u:p@127.0.0.1:1/x", facebook_page_id="1",
                      facebook_page_token="t", youtube_access_token="y")  # fmt: skip


def _schedule(db: Database, item_id: str, channel: str, **kw: Any) -> dict[str, Any]:
    with db.session() as s:
        return schedule.schedule_delivery(s, item_id, channel, P, CFG, db.record_event, **kw)


def test_time_in_zone_is_kept_with_its_wall_clock(sqlite_db: Database) -> None:
    item = approved_item(sqlite_db)
    d = _schedule(sqlite_db, item["id"], "portal", at="2099-03-01T07:00")
    assert d["due_at"] == datetime(2099, 3, 1, 0, 0, tzinfo=UTC)
    assert (d["local_time"], d["tz"]) == ("2099-03-01T07:00:00", "Asia/Ho_Chi_Minh")
    d2 = _schedule(sqlite_db, item["id"], "portal", at="2099-03-01T07:00+00:00", tz="UTC")
    assert d2["due_at"] == datetime(2099, 3, 1, 7, 0, tzinfo=UTC)
    event = events_of(sqlite_db, "publishing.delivery_scheduled")[0]
    assert event["channel"] == "portal" and event["item_id"] == item["id"]
    with sqlite_db.session() as s:  # the item is now "scheduled"
        assert items.get_item(s, item["id"])["status"] == "scheduled"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"channel": "myspace"}, "channel"),
        ({"channel": "zalo"}, "channel"),  # known, but no credentials configured
        ({"at": "2001-01-01T07:00"}, "at"),
        ({"at": "next tuesday"}, "at"),
        ({"tz": "Asia/Saigon_Typo"}, "tz"),
    ],
)
def test_bad_delivery_input_names_the_field(
    sqlite_db: Database, kwargs: dict[str, Any], field: str
) -> None:
    item = approved_item(sqlite_db)
    channel = kwargs.pop("channel", "portal")
    kwargs.setdefault("at", "2099-01-01T07:00")
    with pytest.raises(InvalidInput) as err:
        _schedule(sqlite_db, item["id"], channel, **kwargs)
    assert err.value.field == field


@pytest.mark.parametrize(
    "channel, options, field",
    [
        ("youtube", {"privacy": "friends-only"}, "options.privacy"),
        ("youtube", {"publish_at": "2001-01-01T07:00:00+07:00"}, "options.publish_at"),
        ("youtube", {"publish_at": "2099-01-01T07:00"}, "options.publish_at"),  # no offset
        ("facebook", {"native_schedule": True}, "options.publish_at"),
        ("press", {"air_time": "tối nay"}, "options.air_time"),
        ("zalo", {"broadcast": True}, "channel"),  # no Zalo credentials in this setup
    ],
)
def test_bad_channel_options_name_the_field(
    sqlite_db: Database, channel: str, options: dict[str, Any], field: str
) -> None:
    with sqlite_db.session() as s:
        schedule.on_asset_ready(s, {"asset_id": "o1", "title": "Clip", "renditions": {}})
    kind = "video_post" if channel == "youtube" else "article"
    item = approved_item(sqlite_db, kind=kind, asset_id="o1" if kind == "video_post" else None)
    with pytest.raises(InvalidInput) as err:
        _schedule(sqlite_db, item["id"], channel, options=options)
    assert err.value.field == field


def test_image_over_the_channel_limit_is_refused(sqlite_db: Database) -> None:
    big = {"key": "img/a.jpg", "size": 5 * 1024 * 1024, "content_type": "image/jpeg"}
    item = approved_item(sqlite_db, images=[big])
    _schedule(sqlite_db, item["id"], "press")  # 20 MB limit
    with pytest.raises(InvalidInput) as err:
        _schedule(sqlite_db, item["id"], "facebook")  # 4 MB limit
    assert err.value.field == "images[0]" and "4 MB" in err.value.detail


def test_embargo_holds_every_channel_but_the_press(sqlite_db: Database) -> None:
    until = datetime.now(UTC) + timedelta(days=2)
    item = approved_item(sqlite_db, embargo_until=until)
    assert _schedule(sqlite_db, item["id"], "press")["status"] == "scheduled"
    with pytest.raises(InvalidInput) as err:
        _schedule(sqlite_db, item["id"], "portal")
    assert err.value.field == "at"
    later = (until + timedelta(hours=1)).isoformat()
    assert _schedule(sqlite_db, item["id"], "portal", at=later)["status"] == "scheduled"


@pytest.mark.parametrize("rule", ["FREQ=SOMETIMES", "FREQ=MONTHLY;BYMONTHDAY=40", "", "garbage"])
def test_invalid_rrule_is_refused(sqlite_db: Database, rule: str) -> None:
    with sqlite_db.session() as s, pytest.raises(InvalidInput) as err:
        schedule.create_series(s, "Chuyên trang", "press", rule, "2026-01-01T07:00",
                               "Asia/Ho_Chi_Minh", CFG)  # fmt: skip
    assert err.value.field == "rrule"


def test_series_on_the_1st_and_15th_never_drift(sqlite_db: Database) -> None:
    # Europe/Berlin changes offset twice a year; the wall clock must stay at 07:00.
    with sqlite_db.session() as s:
        row = schedule.create_series(
            s,
            "Chuyên trang",
            "press",
            "FREQ=MONTHLY;BYMONTHDAY=1,15",
            "2026-01-01T07:00",
            "Europe/Berlin",
            CFG,
            plan_task=4,
        )
    slots = schedule.occurrences(row, datetime(2026, 1, 1, tzinfo=UTC), 24)
    assert [local[8:] for _, local in slots[:4]] == ["01T07:00:00", "15T07:00:00"] * 2
    assert all(local.endswith("07:00:00") for _, local in slots)
    offsets = {(utc.hour) for utc, _ in slots}
    assert offsets == {5, 6}  # UTC+2 in summer, UTC+1 in winter: same local time
    # Two items take consecutive free slots of the series.
    a, b = approved_item(sqlite_db), approved_item(sqlite_db)
    da = _schedule(sqlite_db, a["id"], "press", series_id=row["id"])
    db_ = _schedule(sqlite_db, b["id"], "press", series_id=row["id"])
    assert da["due_at"] < db_["due_at"]
    assert {da["local_time"][8:], db_["local_time"][8:]} <= {"01T07:00:00", "15T07:00:00"}


def test_video_post_waits_for_media_then_fails_with_the_reason(sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        schedule.on_asset_uploaded(s, {"asset_id": "a1", "title": "Clip"})
        schedule.on_asset_uploaded(s, {"asset_id": "a2", "title": "Clip 2"})
    v1 = approved_item(sqlite_db, kind="video_post", asset_id="a1")
    v2 = approved_item(sqlite_db, kind="video_post", asset_id="a2")
    d1 = _schedule(sqlite_db, v1["id"], "facebook")
    d2 = _schedule(sqlite_db, v2["id"], "facebook")
    assert d1["status"] == d2["status"] == "waiting_media"
    with sqlite_db.session() as s:
        assert schedule.on_asset_ready(s, {"asset_id": "a1", "title": "Clip",
                                           "renditions": {"social": "r/a1.mp4"}}) == 1  # fmt: skip
        schedule.on_transcode_failed(
            s, {"asset_id": "a2", "profile": "social", "reason": "corrupt input"},
            sqlite_db.record_event,
        )  # fmt: skip
        rows = {r.id: r for r in s.execute(deliveries.select())}
    assert rows[d1["id"]].status == "scheduled"
    assert rows[d2["id"]].status == "failed" and "corrupt input" in rows[d2["id"]].reason
    failed = events_of(sqlite_db, "publishing.delivery_failed")
    assert failed[0]["delivery_id"] == d2["id"] and "corrupt input" in failed[0]["reason"]
    with pytest.raises(InvalidInput) as err:
        _schedule(sqlite_db, v2["id"], "facebook")
    assert err.value.field == "asset_id" and "corrupt input" in err.value.detail


def _status(db: Database, delivery_id: str) -> str:
    with db.session() as s:
        return str(schedule.get_delivery(s, delivery_id)["status"])


def _move(db: Database, delivery_id: str, at: str) -> dict[str, Any]:
    with db.session() as s:
        return schedule.reschedule_delivery(s, delivery_id, P, CFG, db.record_event, at=at)


def test_a_move_is_one_change_or_none(sqlite_db: Database) -> None:
    """The calendar's drag and drop: old cancelled and new scheduled together; a refused time or
    a delivery already claimed for sending changes nothing (the item never goes out twice)."""
    item = approved_item(sqlite_db)
    first = _schedule(sqlite_db, item["id"], "portal", at="2099-03-01T07:00")
    moved = _move(sqlite_db, first["id"], "2099-03-02T08:30")
    new = moved["delivery"]
    assert moved["replaced"] == first["id"] and _status(sqlite_db, first["id"]) == "cancelled"
    assert (new["channel"], new["status"], new["local_time"]) == (
        "portal", "scheduled", "2099-03-02T08:30:00"
    )  # fmt: skip

    with pytest.raises(InvalidInput) as err:
        _move(sqlite_db, new["id"], "2001-01-01T07:00")
    assert err.value.field == "at" and _status(sqlite_db, new["id"]) == "scheduled"

    with sqlite_db.session() as s:  # the dispatcher claimed it meanwhile
        s.execute(deliveries.update().where(deliveries.c.id == new["id"]).values(status="sending"))
    with pytest.raises(Conflict):
        _move(sqlite_db, new["id"], "2099-03-03T07:00")
    with sqlite_db.session() as s:
        rows = s.execute(deliveries.select().where(deliveries.c.item_id == item["id"])).all()
    assert sorted(r.status for r in rows) == ["cancelled", "sending"]  # no third delivery
