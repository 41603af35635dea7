"""Categories, units (a tree that changes over time) and the rules that route one to the other."""

from __future__ import annotations

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


def seed_defaults(session: Session) -> None:
    """The six categories of the issue and the center itself, so a fresh install routes."""
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
    valid_from: date | None = None,
) -> dict[str, Any]:
    if parent_id:
        _unit(session, parent_id, "parent_id")
    values = dict(name=clean(name, "name", 300, required=True), parent_id=parent_id)
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
    return int(result.inserted_primary_key[0])


def remove_rule(session: Session, rule_id: int) -> None:
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
