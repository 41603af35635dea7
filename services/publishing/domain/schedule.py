"""When things go out: deliveries per (item, channel), recurring series, embargo, media waits.

A time is kept three ways: the wall-clock time the publisher chose, its IANA zone, and the UTC
instant computed from both. Series occurrences are computed in wall-clock time from the series'
start and only then placed in the zone, so "the 1st and 15th at 07:00" stays 07:00 whatever the
zone's offset does in between (no drift).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.publishing.config import ChannelSettings
from services.publishing.domain.channels import CHANNELS
from services.publishing.domain.items import APPROVER_ROLES, Actor, _check_role, mark_scheduled
from services.publishing.models import deliveries, items, media_assets, series
from shared.errors import Conflict, InvalidInput, NotFound
from shared.ids import new_id

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
PAST_GRACE = timedelta(seconds=60)
RecordEvent = Any


def zone(name: str, field: str = "tz") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{field}: múi giờ '{name}' không tồn tại / unknown IANA time zone "
            "(e.g. Asia/Ho_Chi_Minh)",
            field,
        ) from None


def resolve_time(at: str, tz: str, field: str = "at") -> tuple[datetime, str]:
    """(UTC instant, wall-clock text in tz) of an ISO time with or without a UTC offset."""
    zinfo = zone(tz)
    try:
        parsed = datetime.fromisoformat(at)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{field}: '{at}' không phải thời điểm ISO 8601 / not an ISO 8601 date-time "
            "(e.g. 2026-03-01T07:00)",
            field,
        ) from None
    local = parsed.astimezone(zinfo) if parsed.tzinfo else parsed.replace(tzinfo=zinfo)
    return local.astimezone(UTC), local.replace(tzinfo=None).isoformat(timespec="seconds")


def check_channel(channel: str, cfg: ChannelSettings, field: str = "channel") -> None:
    if channel not in CHANNELS:
        raise InvalidInput(
            f"{field}: kênh '{channel}' không tồn tại / unknown channel; known: "
            f"{', '.join(CHANNELS)}",
            field,
        )
    if not cfg.configured(channel):
        raise InvalidInput(
            f"{field}: kênh '{channel}' chưa được cấu hình (thiếu thông tin đăng nhập) / the "
            "channel has no credentials configured (LOA_PUB_* variables)",
            field,
        )


def parse_rule(rule: str, dtstart: datetime) -> rrule:
    """An RFC 5545 RRULE or a clear error naming the field."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or "DTSTART" in text.upper():
        raise InvalidInput("rrule: cần một dòng RRULE / one RRULE line is expected", "rrule")
    try:
        parsed = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"rrule: quy tắc lặp không hợp lệ / invalid RFC 5545 recurrence rule: {exc}", "rrule"
        ) from None
    if not isinstance(parsed, rrule) or parsed.after(dtstart, inc=True) is None:
        raise InvalidInput("rrule: quy tắc không sinh ra lần nào / the rule never occurs", "rrule")
    return parsed


def create_series(
    session: Session,
    name: str,
    channel: str,
    rule: str,
    start: str,
    tz: str,
    cfg: ChannelSettings,
    plan_task: int | None = None,
) -> dict[str, Any]:
    check_channel(channel, cfg)
    _, local = resolve_time(start, tz, "start")
    parse_rule(rule, datetime.fromisoformat(local))
    row = {
        "id": new_id(),
        "name": name.strip(),
        "channel": channel,
        "rrule": rule.strip(),
        "dtstart_local": local,
        "tz": tz,
        "plan_task": plan_task,
        "created_at": datetime.now(UTC),
    }
    session.execute(insert(series).values(**row))
    return row


def occurrences(row: Any, after: datetime, count: int) -> list[tuple[datetime, str]]:
    """Next occurrences (UTC, wall clock) strictly after an instant."""
    zinfo = zone(row["tz"])
    rule = parse_rule(row["rrule"], datetime.fromisoformat(row["dtstart_local"]))
    local_after = after.astimezone(zinfo).replace(tzinfo=None)
    out: list[tuple[datetime, str]] = []
    cursor = local_after
    while len(out) < count:
        nxt = rule.after(cursor, inc=False)
        if nxt is None:
            break
        out.append((nxt.replace(tzinfo=zinfo).astimezone(UTC), nxt.isoformat(timespec="seconds")))
        cursor = nxt
    return out


def series_occurrences(session: Session, series_id: str, count: int = 12) -> dict[str, Any]:
    row = session.execute(select(series).where(series.c.id == series_id)).mappings().first()
    if row is None:
        raise NotFound(f"Không có chuỗi lịch '{series_id}' / no series with this id", "series_id")
    taken = dict(
        session.execute(
            select(deliveries.c.due_at, deliveries.c.item_id).where(
                deliveries.c.series_id == series_id, deliveries.c.status != "cancelled"
            )
        ).all()
    )
    taken_utc = {_utc(k): v for k, v in taken.items()}
    slots = occurrences(row, datetime.now(UTC), count)
    return {
        **dict(row),
        "occurrences": [
            {"at": utc, "local": local, "item_id": taken_utc.get(utc)} for utc, local in slots
        ],
    }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def schedule_delivery(
    session: Session,
    item_id: str,
    channel: str,
    actor: Actor,
    cfg: ChannelSettings,
    record_event: RecordEvent,
    *,
    at: str | None = None,
    tz: str = DEFAULT_TZ,
    series_id: str | None = None,
    options: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Plan one (item, channel) delivery at a time, now, or the series' next free slot."""
    _check_role(actor, APPROVER_ROLES, "lên lịch đăng / schedule deliveries")
    now = now or datetime.now(UTC)
    check_channel(channel, cfg)
    item = session.execute(select(items).where(items.c.id == item_id)).mappings().first()
    if item is None:
        raise NotFound(f"Không có bài '{item_id}' / no item with this id", "item_id")
    if item["status"] not in ("approved", "scheduled", "published"):
        raise Conflict(
            f"status: bài phải được duyệt trước khi lên lịch (đang '{item['status']}') / an "
            f"item must be approved before it is scheduled (it is {item['status']})",
            "status",
        )
    policy = CHANNELS[channel]
    if item["kind"] not in policy.kinds:
        raise InvalidInput(
            f"channel: kênh {channel} không nhận loại '{item['kind']}' / {policy.label} does "
            f"not take {item['kind']} items (it takes {', '.join(sorted(policy.kinds))})",
            "channel",
        )
    images = item["images"] or []
    if len(images) > policy.max_images:
        raise InvalidInput(
            f"images: {channel} nhận tối đa {policy.max_images} ảnh / {policy.label} takes at "
            f"most {policy.max_images} image(s)",
            "images",
        )
    for i, img in enumerate(images):
        if img["size"] > policy.max_image_bytes:
            limit_mb = policy.max_image_bytes / (1024 * 1024)
            raise InvalidInput(
                f"images[{i}]: ảnh {img['size']} byte vượt giới hạn {limit_mb:g} MB của kênh "
                f"{channel} / the image is larger than {policy.label}'s limit of {limit_mb:g} MB",
                f"images[{i}]",
            )
    options = _checked_options(channel, dict(options or {}), now)
    if channel == "zalo" and options.get("broadcast"):
        options["article_id"] = _zalo_article(session, item_id)
    if series_id:
        srow = session.execute(select(series).where(series.c.id == series_id)).mappings().first()
        if srow is None:
            raise InvalidInput(
                f"series_id: không có chuỗi lịch '{series_id}' / no series with this id",
                "series_id",
            )
        if srow["channel"] != channel:
            raise InvalidInput(
                f"series_id: chuỗi lịch thuộc kênh {srow['channel']} / the series belongs to "
                f"channel {srow['channel']}",
                "series_id",
            )
        tz = srow["tz"]
        due, local = _free_slot(session, srow, now)
    elif at:
        due, local = resolve_time(at, tz)
        if due < now - PAST_GRACE:
            raise InvalidInput(
                f"at: thời điểm {local} ({tz}) đã qua / this time is in the past", "at"
            )
    else:
        zone(tz)
        due = now
        local = now.astimezone(ZoneInfo(tz)).replace(tzinfo=None).isoformat(timespec="seconds")
    embargo = item["embargo_until"]
    if embargo is not None and channel != "press" and due < _utc(embargo):
        raise InvalidInput(
            f"at: bài bị cấm đăng trước {_utc(embargo).isoformat()} / the item is under embargo "
            "until then; only the press receives it earlier (with the embargo marked)",
            "at",
        )
    status = "scheduled"
    reason = None
    if item["kind"] == "video_post":
        asset = (
            session.execute(select(media_assets).where(media_assets.c.asset_id == item["asset_id"]))
            .mappings()
            .first()
        )
        if asset is None or asset["status"] == "deleted":
            raise InvalidInput(
                f"asset_id: không có tệp media '{item['asset_id']}' / no such media asset",
                "asset_id",
            )
        if asset["status"] == "failed":
            raise InvalidInput(
                f"asset_id: chuyển mã video thất bại: {asset['reason']} / the video's "
                f"transcoding failed: {asset['reason']}",
                "asset_id",
            )
        if asset["status"] != "ready":
            status, reason = "waiting_media", "waiting for the video's renditions"
    delivery_id = new_id()
    row = {
        "id": delivery_id,
        "item_id": item_id,
        "channel": channel,
        "status": status,
        "due_at": due,
        "local_time": local,
        "tz": tz,
        "series_id": series_id,
        "next_attempt_at": due,
        "attempts": 0,
        "idempotency_key": f"loa-{delivery_id}",
        "options": options,
        "progress": {},
        "reason": reason,
        "created_at": now,
    }
    try:
        with session.begin_nested():
            session.execute(insert(deliveries).values(**row))
    except IntegrityError:
        raise Conflict(
            "series_id: ô lịch vừa được bài khác nhận, hãy thử lại / the slot was just taken by "
            "another item; try again",
            "series_id",
        ) from None
    mark_scheduled(session, item_id, actor)
    record_event(
        session,
        "publishing.delivery_scheduled",
        {"delivery_id": delivery_id, "item_id": item_id, "channel": channel, "due_at": due},
    )
    return row


PRIVACY = ("public", "unlisted", "private")


def _checked_options(channel: str, options: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The channel options a delivery may carry, checked (and times normalized to UTC ISO)."""
    if channel == "youtube" and options.get("privacy", "public") not in PRIVACY:
        raise InvalidInput(
            f"options.privacy: chế độ hiển thị phải là {', '.join(PRIVACY)} / privacy is one of "
            f"{', '.join(PRIVACY)}",
            "options.privacy",
        )
    for key in ("publish_at", "air_time"):
        if options.get(key) is None:
            continue
        field = f"options.{key}"
        try:
            when = datetime.fromisoformat(str(options[key]))
        except ValueError:
            raise InvalidInput(
                f"{field}: '{options[key]}' không phải thời điểm ISO 8601 có múi giờ / not an "
                "ISO 8601 time with its offset (e.g. 2026-03-01T19:45:00+07:00)",
                field,
            ) from None
        if when.tzinfo is None:
            raise InvalidInput(f"{field}: cần ghi rõ múi giờ / give the UTC offset", field)
        if key == "publish_at":
            if when <= now:
                raise InvalidInput(f"{field}: thời điểm đã qua / this time is in the past", field)
            options[key] = when.astimezone(UTC).isoformat()
    if channel == "facebook" and options.get("native_schedule") and not options.get("publish_at"):
        raise InvalidInput(
            "options.publish_at: lịch đăng của Facebook cần thời điểm đăng / Facebook's own "
            "scheduling needs publish_at",
            "options.publish_at",
        )
    return options


def _zalo_article(session: Session, item_id: str) -> str:
    """The Zalo article of an item, for a broadcast: one of its Zalo deliveries succeeded."""
    d = deliveries.c
    for remote_id, opts in session.execute(
        select(d.remote_id, d.options)
        .where(d.item_id == item_id, d.channel == "zalo", d.status == "succeeded")
        .order_by(d.sent_at.desc())
    ):
        if remote_id and not (opts or {}).get("broadcast"):
            return str(remote_id)
    raise InvalidInput(
        "options.broadcast: bài chưa có trên Zalo OA; hãy đăng bài trước rồi mới gửi quảng bá / "
        "the item is not on the Zalo OA yet: publish the article first, then broadcast it",
        "options.broadcast",
    )


def _free_slot(session: Session, srow: Any, now: datetime) -> tuple[datetime, str]:
    taken = {
        _utc(d)
        for d in session.execute(
            select(deliveries.c.due_at).where(
                deliveries.c.series_id == srow["id"], deliveries.c.status != "cancelled"
            )
        ).scalars()
    }
    for utc, local in occurrences(srow, now, 500):
        if utc not in taken:
            return utc, local
    raise Conflict("series_id: chuỗi lịch đã hết ô trống / the series has no free slot left")


def cancel_delivery(session: Session, delivery_id: str, actor: Actor) -> dict[str, Any]:
    _check_role(actor, APPROVER_ROLES, "huỷ lịch đăng / cancel deliveries")
    result = session.execute(
        update(deliveries)
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.status.in_(("scheduled", "waiting_media")),
        )
        .values(status="cancelled", reason=f"cancelled by {actor.user}")
    )
    if result.rowcount == 0:
        raise Conflict(
            "status: chỉ huỷ được lịch chưa gửi / only deliveries not yet sent can be cancelled",
            "status",
        )
    return get_delivery(session, delivery_id)


MOVABLE = ("scheduled", "waiting_media")
NOT_COPIED = ("article_id",)
"""Options scheduling adds itself (not the author's choice): made again for the new delivery."""


def reschedule_delivery(
    session: Session,
    delivery_id: str,
    actor: Actor,
    cfg: ChannelSettings,
    record_event: RecordEvent,
    *,
    at: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move a delivery not yet sent to another time (the calendar's drag and drop): the old one
    cancelled and a new one of the same item, channel and options at the new time, in the
    caller's one transaction — if the new time is refused, or the old delivery was claimed for
    sending meanwhile, nothing changes and the item goes out once."""
    old = get_delivery(session, delivery_id)
    if old["status"] not in MOVABLE:
        raise Conflict(
            f"status: chỉ đổi lịch được lượt chưa gửi (lượt này: {old['status']}) / only "
            f"deliveries not yet sent can be moved (this one is {old['status']})",
            "status",
        )
    cancel_delivery(session, delivery_id, actor)  # the conditional update: 409 if claimed
    options = {k: v for k, v in (old.get("options") or {}).items() if k not in NOT_COPIED}
    new = schedule_delivery(
        session, old["item_id"], old["channel"], actor, cfg, record_event,
        at=at, tz=old.get("tz") or DEFAULT_TZ, options=options, now=now,
    )  # fmt: skip
    return {"delivery": new, "replaced": delivery_id}


def get_delivery(session: Session, delivery_id: str) -> dict[str, Any]:
    row = session.execute(select(deliveries).where(deliveries.c.id == delivery_id)).mappings()
    found = row.first()
    if found is None:
        raise NotFound(f"Không có lượt gửi '{delivery_id}' / no delivery with this id", "id")
    return dict(found)


def list_deliveries(
    session: Session, item_id: str | None = None, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(deliveries).order_by(deliveries.c.due_at).limit(min(limit, 1000))
    if item_id:
        query = query.where(deliveries.c.item_id == item_id)
    if status:
        query = query.where(deliveries.c.status == status)
    return [dict(r) for r in session.execute(query).mappings()]


# --- media events ---------------------------------------------------------------------------


def _upsert_asset(session: Session, asset_id: str, **values: Any) -> None:
    values["updated_at"] = datetime.now(UTC)
    found = session.execute(
        update(media_assets).where(media_assets.c.asset_id == asset_id).values(**values)
    )
    if found.rowcount == 0:
        session.execute(insert(media_assets).values(asset_id=asset_id, **values))


def on_asset_uploaded(session: Session, payload: dict[str, Any]) -> None:
    exists = session.execute(
        select(func.count()).where(media_assets.c.asset_id == payload["asset_id"])
    ).scalar_one()
    if not exists:
        _upsert_asset(session, payload["asset_id"], status="processing", title=payload["title"])


def on_asset_deleted(session: Session, payload: dict[str, Any]) -> None:
    _upsert_asset(session, payload["asset_id"], status="deleted")


def on_asset_ready(session: Session, payload: dict[str, Any]) -> int:
    """The renditions exist: deliveries waiting for them become due (at their own time)."""
    duration = payload.get("duration_s")
    _upsert_asset(
        session,
        payload["asset_id"],
        status="ready",
        title=payload.get("title", ""),
        duration_s=int(duration) if duration is not None else None,
        renditions=payload.get("renditions", {}),
        reason=None,
    )
    waiting = select(items.c.id).where(items.c.asset_id == payload["asset_id"])
    result = session.execute(
        update(deliveries)
        .where(deliveries.c.item_id.in_(waiting), deliveries.c.status == "waiting_media")
        .values(status="scheduled", reason=None)
    )
    return int(result.rowcount or 0)


def on_transcode_failed(
    session: Session, payload: dict[str, Any], record_event: RecordEvent
) -> int:
    """The video cannot be made: its waiting deliveries fail, and the publisher is told why."""
    reason = f"transcoding of profile {payload['profile']} failed: {payload['reason']}"
    _upsert_asset(session, payload["asset_id"], status="failed", reason=reason)
    rows = session.execute(
        select(deliveries.c.id, deliveries.c.item_id, deliveries.c.channel)
        .join(items, items.c.id == deliveries.c.item_id)
        .where(items.c.asset_id == payload["asset_id"], deliveries.c.status == "waiting_media")
    ).all()
    for r in rows:
        session.execute(
            update(deliveries).where(deliveries.c.id == r.id).values(status="failed", reason=reason)
        )
        record_event(
            session,
            "publishing.delivery_failed",
            {
                "delivery_id": r.id,
                "item_id": r.item_id,
                "channel": r.channel,
                "reason": reason[:2000],
                "permanent": True,
            },
        )
    return len(rows)
