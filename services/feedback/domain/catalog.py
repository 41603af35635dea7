"""Categories, units (a tree that changes over time) and the rules that route one to the other."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from services.feedback.domain.text import clean, fold
from services.feedback.models import categories, routing_rules, units
from shared.errors import Conflict, InvalidInput, NotFound

DEFAULT_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("thu_tuc", "Hỏi về thủ tục hành chính", "Questions on administrative procedures"),
    ("dvc_truc_tuyen", "Dịch vụ công trực tuyến mức độ 3, 4", "Online public services level 3/4"),
    ("phi_le_phi", "Phí, lệ phí", "Fees and charges"),
    ("thai_do", "Phản ánh thái độ, hành vi cán bộ", "Complaints about an official's conduct"),
    ("kien_nghi", "Kiến nghị, sáng kiến", "Suggestions and initiatives"),
    ("khac", "Khác", "Other"),
)
CENTER_UNIT = "ttphvhcc"
SNAPSHOT_TTL_S = 2.0


# --- the intake's view: categories, rules and units read once, not on every submission ---------
@dataclass(frozen=True)
class Snapshot:
    """Categories, routing rules and units as one read; replaced after SNAPSHOT_TTL_S or at once
    when this process changes them (another replica's change shows within the TTL)."""

    loaded_at: float
    categories: dict[str, dict[str, Any]]
    rules: dict[str, list[dict[str, Any]]]
    units: dict[str, dict[str, Any]]

    def category(self, code: str) -> dict[str, Any]:
        row = self.categories.get(code)
        if row is None or not row["active"]:
            known = ", ".join(sorted(c for c, r in self.categories.items() if r["active"]))
            raise InvalidInput(
                f"Lĩnh vực '{code}' không có / unknown category '{code}' (known: {known})",
                "category",
            )
        return row

    def current_unit(self, unit_id: str, day: date) -> str:
        seen: set[str] = set()
        current = self.units.get(unit_id)
        if current is None:
            raise NotFound(f"Không có đơn vị '{unit_id}' / no unit '{unit_id}'", "unit_id")
        while not is_valid_on(current, day):
            nxt = current["successor_id"]
            if nxt is None or current["id"] in seen or nxt not in self.units:
                raise Conflict(
                    f"Đơn vị '{unit_id}' đã giải thể và không có đơn vị kế thừa / unit "
                    f"'{unit_id}' was dissolved and has no successor",
                    "unit_id",
                )
            seen.add(current["id"])
            current = self.units[nxt]
        return str(current["id"])

    def route(self, category: str, text: str, day: date) -> str | None:
        """As route() below, from memory."""
        folded: str | None = None
        for cat in (category, "khac"):
            for rule in self.rules.get(cat, ()):
                if rule["keyword"]:
                    folded = fold(text) if folded is None else folded
                    if rule["keyword"] not in folded:
                        continue
                try:
                    return self.current_unit(rule["unit_id"], day)
                except Conflict:
                    continue
        return None


_snapshots: weakref.WeakKeyDictionary[Any, Snapshot] = weakref.WeakKeyDictionary()


def snapshot(session: Session) -> Snapshot:
    """The catalog as this session should see it (fresh inside a unit of work that changed it)."""
    bind = session.get_bind()
    snap = _snapshots.get(bind)
    fresh = snap is not None and time.monotonic() - snap.loaded_at < SNAPSHOT_TTL_S
    if snap is not None and fresh and not session.info.get("catalog_changed"):
        return snap
    rules: dict[str, list[dict[str, Any]]] = {}
    for r in session.execute(
        select(routing_rules).order_by(routing_rules.c.priority, routing_rules.c.id)
    ):
        rules.setdefault(r.category, []).append(dict(r._mapping))
    snap = Snapshot(
        loaded_at=time.monotonic(),
        categories={r.code: dict(r._mapping) for r in session.execute(select(categories))},
        rules=rules,
        units={r.id: dict(r._mapping) for r in session.execute(select(units))},
    )
    if not session.info.get("catalog_changed"):
        _snapshots[bind] = snap
    return snap


def changed(session: Session) -> None:
    """This unit of work changes the catalog: drop the shared snapshot, read fresh until done."""
    session.info["catalog_changed"] = True
    _snapshots.pop(session.get_bind(), None)


def seed_defaults(session: Session) -> None:
    """The six categories of the issue and the center itself, so a fresh install routes."""
    changed(session)
    if session.execute(select(categories.c.code).limit(1)).first() is None:
        for code, name_vi, name_en in DEFAULT_CATEGORIES:
            session.execute(
                insert(categories).values(
                    code=code, name=name_vi, description=name_en, forward_days=5, answer_days=15
                )
            )
    if session.execute(select(units.c.id).where(units.c.id == CENTER_UNIT)).first() is None:
        session.execute(
            insert(units).values(id=CENTER_UNIT, name="Trung tâm Phục vụ hành chính công")
        )
        session.execute(
            insert(routing_rules).values(category="khac", unit_id=CENTER_UNIT, priority=1000)
        )


def list_categories(session: Session, include_inactive: bool = False) -> list[dict[str, Any]]:
    q = select(categories).order_by(categories.c.code)
    if not include_inactive:
        q = q.where(categories.c.active.is_(True))
    return [dict(r._mapping) for r in session.execute(q)]


def get_category(session: Session, code: str) -> dict[str, Any]:
    row = session.execute(select(categories).where(categories.c.code == code)).first()
    if row is None or not row.active:
        known = ", ".join(c["code"] for c in list_categories(session))
        raise InvalidInput(
            f"Lĩnh vực '{code}' không có / unknown category '{code}' (known: {known})", "category"
        )
    return dict(row._mapping)


def put_category(
    session: Session,
    code: str,
    name: str,
    description: str = "",
    forward_days: int = 5,
    answer_days: int = 15,
    active: bool = True,
) -> dict[str, Any]:
    """Create or change a category and its deadlines (working days)."""
    changed(session)
    if not (1 <= forward_days <= 60) or not (1 <= answer_days <= 120):
        raise InvalidInput(
            "Thời hạn phải từ 1 đến 60/120 ngày làm việc / deadlines must be 1–60 (forward) and "
            "1–120 (answer) working days",
            "answer_days",
        )
    values = dict(
        name=clean(name, "name", 300, required=True),
        description=clean(description, "description", 2000),
        forward_days=forward_days,
        answer_days=answer_days,
        active=active,
    )
    exists = session.execute(select(categories.c.code).where(categories.c.code == code)).first()
    if exists:
        session.execute(update(categories).where(categories.c.code == code).values(**values))
    else:
        session.execute(insert(categories).values(code=code, **values))
    return dict(session.execute(select(categories).where(categories.c.code == code)).one()._mapping)


def put_unit(
    session: Session,
    unit_id: str,
    name: str,
    parent_id: str | None = None,
    valid_from: date | str | None = None,
) -> dict[str, Any]:
    """Create or rename a unit; valid_from may come as ISO text (JSON has no dates)."""
    changed(session)
    if isinstance(valid_from, str) and valid_from:
        try:
            valid_from = date.fromisoformat(valid_from)
        except ValueError:
            raise InvalidInput(
                "valid_from phải là ngày dạng YYYY-MM-DD / valid_from must be a date (YYYY-MM-DD)",
                "valid_from",
            ) from None
    if parent_id:
        _unit(session, parent_id, "parent_id")
    values: dict[str, Any] = dict(name=clean(name, "name", 300, required=True), parent_id=parent_id)
    if valid_from:
        values["valid_from"] = valid_from
    if session.execute(select(units.c.id).where(units.c.id == unit_id)).first():
        session.execute(update(units).where(units.c.id == unit_id).values(**values))
    else:
        session.execute(insert(units).values(id=unit_id, **values))
    return _unit(session, unit_id)


def _unit(session: Session, unit_id: str, field: str = "unit_id") -> dict[str, Any]:
    row = session.execute(select(units).where(units.c.id == unit_id)).first()
    if row is None:
        raise NotFound(f"Không có đơn vị '{unit_id}' / no unit '{unit_id}'", field)
    return dict(row._mapping)


def list_units(session: Session) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in session.execute(select(units).order_by(units.c.id))]


def is_valid_on(unit: dict[str, Any], day: date) -> bool:
    return (unit["valid_from"] is None or unit["valid_from"] <= day) and (
        unit["valid_to"] is None or day < unit["valid_to"]
    )


def current_unit(session: Session, unit_id: str, day: date) -> str:
    """The unit responsible today: follows successors of dissolved units (cycles refused)."""
    seen: set[str] = set()
    current = _unit(session, unit_id)
    while not is_valid_on(current, day):
        if current["successor_id"] is None or current["id"] in seen:
            raise Conflict(
                f"Đơn vị '{unit_id}' đã giải thể và không có đơn vị kế thừa / unit '{unit_id}' "
                "was dissolved and has no successor",
                "unit_id",
            )
        seen.add(current["id"])
        current = _unit(session, current["successor_id"])
    return str(current["id"])


def check_assignable(session: Session, unit_id: str, day: date) -> str:
    unit = _unit(session, unit_id)
    if not is_valid_on(unit, day):
        return current_unit(session, unit_id, day)
    return unit_id


def dissolve(session: Session, unit_id: str, valid_to: date, successor_id: str | None) -> None:
    """Mark a unit as ending on valid_to, handing its work to successor_id."""
    changed(session)
    _unit(session, unit_id)
    if successor_id:
        _unit(session, successor_id, "successor_id")
        if successor_id == unit_id:
            raise InvalidInput("Đơn vị không thể kế thừa chính nó / a unit cannot succeed itself")
    session.execute(
        update(units)
        .where(units.c.id == unit_id)
        .values(valid_to=valid_to, successor_id=successor_id)
    )


def add_rule(
    session: Session, category: str, unit_id: str, keyword: str | None = None, priority: int = 100
) -> int:
    changed(session)
    get_category(session, category)
    _unit(session, unit_id)
    result = session.execute(
        insert(routing_rules).values(
            category=category,
            unit_id=unit_id,
            keyword=fold(keyword) if keyword else None,
            priority=priority,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[attr-defined]


def remove_rule(session: Session, rule_id: int) -> None:
    changed(session)
    session.execute(delete(routing_rules).where(routing_rules.c.id == rule_id))


def list_rules(session: Session) -> list[dict[str, Any]]:
    q = select(routing_rules).order_by(routing_rules.c.category, routing_rules.c.priority)
    return [dict(r._mapping) for r in session.execute(q)]


def route(session: Session, category: str, text: str, day: date) -> str | None:
    """The unit for a new ticket: the first rule of its category (lowest priority number) whose
    keyword, if any, appears in the text; then the fallback rules of category 'khac'."""
    folded = fold(text)
    for cat in (category, "khac"):
        rules = session.execute(
            select(routing_rules)
            .where(routing_rules.c.category == cat)
            .order_by(routing_rules.c.priority, routing_rules.c.id)
        ).all()
        for rule in rules:
            if rule.keyword and rule.keyword not in folded:
                continue
            try:
                return current_unit(session, rule.unit_id, day)
            except Conflict:
                continue
    return None
