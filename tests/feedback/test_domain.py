"""Pure domain rules: tracking codes, the Vietnamese working-day calendar, the state machine,
masking. No servers needed, so these run in milliseconds."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from services.feedback.domain import codes, workdays
from services.feedback.domain.pii import Vault, mask
from services.feedback.domain.states import Status, check_transition
from services.feedback.domain.text import clean, similarity
from shared.errors import Conflict, InvalidInput


def test_codes_are_readable_and_catch_typos() -> None:
    code = codes.new_code()
    assert len(code) == 19 and code.count("-") == 3
    assert codes.normalize_code(codes.new_public_id()) is None  # a public id is never a code
    assert not set(code.replace("-", "")) & set("01OILSZB8UV5")
    assert codes.normalize_code(code.lower().replace("-", " ")) == code
    for _ in range(300):
        raw = codes.new_code().replace("-", "")
        for i, c in itertools.product(range(len(raw)), codes.ALPHABET):
            if c != raw[i]:
                assert codes.normalize_code(raw[:i] + c + raw[i + 1 :]) is None, (raw, i, c)
        for i in range(len(raw) - 1):
            if raw[i] != raw[i + 1]:
                swapped = raw[:i] + raw[i + 1] + raw[i] + raw[i + 2 :]
                assert codes.normalize_code(swapped) is None, (raw, swapped)
    assert len({codes.new_code() for _ in range(2000)}) == 2000


def test_tet_and_weekends_do_not_count() -> None:
    # Tết Bính Ngọ 2026: 17 Feb is the first day; the official break covers 16–20 Feb 2026.
    assert not workdays.is_working_day(date(2026, 2, 17))
    assert not workdays.is_working_day(date(2026, 2, 14))  # Saturday
    assert workdays.is_working_day(date(2026, 2, 12))
    assert not workdays.is_working_day(date(2026, 9, 2))  # National Day
    assert not workdays.is_working_day(date(2026, 4, 30))  # Reunification Day
    # Received Thursday 12 Feb 2026: 5 working days skip the weekend and the Tết holidays.
    due = workdays.add_working_days(date(2026, 2, 12), 5)
    days = [d for d in _range(date(2026, 2, 13), due) if workdays.is_working_day(d)]
    assert len(days) == 5 and due > date(2026, 2, 20)
    # Ordinary week: Monday + 15 working days = three weeks later.
    assert workdays.add_working_days(date(2026, 6, 1), 15) == date(2026, 6, 22)


def test_deadline_is_end_of_local_day_and_pause_extends_it() -> None:
    received = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 09:00 in Hồ Chí Minh City, Monday
    deadline = workdays.deadline_after(received, 15)
    assert deadline.astimezone(workdays.TZ).date() == date(2026, 6, 22)
    assert deadline.astimezone(workdays.TZ).hour == 23
    paused = datetime(2026, 6, 3, 3, 0, tzinfo=UTC)  # Wednesday
    resumed = datetime(2026, 6, 8, 3, 0, tzinfo=UTC)  # next Monday: Thu, Fri, Mon = 3 days
    later = workdays.extend(deadline, paused, resumed)
    assert later.astimezone(workdays.TZ).date() == date(2026, 6, 25)


def _range(a: date, b: date) -> list[date]:
    from datetime import timedelta

    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


@pytest.mark.parametrize(
    "current, target, ok",
    [
        ("received", Status.ASSIGNED, True),
        ("assigned", Status.ANSWERED, True),
        ("answered", Status.CLOSED, True),
        ("closed", Status.REOPENED, True),
        ("closed", Status.ANSWERED, False),
        ("received", Status.ANSWERED, False),
        ("merged", Status.ASSIGNED, False),
        ("answered", Status.WAITING, False),
    ],
)
def test_transitions(current: str, target: Status, ok: bool) -> None:
    if ok:
        check_transition(current, target)
    else:
        with pytest.raises(Conflict, match=f"from {current} to {target.value}"):
            check_transition(current, target)


def test_vault_masks_and_hashes() -> None:
    from cryptography.fernet import Fernet

    vault = Vault(Fernet.generate_key().decode())
    token = vault.seal({"phone": "0912345678", "name": "Phạm Thị Hoa"})
    assert token and "0912" not in token
    assert vault.open(token)["name"] == "Phạm Thị Hoa"
    assert vault.lookup_hash("phone", "+84 912 345 678") == vault.lookup_hash("phone", "0912345678")
    assert mask({"phone": "0912345678", "email": "hoa@gov.vn"}) == {
        "phone": "09*****678",
        "email": "h***@gov.vn",
    }
    with pytest.raises(InvalidInput, match="LOA_FEEDBACK_PII_KEY"):
        Vault("not-a-key")


def test_text_is_nfc_and_similarity_ignores_diacritics() -> None:
    nfd = "Mo\u0323\u0302t cu\u031b\u0309a"  # "Một cửa" decomposed, as phones send it
    assert clean(nfd, "description", 100) == "Một cửa"
    assert similarity("Đường Lê Lợi có ổ gà lớn", "duong le loi co o ga lon qua") > 0.6
    assert similarity("cấp giấy phép xây dựng", "lệ phí trước bạ xe máy") == 0
