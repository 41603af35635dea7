"""The calendar's move route refuses malformed bodies before asking publishing anything, and the
portal page's body cleaning and times (the pages themselves run in tests/e2e with the system)."""

from __future__ import annotations

import requests

from services.gateway.auth.testing import bearer
from services.gateway.routes.portal import local_time, safe_body
from tests.gateway.test_auth import Gw, gw  # noqa: F401 - the fixture


def test_reschedule_validates_the_body(gw: Gw) -> None:  # noqa: F811
    url = f"{gw.base}/api/publishing/deliveries/d1/reschedule"
    headers = bearer(gw.settings, "publisher")
    for body in ({}, {"at": 5}, {"at": "2026-03-02T07:30", "channel": "zalo"}, {"at": "x"}):
        resp = requests.post(url, json=body, headers=headers, timeout=10)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"]
    officer = requests.post(
        url, json={"at": "2026-03-02T07:30"}, headers=bearer(gw.settings, "officer"), timeout=10
    )
    assert officer.status_code == 403


def test_portal_body_is_cleaned_and_times_are_local() -> None:
    html = safe_body(
        '<p onclick="x()">Một <strong>cửa</strong></p><script>alert(1)</script>'
        '<a href="javascript:alert(1)">x</a><img src="/a.png" onerror="y()">'
    )
    assert "<strong>cửa</strong>" in html
    assert "script" not in html and "onclick" not in html and "onerror" not in html
    assert "javascript:" not in html
    assert local_time("2026-03-02T00:30:00") == "02/03/2026 07:30"
    assert local_time("2026-03-02T00:30:00+00:00") == "02/03/2026 07:30"
    assert local_time(None) == ""
