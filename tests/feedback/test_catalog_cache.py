"""The intake reads categories, rules and units from a snapshot instead of querying them for
every submission: this process's changes show at once, another replica's within the TTL."""

from __future__ import annotations

from datetime import date

import pytest

from services.feedback.domain import catalog
from services.feedback.domain.tickets import Intake
from services.feedback.models import metadata
from shared.db import Database
from tests.feedback.test_deadlines import desk  # noqa: F401 - the domain fixture


def ask(text: str) -> Intake:
    return Intake(channel="portal", category="thu_tuc", description=text)


def test_snapshot_follows_changes_here_at_once_and_elsewhere_within_the_ttl(
    desk,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, d, _ = desk
    # A TTL no loaded machine outlives during the test: only the test decides when it expires.
    monkeypatch.setattr(catalog, "SNAPSHOT_TTL_S", 60.0)
    with db.session() as s:
        assert d.submit(s, ask("Hỏi về giấy phép xây dựng"))["unit_id"] == "so-tp"
    # This process adds a unit and a keyword rule: the next submission routes by it.
    with db.session() as s:
        catalog.put_unit(s, "so-xd", "Sở Xây dựng")
        catalog.add_rule(s, "thu_tuc", "so-xd", keyword="xây dựng", priority=1)
        # Inside the unit of work that changed it, the catalog is read fresh.
        assert d.submit(s, ask("Giấy phép xây dựng"))["unit_id"] == "so-xd"
    with db.session() as s:
        assert d.submit(s, ask("Cấp phép xây dựng nhà"))["unit_id"] == "so-xd"

    # Another replica (its own engine) dissolves the unit; this one sees it after the TTL.
    other = Database("feedback", db.url, metadata)
    try:
        with other.session() as s:
            catalog.put_unit(s, "so-xd2", "Sở Xây dựng (mới)")
            catalog.dissolve(s, "so-xd", date(2026, 1, 1), "so-xd2")
        # Within the TTL this replica still routes from its snapshot: the change is not seen yet
        # (were the catalog read on every submission, this would already be so-xd2).
        with db.session() as s:
            assert d.submit(s, ask("Xây dựng nhà ở"))["unit_id"] == "so-xd"
        # Once the snapshot has expired, the other replica's change shows.
        monkeypatch.setattr(catalog, "SNAPSHOT_TTL_S", 0.0)
        with db.session() as s:
            assert d.submit(s, ask("Xây dựng nhà ở"))["unit_id"] == "so-xd2"
        # An unknown category is refused from the snapshot as it was from the table.
        with db.session() as s, pytest.raises(Exception, match="unknown category"):
            d.submit(s, Intake(channel="portal", category="nope", description="x"))
    finally:
        other.dispose()
