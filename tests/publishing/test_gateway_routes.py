"""The publishing routes through the real gateway (HTTP → nameko RPC → publishing service on
RabbitMQ): the workflow, and bad input answered as RFC 9457 problem details naming the field."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from services.gateway.service import GatewayService
from services.publishing.service import PublishingService
from shared.runtime.config import nameko_config
from shared.runtime.resources import forget_databases
from tests.conftest import wait_until

EDITOR: dict[str, str] = {}  # Authorization headers, filled by the api fixture
PUBLISHER: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api(make_settings: Any, container_factory: Any) -> Iterator[str]:
    """Gateway and publishing service in one vhost of the real broker."""
    from loa.runner import migrate

    port = _free_port()
    settings = make_settings(http_host="127.0.0.1", http_port=port,
                             public_url=f"http://127.0.0.1:{port}")  # fmt: skip
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings, ["gateway", "publishing"])
    config = nameko_config(settings)
    for cls in (GatewayService, PublishingService):
        container_factory(cls, config).start()
    from services.gateway.auth.testing import bearer

    EDITOR.update(bearer(settings, "editor"))
    PUBLISHER.update(bearer(settings, "publisher"))
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base), 20, what="the gateway to answer")
    yield base
    forget_databases()


def _answers(base: str) -> bool:
    try:
        resp = requests.get(f"{base}/api/publishing/channels", headers=EDITOR, timeout=5)
        return resp.status_code == 200
    except requests.RequestException:
        return False


def problem(resp: requests.Response, status: int, field: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def approved(api: str, **fields: Any) -> dict[str, Any]:
    data = {"kind": "article", "title": "Một cửa liên thông", "body": "<p>Nội dung</p>", **fields}
    item = requests.post(f"{api}/api/publishing/items", json=data, headers=EDITOR, timeout=20)
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    for action, who in (("submit", EDITOR), ("approve", PUBLISHER)):
        r = requests.post(f"{api}/api/publishing/items/{item_id}/transitions",
                          json={"action": action}, headers=who, timeout=20)  # fmt: skip
        assert r.status_code == 200, r.text
    return dict(r.json())


def schedule(api: str, item_id: str, **body: Any) -> requests.Response:
    return requests.post(f"{api}/api/publishing/items/{item_id}/deliveries", json=body,
                         headers=PUBLISHER, timeout=20)  # fmt: skip


def test_write_approve_schedule_and_see_it_published(api: str) -> None:
    item = approved(api, title="Cổng dịch vụ công trực tuyến", plan_task=1)
    r = schedule(api, item["id"], channel="portal")
    assert r.status_code == 201, r.text
    delivery = r.json()

    def sent() -> bool:
        d = requests.get(f"{api}/api/publishing/deliveries/{delivery['id']}", headers=EDITOR,
                         timeout=20)  # fmt: skip
        return bool(d.json()["status"] == "succeeded")

    wait_until(sent, 20, what="the scheduler to publish to the portal")
    rss = requests.get(f"{api}/api/publishing/feeds/rss.xml", timeout=20)
    assert rss.headers["Content-Type"].startswith("application/rss+xml")
    assert "Cổng dịch vụ công trực tuyến" in rss.text
    plan = requests.get(f"{api}/api/publishing/plan?from=2019-01&to=2019-02", headers=EDITOR,
                        timeout=20).json()  # fmt: skip
    assert [t["no"] for t in plan["tasks"]] == list(range(1, 11))


def _unknown_channel(api: str) -> None:
    item = approved(api)
    body = problem(schedule(api, item["id"], channel="myspace"), 422, "channel")
    assert "myspace" in body["detail"]


def _time_in_the_past(api: str) -> None:
    item = approved(api)
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    problem(schedule(api, item["id"], channel="portal", at=past), 422, "at")
    problem(schedule(api, item["id"], channel="portal", at="thứ hai tới"), 422, "at")
    problem(schedule(api, item["id"], channel="portal", tz="Asia/Sai_Gon"), 422, "tz")


def _invalid_recurrence_rule(api: str) -> None:
    series = {"name": "Chuyên trang", "channel": "press", "start": "2099-01-01T07:00"}
    for rule in ("FREQ=SOMETIMES", "FREQ=MONTHLY;BYMONTHDAY=40"):
        r = requests.post(f"{api}/api/publishing/series", json={**series, "rrule": rule,
                          "channel": "portal"}, headers=PUBLISHER, timeout=20)  # fmt: skip
        problem(r, 422, "rrule")


def _script_tags_in_the_body(api: str) -> None:
    script = "<p>Xin chào</p><script>alert(1)</script>"
    r = requests.post(f"{api}/api/publishing/items", headers=EDITOR, timeout=20,
                      json={"kind": "article", "title": "Tin", "body": script})  # fmt: skip
    body = problem(r, 422, "body")
    assert "script" in body["detail"]
    r = requests.post(f"{api}/api/publishing/items", headers=EDITOR, timeout=20, json={
        "kind": "article", "title": "Tin", "body": '<img src="x" onerror="alert(1)">'})  # fmt: skip
    problem(r, 422, "body")


def _missing_asset(api: str) -> None:
    r = requests.post(f"{api}/api/publishing/items", headers=EDITOR, timeout=20, json={
        "kind": "video_post", "title": "Clip", "asset_id": "no-such-asset"})  # fmt: skip
    body = problem(r, 422, "asset_id")
    assert "no-such-asset" in body["detail"]


def _image_too_large_for_the_channel(api: str) -> None:
    big = {"key": "img/poster.jpg", "size": 6 * 1024 * 1024, "content_type": "image/jpeg"}
    item = approved(api, images=[big])
    body = problem(schedule(api, item["id"], channel="portal"), 422, "images[0]")
    assert "5 MB" in body["detail"]


def _malformed_requests(api: str) -> None:
    r = requests.post(f"{api}/api/publishing/items", headers=EDITOR, timeout=20,
                      json={"kind": "podcast", "title": "Tin"})  # fmt: skip
    problem(r, 422, "kind")
    r = requests.post(f"{api}/api/publishing/items", json={"title": "Tin"}, timeout=20)
    assert r.status_code == 401 and r.headers["Content-Type"].startswith("application/problem")
    r = requests.post(
        f"{api}/api/publishing/items/any/deliveries", json={"channel": "portal"}, headers=EDITOR,
        timeout=20)  # fmt: skip
    assert r.status_code == 403, r.text  # an editor may write, not schedule
    item = approved(api)
    r = requests.post(f"{api}/api/publishing/items/{item['id']}/transitions",
                      json={"action": "approve"}, headers=EDITOR, timeout=20)  # fmt: skip
    assert r.status_code in (403, 409), r.text


def test_bad_input_is_a_problem_naming_the_field(api: str) -> None:
    """Unknown channel, a past time, an invalid RRULE, script tags, a missing asset, an image
    over a channel's limit, malformed requests: each a clear 4xx naming the field."""
    for check in (_unknown_channel, _time_in_the_past, _invalid_recurrence_rule,
                  _script_tags_in_the_body, _missing_asset, _image_too_large_for_the_channel,
                  _malformed_requests):  # fmt: skip
        check(api)


def test_a_leaflet_pdf_is_attached_over_http_and_bad_files_are_refused(api: str) -> None:
    from tests.publishing.pdfs import make_pdf

    item = requests.post(
        f"{api}/api/publishing/items",
        json={"kind": "document", "title": "Tờ rơi dịch vụ công", "body": "<p>Tờ rơi</p>"},
        headers=EDITOR,
        timeout=20,
    ).json()
    url = f"{api}/api/publishing/items/{item['id']}/document"
    pdf = make_pdf([["Thủ tục cấp giấy phép xây dựng"]])
    as_pdf = {**EDITOR, "Content-Type": "application/pdf"}
    r = requests.put(f"{url}?filename=to-roi.pdf", data=pdf, headers=as_pdf, timeout=20)
    assert r.status_code == 200, r.text
    assert r.json()["document"]["filename"] == "to-roi.pdf"
    # a damaged PDF (viewers often open those) is kept, found by its title only, and says why
    r = requests.put(url, data=b"%PDF-1.4 not really", headers=as_pdf, timeout=20)
    assert r.status_code == 200 and r.json()["document"]["text_status"] == "unreadable", r.text
    problem(requests.put(url, data=b"hello", headers=as_pdf, timeout=20), 422, "file")
    problem(
        requests.put(url, data=b"x" * (20 * 1024 * 1024 + 1), headers=as_pdf, timeout=60),
        413,
        "file",
    )
    r = requests.put(url, data=pdf, headers={**EDITOR, "Content-Type": "text/plain"}, timeout=20)
    assert r.status_code == 415, r.text
    article = approved(api)
    r = requests.put(
        f"{api}/api/publishing/items/{article['id']}/document", data=pdf, headers=as_pdf, timeout=20
    )
    assert r.status_code == 409, r.text
    r = requests.put(url, data=pdf, headers={"Content-Type": "application/pdf"}, timeout=20)
    assert r.status_code == 401
