"""Issue 13, finding 2: Open311 handed out every tracking code.

Anonymous `GET /open311/v2/requests.json` listed `service_request_id` = the tracking code, the
only credential for tracking, rating, reopening and privacy requests, and public tickets came back
with their raw description (name, street address, phone) and exact lat/long. Now the listed id is
a public reference that opens nothing, the secret code goes only to who filed the ticket, and the
listing shows only what publishing shows (anonymized) with a coarse position.
"""

from __future__ import annotations

from typing import Any

from tests.security._feedback import *  # noqa: F403 - the stack's fixtures

BASE = "/open311/v2"
NAME = "Trần Thị Hoa"
PHONE = "0912 345 678"
STREET = "số 27 đường Lê Lợi"
PLANTED = (
    f"Tôi là {NAME}, nhà ở {STREET}, phường Phú Cường, gọi {PHONE}: đèn đường trước nhà "
    "hỏng ba hôm nay, buổi tối rất tối."
)


def open311_post(stack: Any, **form: str) -> dict[str, Any]:
    data = {
        "api_key": "open311-key-1",
        "service_code": "kien_nghi",
        "lat": "10.987654",
        "long": "106.654321",
        "description": PLANTED,
        "first_name": "Hoa",
        "last_name": "Trần Thị",
        "phone": PHONE,
        "address_string": "27 Lê Lợi, Phú Cường",
        "attribute[is_public]": "true",
    }
    data.update(form)
    resp = stack.http.post(stack.url(f"{BASE}/requests.json"), data=data, timeout=20)
    assert resp.status_code == 201, resp.text
    return dict(resp.json()[0])


def secret_code(row: dict[str, Any]) -> str:
    """The tracking code the Open311 client (who filed) gets, in the service notice."""
    return str(row["service_notice"]).rsplit(":", 1)[1].strip()


def staff(stack: Any, ref: str, action: str, **body: Any) -> Any:
    resp = stack.post(f"/api/feedback/staff/tickets/{ref}/{action}", role="admin", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_listed_ids_open_nothing_and_listing_is_anonymized(stack) -> None:
    filed = open311_post(stack)
    code = secret_code(filed)
    portal = stack.submit(
        description=f"Hỏi thủ tục; liên hệ {PHONE}", contact={"phone": PHONE}, is_public=True
    )
    assert portal.status_code == 201
    portal_code = portal.json()["code"]
    # Both answered, so a rating or a reopen with the right code would be accepted.
    for ref in (code, portal_code):
        staff(stack, ref, "assign", unit_id="ttphvhcc")
        staff(stack, ref, "answer", answer="Đã sửa đèn đường, cảm ơn anh chị.")
    staff(stack, code, "publish")

    listing = stack.http.get(stack.url(f"{BASE}/requests.json"), timeout=20)
    assert listing.status_code == 200
    rows = listing.json()
    assert len(rows) == 2
    text = listing.text
    for secret in (code, portal_code):
        assert secret not in text and secret.replace("-", "") not in text
    # Nothing personal from the planted description, and no exact position.
    for personal in ("Hoa", "0912", "345 678", "Lê Lợi", "số 27"):
        assert personal not in text, personal
    published = next(r for r in rows if r["description"])
    assert "đèn đường" in published["description"]
    assert published["lat"] != 10.987654 and abs(published["lat"] - 10.987654) < 0.01
    assert published["long"] != 106.654321

    for row in rows:
        rid = row["service_request_id"]
        assert stack.get(f"/api/feedback/track/{rid}").status_code == 404
        rating = stack.post(f"/api/feedback/track/{rid}/rating", json={"score": 1})
        assert rating.status_code == 404, rating.text
        reopen = stack.post(f"/api/feedback/track/{rid}/reopen", json={"reason": "chưa xong"})
        assert reopen.status_code == 404, reopen.text
        for kind in ("access", "delete"):
            req = stack.post(
                "/api/feedback/privacy/requests", json={"kind": kind, "code": rid, "phone": PHONE}
            )
            assert req.status_code == 404, req.text
        # The public id still finds its request the Open311 way.
        one = stack.get(f"{BASE}/requests/{rid}.json")
        assert one.status_code == 200 and one.json()[0]["service_request_id"] == rid
    token = stack.get(f"{BASE}/tokens/{filed['token']}.json").json()[0]
    assert token["service_request_id"] == filed["service_request_id"] != code

    # Nothing changed; the secret code, given only to who filed, still works.
    tracked = stack.get(f"/api/feedback/track/{code}")
    assert tracked.status_code == 200 and tracked.json()["rating"] is None
    assert tracked.json()["status"] == "answered"
    assert stack.post(f"/api/feedback/track/{code}/rating", json={"score": 5}).status_code == 200


def test_tracking_codes_are_long_enough_not_to_be_guessed(stack) -> None:
    code = stack.submit().json()["code"]
    raw = code.replace("-", "")
    # 23 symbols: 15 random characters are about 68 bits, beyond guessing at any rate limit.
    assert len(raw) >= 16, code
