"""Content items and their workflow: draft → in review → approved → scheduled → published.

Every change of state or content is a row in item_transitions (who, which role, when, what
changed), so the question "who approved this version?" always has an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from services.publishing.domain.text import clean_text, html_to_text, nfc, sanitize_body
from services.publishing.models import (
    deliveries,
    items,
    media_assets,
    metadata,
    portal_entries,
    transitions,
)
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.ids import new_id

KINDS = ("article", "bulletin", "video_post", "document")
EDITOR_ROLES = frozenset({"editor", "publisher", "admin"})
APPROVER_ROLES = frozenset({"publisher", "admin"})
"""Who may approve, schedule, withdraw: a role, not a person."""
EDITABLE = frozenset({"draft", "in_review"})
RecordEvent = Any  # callable(session, type, payload)


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)
    user: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=30)


class Image(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=500)
    size: int = Field(ge=0)
    content_type: str = Field("image/jpeg", pattern=r"^image/[a-z0-9.+-]+$")
    alt: str = Field("", max_length=500)


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, max_length=500)
    text: str | None = Field(None, max_length=20000)


class ItemInput(BaseModel):
    """What an author may set; every field is optional on update."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = None
    title: str | None = Field(None, max_length=500)
    summary: str | None = Field(None, max_length=5000)
    body: str | None = Field(None, max_length=500_000)
    tags: list[str] | None = Field(None, max_length=50)
    topics: list[str] | None = Field(None, max_length=20)
    images: list[Image] | None = Field(None, max_length=20)
    variants: dict[str, Variant] | None = None
    unit_id: str | None = Field(None, max_length=64)
    asset_id: str | None = Field(None, max_length=64)
    plan_task: int | None = Field(None, ge=1, le=10)
    embargo_until: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _check_role(actor: Actor, allowed: frozenset[str], what: str) -> None:
    if actor.role not in allowed:
        raise Forbidden(
            f"Vai trò '{actor.role}' không được {what} / role '{actor.role}' may not {what}; "
            f"allowed: {', '.join(sorted(allowed))}",
            "role",
        )


def _clean_fields(session: Session, data: ItemInput, kind: str) -> dict[str, Any]:
    """NFC, sanitizing and cross-checks of the fields present in data."""
    from services.publishing.domain.channels import CHANNELS

    out: dict[str, Any] = {}
    given = data.model_dump(exclude_unset=True)
    if "title" in given:
        out["title"] = clean_text(data.title or "", "title", max_len=500, required=True)
    if "summary" in given:
        out["summary"] = clean_text(data.summary or "", "summary", max_len=5000)
    if "body" in given:
        out["body_html"] = sanitize_body(data.body or "", "body")
        out["body_text"] = html_to_text(out["body_html"])
    for name in ("tags", "topics"):
        if name in given:
            values = [nfc(v) for v in (getattr(data, name) or []) if nfc(v)]
            out[name] = list(dict.fromkeys(values))
    if "images" in given:
        out["images"] = [{**img.model_dump(), "alt": nfc(img.alt)} for img in (data.images or [])]
    if "variants" in given:
        variants: dict[str, Any] = {}
        for channel, variant in (data.variants or {}).items():
            if channel not in CHANNELS:
                raise InvalidInput(
                    f"variants.{channel}: kênh không tồn tại / unknown channel; "
                    f"known: {', '.join(CHANNELS)}",
                    f"variants.{channel}",
                )
            variants[channel] = {
                k: nfc(v) for k, v in variant.model_dump(exclude_none=True).items()
            }
        out["variants"] = variants
    if "unit_id" in given:
        out["unit_id"] = data.unit_id
    if "plan_task" in given:
        out["plan_task"] = data.plan_task
    if "embargo_until" in given:
        emb = data.embargo_until
        if emb is not None and emb.tzinfo is None:
            raise InvalidInput(
                "embargo_until: cần múi giờ / needs a UTC offset (e.g. +07:00)", "embargo_until"
            )
        out["embargo_until"] = emb
    if "asset_id" in given:
        out["asset_id"] = data.asset_id
    if kind == "video_post":
        asset_id = out.get("asset_id", given.get("asset_id"))
        if "asset_id" in given or "kind" in given:
            if not asset_id:
                raise InvalidInput(
                    "asset_id: bài video cần mã tệp media / a video post needs asset_id",
                    "asset_id",
                )
            known = session.execute(
                select(media_assets.c.status).where(media_assets.c.asset_id == asset_id)
            ).scalar()
            if known is None or known == "deleted":
                raise InvalidInput(
                    f"asset_id: không có tệp media '{asset_id}' / no media asset with this id",
                    "asset_id",
                )
    return out


def create_item(
    session: Session, data: ItemInput, actor: Actor, record_event: RecordEvent
) -> dict[str, Any]:
    _check_role(actor, EDITOR_ROLES, "tạo bài / create items")
    if data.kind not in KINDS:
        raise InvalidInput(
            f"kind: loại bài phải là một trong {', '.join(KINDS)} / kind must be one of these",
            "kind",
        )
    if data.title is None:
        raise InvalidInput("title: không được để trống / must not be empty", "title")
    fields = _clean_fields(session, data, data.kind)
    now = _now()
    row = {
        "id": new_id(),
        "kind": data.kind,
        "status": "draft",
        "summary": "",
        "body_html": "",
        "body_text": "",
        "tags": [],
        "topics": [],
        "images": [],
        "variants": {},
        "version": 1,
        "created_by": actor.user,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    session.execute(insert(items).values(**row))
    _record(session, row["id"], "create", None, "draft", actor, 1, {"kind": [None, data.kind]})
    return get_item(session, row["id"])


def _record(
    session: Session,
    item_id: str,
    action: str,
    before: str | None,
    after: str,
    actor: Actor,
    version: int,
    changes: dict[str, Any],
    note: str = "",
) -> None:
    session.execute(
        insert(transitions).values(
            item_id=item_id,
            action=action,
            from_status=before,
            to_status=after,
            actor=actor.user,
            role=actor.role,
            at=_now(),
            version=version,
            changes=changes,
            note=note,
        )
    )


def _load(session: Session, item_id: str, lock: bool = False) -> Any:
    query = select(items).where(items.c.id == item_id)
    if lock and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"Không có bài '{item_id}' / no item with this id", "item_id")
    return row


def _diff(row: Any, fields: dict[str, Any]) -> dict[str, Any]:
    changes = {}
    for key, value in fields.items():
        old = row[key]
        if old != value:
            shown = lambda v: v.isoformat() if isinstance(v, datetime) else v  # noqa: E731
            if key == "body_html":
                changes["body"] = ["…", f"{len(value)} characters"]
            else:
                changes[key] = [shown(old), shown(value)]
    return changes


def update_item(session: Session, item_id: str, data: ItemInput, actor: Actor) -> dict[str, Any]:
    """Edit a draft or an item in review; a published item is changed through correct()."""
    _check_role(actor, EDITOR_ROLES, "sửa bài / edit items")
    row = _load(session, item_id, lock=True)
    if row["status"] not in EDITABLE:
        raise Conflict(
            f"status: bài đang ở trạng thái '{row['status']}', không sửa trực tiếp được; "
            "hãy dùng 'correct' / an item in this state is changed with the correct action",
            "status",
        )
    if data.kind is not None and data.kind != row["kind"]:
        raise InvalidInput("kind: không đổi được loại bài / the kind cannot change", "kind")
    fields = _clean_fields(session, data, row["kind"])
    changes = _diff(row, fields)
    if not changes:
        return get_item(session, item_id)
    version = row["version"] + 1
    session.execute(
        update(items)
        .where(items.c.id == item_id)
        .values(**fields, version=version, updated_at=_now())
    )
    _record(session, item_id, "edit", row["status"], row["status"], actor, version, changes)
    return get_item(session, item_id)


# action: (allowed from, to, roles)
_ACTIONS: dict[str, tuple[frozenset[str], str, frozenset[str]]] = {
    "submit": (frozenset({"draft"}), "in_review", EDITOR_ROLES),
    "approve": (frozenset({"in_review"}), "approved", APPROVER_ROLES),
    "reject": (frozenset({"in_review"}), "draft", APPROVER_ROLES),
    "withdraw": (frozenset({"scheduled", "published", "approved"}), "withdrawn", APPROVER_ROLES),
}


AUTHORING = ("create", "edit", "correct", "attach")
"""History actions that put words in an item: whoever did one of them is one of its authors."""


def authors(session: Session, item_id: str, created_by: str) -> set[str]:
    """Everyone who wrote any of the item: its creator and whoever edited, corrected it or
    attached its document."""
    rows = session.execute(
        select(transitions.c.actor)
        .where(transitions.c.item_id == item_id, transitions.c.action.in_(AUTHORING))
        .distinct()
    )
    return {created_by, *(r.actor for r in rows)}


def transition(
    session: Session,
    item_id: str,
    action: str,
    actor: Actor,
    record_event: RecordEvent,
    note: str = "",
    allow_self_approval: bool = False,
) -> dict[str, Any]:
    """Move an item through its workflow. Approval is a second pair of eyes: one of the item's
    authors cannot approve it unless LOA_PUB_ALLOW_SELF_APPROVAL says the center has one
    person for both (a publisher may still reject or withdraw their own item)."""
    if action not in _ACTIONS:
        raise InvalidInput(
            f"action: không có thao tác '{action}' / unknown action; known: "
            f"{', '.join(_ACTIONS)}, correct",
            "action",
        )
    allowed_from, target, roles = _ACTIONS[action]
    _check_role(actor, roles, f"{action}")
    row = _load(session, item_id, lock=True)
    if row["status"] not in allowed_from:
        raise Conflict(
            f"status: không thể '{action}' bài ở trạng thái '{row['status']}' / cannot {action} "
            f"an item that is {row['status']} (allowed from: {', '.join(sorted(allowed_from))})",
            "status",
        )
    if (
        action == "approve"
        and not allow_self_approval
        and actor.user in authors(session, item_id, row["created_by"])
    ):
        raise Forbidden(
            "Không thể tự duyệt bài mình viết hoặc sửa; cần một người duyệt khác / you cannot "
            "approve an item you wrote or edited: another publisher must approve it "
            "(LOA_PUB_ALLOW_SELF_APPROVAL=true allows it in a one-person center)",
            "actor",
        )
    note = nfc(note)
    if action == "withdraw" and not note:
        raise InvalidInput("note: cần nêu lý do gỡ bài / a withdrawal needs a reason", "note")
    now = _now()
    session.execute(
        update(items).where(items.c.id == item_id).values(status=target, updated_at=now)
    )
    _record(
        session, item_id, action, row["status"], target, actor, row["version"],
        {"status": [row["status"], target]}, note,
    )  # fmt: skip
    if action == "approve":
        record_event(
            session,
            "publishing.item_approved",
            {
                "item_id": item_id,
                "kind": row["kind"],
                "title": row["title"],
                "approved_by": actor.user,
                "version": row["version"],
            },
        )
    if action == "withdraw":
        session.execute(
            update(deliveries)
            .where(
                deliveries.c.item_id == item_id,
                deliveries.c.status.in_(("scheduled", "waiting_media")),
            )
            .values(status="cancelled", reason=f"withdrawn: {note}")
        )
        session.execute(
            update(portal_entries)
            .where(portal_entries.c.item_id == item_id)
            .values(withdrawn=True, updated_at=now)
        )
        record_event(
            session,
            "publishing.item_withdrawn",
            {"item_id": item_id, "reason": note, "version": row["version"]},
        )
    return get_item(session, item_id)


def correct(
    session: Session, item_id: str, data: ItemInput, actor: Actor, note: str
) -> dict[str, Any]:
    """A published item's correction: new version, back through review before it goes out."""
    _check_role(actor, EDITOR_ROLES, "đính chính / correct items")
    row = _load(session, item_id, lock=True)
    if row["status"] not in ("published", "scheduled", "approved"):
        raise Conflict(
            f"status: chỉ đính chính bài đã duyệt hoặc đã đăng / only approved or published "
            f"items are corrected (this one is {row['status']})",
            "status",
        )
    fields = _clean_fields(session, data, row["kind"])
    changes = _diff(row, fields)
    if not changes:
        raise InvalidInput("body: đính chính không thay đổi gì / the correction changes nothing")
    version = row["version"] + 1
    session.execute(
        update(items)
        .where(items.c.id == item_id)
        .values(**fields, version=version, status="in_review", updated_at=_now())
    )
    _record(
        session, item_id, "correct", row["status"], "in_review", actor, version, changes, nfc(note)
    )
    return get_item(session, item_id)


def mark_scheduled(session: Session, item_id: str, actor: Actor) -> None:
    row = _load(session, item_id)
    if row["status"] == "approved":
        session.execute(update(items).where(items.c.id == item_id).values(status="scheduled"))
        _record(
            session, item_id, "schedule", "approved", "scheduled", actor, row["version"],
            {"status": ["approved", "scheduled"]},
        )  # fmt: skip


def record_events(session: Session, event_type: str, payloads: list[dict[str, Any]]) -> None:
    """Many events of one type into this unit of work's outbox with one INSERT (the rows
    Database.record_event writes one at a time)."""
    from shared.events.envelope import Envelope
    from shared.events.tables import get_event_tables

    if not payloads:
        return
    outbox, _ = get_event_tables(metadata)
    now = _now()
    rows = []
    for payload in payloads:
        env = Envelope.new(
            event_type, payload, producer=session.info.get("producer", "unknown"),
            correlation_id=session.info.get("correlation_id"),
        )  # fmt: skip
        rows.append({"event_id": env.id, "type": env.type, "version": env.version,
                     "body": env.to_json(), "created_at": now})  # fmt: skip
    session.execute(insert(outbox), rows)
    session.info["events_added"] = True


def published_payload(row: Mapping[str, Any], channels: Iterable[str], at: Any) -> dict[str, Any]:
    """The publishing.item_published payload of an item (events and search exports alike)."""
    return {
        "item_id": row["id"],
        "kind": row["kind"],
        "title": row["title"],
        "summary": row["summary"],
        "body_text": (row["body_text"] or "")[:50000],
        "document_text": row["document_text"] or "",
        "tags": row["tags"] or [],
        "topics": row["topics"] or [],
        "unit_id": row["unit_id"],
        "channels": sorted(set(channels)),
        "published_at": at,
        "version": row["version"],
    }


def mark_published_many(session: Session, first_channel: dict[str, str]) -> int:
    """Publish the items of first successful deliveries ({item id: the channel}), a few
    statements for any number of items; items already published are left alone (no lock
    taken for them, so concurrent successes do not queue)."""
    ids = sorted(first_channel)
    waiting = ("scheduled", "approved")
    if (
        not ids
        or not session.execute(
            select(items.c.id).where(items.c.id.in_(ids), items.c.status.in_(waiting)).limit(1)
        ).first()
    ):
        return 0
    query = select(items).where(items.c.id.in_(ids), items.c.status.in_(waiting))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.order_by(items.c.id).with_for_update()
    rows = list(session.execute(query).mappings())
    if not rows:
        return 0
    now = _now()
    session.execute(  # published_at is kept when a later version is published again
        update(items)
        .where(items.c.id.in_([r["id"] for r in rows]))
        .values(status="published", published_at=func.coalesce(items.c.published_at, now))
    )
    session.execute(
        insert(transitions),
        [
            {"item_id": row["id"], "action": "publish", "from_status": row["status"],
             "to_status": "published", "actor": "system", "role": "scheduler", "at": now,
             "version": row["version"], "changes": {"status": [row["status"], "published"]},
             "note": f"first delivery: {first_channel[row['id']]}"}
            for row in rows
        ],
    )  # fmt: skip
    sent: dict[str, set[str]] = {}
    for item_id, channel in session.execute(
        select(deliveries.c.item_id, deliveries.c.channel).where(
            deliveries.c.item_id.in_([r["id"] for r in rows]), deliveries.c.status == "succeeded"
        )
    ):
        sent.setdefault(item_id, set()).add(channel)
    record_events(
        session,
        "publishing.item_published",
        [
            published_payload(
                row,
                [*sent.get(row["id"], set()), first_channel[row["id"]]],
                row["published_at"] or now,
            )
            for row in rows
        ],
    )
    return len(rows)


def get_item(session: Session, item_id: str) -> dict[str, Any]:
    row = dict(_load(session, item_id))
    row["history"] = [
        dict(t)
        for t in session.execute(
            select(transitions).where(transitions.c.item_id == item_id).order_by(transitions.c.id)
        ).mappings()
    ]
    return row


def list_items(
    session: Session, status: str | None = None, kind: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    query = select(items).order_by(items.c.created_at.desc()).limit(min(limit, 500))
    if status:
        query = query.where(items.c.status == status)
    if kind:
        query = query.where(items.c.kind == kind)
    return [dict(r) for r in session.execute(query).mappings()]
