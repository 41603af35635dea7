"""Content items: NFC text, sanitized bodies, the workflow by role, every transition recorded."""

from __future__ import annotations

import unicodedata

import pytest

from services.publishing.domain import items
from shared.db import Database
from shared.errors import Conflict, Forbidden, InvalidInput
from tests.publishing.conftest import EDITOR, PUBLISHER, approved_item, events_of

E, P = items.Actor(**EDITOR), items.Actor(**PUBLISHER)


def test_text_is_nfc_and_body_is_sanitized(sqlite_db: Database) -> None:
    nfd_title = unicodedata.normalize("NFD", "Thủ tục một cửa")
    with sqlite_db.session() as s:
        item = items.create_item(
            s,
            items.ItemInput(
                kind="article", title=nfd_title, body='<p style="x">Chào <em>bạn</em></p><hr>',
                tags=[unicodedata.normalize("NFD", "cải cách"), "cải cách"],
            ),
            E, sqlite_db.record_event,
        )  # fmt: skip
    assert item["title"] == "Thủ tục một cửa" and unicodedata.is_normalized("NFC", item["title"])
    assert item["body_html"] == "<p>Chào <em>bạn</em></p>"
    assert item["body_text"] == "Chào bạn"
    assert item["tags"] == ["cải cách"]


@pytest.mark.parametrize(
    "body", ["<p>hi</p><script>alert(1)</script>", '<img src=x onerror="alert(1)">',
             '<a href="javascript:alert(1)">x</a>'],
)  # fmt: skip
def test_script_in_body_is_refused_naming_the_field(sqlite_db: Database, body: str) -> None:
    with sqlite_db.session() as s, pytest.raises(InvalidInput) as err:
        items.create_item(
            s, items.ItemInput(kind="article", title="T", body=body), E, sqlite_db.record_event
        )
    assert err.value.field == "body" and "script" in err.value.detail


def test_video_post_needs_a_known_asset(sqlite_db: Database) -> None:
    with sqlite_db.session() as s, pytest.raises(InvalidInput) as err:
        items.create_item(
            s, items.ItemInput(kind="video_post", title="Clip", asset_id="nope"), E,
            sqlite_db.record_event,
        )  # fmt: skip
    assert err.value.field == "asset_id"


def test_workflow_roles_and_history(sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        item = items.create_item(
            s, items.ItemInput(kind="bulletin", title="Bản tin tháng 3"), E, sqlite_db.record_event
        )
        items.update_item(s, item["id"], items.ItemInput(summary="Mới"), E)
        items.transition(s, item["id"], "submit", E, sqlite_db.record_event)
        with pytest.raises(Forbidden) as err:
            items.transition(s, item["id"], "approve", E, sqlite_db.record_event)
        assert err.value.field == "role"
    with sqlite_db.session() as s:
        with pytest.raises(Conflict):
            items.transition(s, item["id"], "withdraw", P, sqlite_db.record_event, "x")
        done = items.transition(s, item["id"], "approve", P, sqlite_db.record_event)
    assert done["status"] == "approved"
    history = [(h["action"], h["actor"], h["role"]) for h in done["history"]]
    assert history == [
        ("create", "bien-tap-vien", "editor"),
        ("edit", "bien-tap-vien", "editor"),
        ("submit", "bien-tap-vien", "editor"),
        ("approve", "lanh-dao", "publisher"),
    ]
    assert done["history"][1]["changes"] == {"summary": ["", "Mới"]}
    (event,) = events_of(sqlite_db, "publishing.item_approved")
    assert event["approved_by"] == "lanh-dao" and event["version"] == 2


def test_withdraw_needs_reason_and_correction_goes_back_to_review(sqlite_db: Database) -> None:
    item = approved_item(sqlite_db)
    with sqlite_db.session() as s:
        with pytest.raises(InvalidInput) as err:
            items.transition(s, item["id"], "withdraw", P, sqlite_db.record_event)
        assert err.value.field == "note"
        fixed = items.correct(s, item["id"], items.ItemInput(title="Một cửa (đính chính)"), E,
                              "sai tên")  # fmt: skip
    assert fixed["status"] == "in_review" and fixed["version"] == item["version"] + 1
    assert fixed["history"][-1]["changes"]["title"] == [
        "Một cửa liên thông",
        "Một cửa (đính chính)",
    ]
    with sqlite_db.session() as s:
        items.transition(s, item["id"], "approve", P, sqlite_db.record_event)
        gone = items.transition(s, item["id"], "withdraw", P, sqlite_db.record_event, "lỗi")
    assert gone["status"] == "withdrawn"
    assert events_of(sqlite_db, "publishing.item_withdrawn")[0]["reason"] == "lỗi"
