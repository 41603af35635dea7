"""A citizen's reply to an answered or closed ticket (by e-mail or on a chat channel) reopens it:
status "reopened", a feedback.ticket_reopened event, the answer clock started afresh. A bare
1–5 answers our "please rate" message instead. Domain with a controllable clock and a real
database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.feedback.domain import channels, mailbox, workdays
from services.feedback.domain.tickets import Actor, Desk
from shared.db import Database
from tests.feedback.conftest import DeskAt, event_types

OP = Actor("op", "operator")


@pytest.fixture
def desk(desk_at: DeskAt) -> Any:
    return desk_at(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # Monday 09:00 local


events = event_types


def mail(message_id: str, body: str, refs: list[str] | None = None, subject: str = "Hỏi") -> Any:
    return mailbox.Mail(message_id, refs or [], "hoa@citizen.test", "Hoa", subject, body)


def answer_and_close(db: Database, d: Desk, ticket_id: str) -> None:
    with db.session() as s:
        d.answer(s, ticket_id, "Cần bản sao giấy khai sinh.", OP)
    with db.session() as s:
        d.close(s, ticket_id, OP)


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "answered"])
def test_mail_reply_to_an_answered_or_closed_ticket_reopens_it(desk, closed: bool) -> None:
    db, d, clock = desk
    with db.session() as s:
        first = mailbox.receive(d, s, mail("<m1@citizen.test>", "Đăng ký kết hôn cần gì?"))
    ticket_id = first["ticket_id"]
    if closed:
        answer_and_close(db, d, ticket_id)
    else:
        with db.session() as s:
            d.answer(s, ticket_id, "Cần bản sao giấy khai sinh.", OP)

    clock.now = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # Friday, well after the first clock
    with db.session() as s:
        done = mailbox.receive(
            d, s, mail("<m2@citizen.test>", "Tôi đã nộp mà chưa được.", ["<m1@citizen.test>"])
        )
    assert done["outcome"] == "threaded" and done["ticket_id"] == ticket_id
    with db.session() as s:
        view = d.staff_view(s, ticket_id, OP)
    assert view["status"] == "reopened"
    assert view["answered_at"] is None and view["closed_at"] is None
    # A new answer clock: 15 working days from the reply, not from the first message.
    assert workdays.local_date(view["deadline_at"]) == workdays.local_date(
        workdays.deadline_after(clock.now, 15)
    )
    assert workdays.local_date(view["deadline_at"]) == date(2026, 4, 10)
    assert view["messages"][-1] == {
        "at": view["messages"][-1]["at"],
        "direction": "in",
        "body": "Tôi đã nộp mà chưa được.",
    }
    assert view["history"][-1]["action"] == "reopened"
    assert view["history"][-1]["actor"] == "citizen"
    assert events(db)[-1] == "feedback.ticket_reopened"
    # The reopened ticket is back on its unit's desk and can be answered again.
    with db.session() as s:
        assert d.answer(s, ticket_id, "Đã xử lý lại.", OP)["status"] == "answered"


def test_chat_reply_reopens_recent_ticket_rates_with_a_digit_and_old_ones_stay_closed(
    desk,
) -> None:
    db, d, clock = desk
    with db.session() as s:
        t = channels.chat_message(d, s, "zalo", "U1", "z1", "Đèn đường hỏng ở hẻm 5")
    assert t is not None
    answer_and_close(db, d, t["id"])

    with db.session() as s:  # answers our "rate us from 1 to 5"
        rated = channels.chat_message(d, s, "zalo", "U1", "z2", " 4 ")
    assert rated is not None and rated["id"] == t["id"]
    assert rated["status"] == "closed" and rated["rating"] == 4

    clock.now += timedelta(days=3)
    with db.session() as s:
        again = channels.chat_message(d, s, "zalo", "U1", "z3", "Đèn vẫn chưa sáng")
    assert again is not None and again["id"] == t["id"]
    assert again["status"] == "reopened"
    assert workdays.local_date(again["deadline_at"]) > workdays.local_date(t["deadline_at"])
    assert events(db).count("feedback.ticket_reopened") == 1
    with db.session() as s:  # the same delivery twice changes nothing
        assert channels.chat_message(d, s, "zalo", "U1", "z3", "Đèn vẫn chưa sáng") is None

    answer_and_close(db, d, t["id"])
    clock.now += timedelta(days=channels.REPLY_WINDOW.days + 1)
    with db.session() as s:  # long after: a new question, the old ticket stays closed
        new = channels.chat_message(d, s, "zalo", "U1", "z4", "Hỏi về giấy phép kinh doanh")
    assert new is not None and new["id"] != t["id"] and new["status"] != "reopened"
    with db.session() as s:
        assert d.staff_view(s, t["id"], OP)["status"] == "closed"
