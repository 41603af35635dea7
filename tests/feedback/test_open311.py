"""Open311 GeoReport v2 as an existing Open311 client uses it: form POSTs, JSON and XML, errors
as a list of {code, description}, the 90-day default window."""

from __future__ import annotations

from xml.etree import ElementTree as ET

BASE = "/open311/v2"


def post(stack, fmt: str = "json", **form: str):  # type: ignore[no-untyped-def]
    data = {
        "api_key": "open311-key-1",
        "service_code": "kien_nghi",
        "lat": "10.98",
        "long": "106.65",
        "description": "Đèn đường hỏng & <tối>",
        "email": "a@b.vn",
        "first_name": "Hà",
        "last_name": "Lê",
        "attribute[is_public]": "true",
    }
    data.update(form)
    return stack.http.post(stack.url(f"{BASE}/requests.{fmt}"), data=data, timeout=20)


def test_services_and_definition_in_json_and_xml(stack) -> None:
    services = stack.get(f"{BASE}/services.json").json()
    assert {"thu_tuc", "kien_nghi", "khac"} <= {s["service_code"] for s in services}
    assert services[0]["type"] == "realtime" and services[0]["metadata"] is True
    xml = stack.get(f"{BASE}/services.xml")
    assert xml.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services" and root.find("service/service_code") is not None
    definition = stack.get(f"{BASE}/services/kien_nghi.xml")
    droot = ET.fromstring(definition.content)
    assert droot.findtext("attributes/attribute/code") == "is_public"
    assert droot.findtext("attributes/attribute/values/value/key") == "true"
    missing = stack.get(f"{BASE}/services/nope.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


def test_post_then_get_by_id_token_and_filters(stack) -> None:
    created = post(stack)
    assert created.status_code == 201, created.text
    (row,) = created.json()
    rid, token = row["service_request_id"], row["token"]
    one = stack.get(f"{BASE}/requests/{rid}.json").json()[0]
    assert one["status"] == "open" and one["service_code"] == "kien_nghi"
    # Public, but shown only once published (anonymized); the position rounded (2 decimals).
    assert one["description"] is None and one["lat"] == 10.98 and one["long"] == 106.65
    assert "a@b.vn" not in str(one) and "Hà" not in str(one)
    assert one["requested_datetime"].endswith("Z")
    assert stack.get(f"{BASE}/tokens/{token}.json").json() == [
        {"service_request_id": rid, "token": token}
    ]

    private = post(stack, **{"attribute[is_public]": "false"}).json()[0]["service_request_id"]
    assert stack.get(f"{BASE}/requests/{private}.json").json()[0]["description"] is None
    listed = stack.get(f"{BASE}/requests.json", params={"status": "open"}).json()
    assert {r["service_request_id"] for r in listed} == {rid, private}
    assert stack.get(f"{BASE}/requests.json", params={"status": "closed"}).json() == []
    assert stack.get(f"{BASE}/requests.json", params={"service_code": "thu_tuc"}).json() == []
    # Outside the default 90 days, or an explicit old window: nothing.
    old = stack.get(f"{BASE}/requests.json", params={"end_date": "2020-01-01T00:00:00Z"})
    assert old.json() == []
    both = stack.get(f"{BASE}/requests.json", params={"service_request_id": f"{rid},{private}"})
    assert len(both.json()) == 2

    # Staff answer and publish it: the published question is what Open311 shows.
    for action, body in (("assign", {"unit_id": "ttphvhcc"}), ("answer", {"answer": "Đã sửa"})):
        done = stack.post(f"/api/feedback/staff/tickets/{token}/{action}", role="admin", json=body)
        assert done.status_code == 200, done.text
    assert stack.post(f"/api/feedback/staff/tickets/{token}/publish", role="admin").ok
    one = stack.get(f"{BASE}/requests/{rid}.json").json()[0]
    assert one["description"] == "Đèn đường hỏng & <tối>" and one["status"] == "closed"
    xml = stack.get(f"{BASE}/requests/{rid}.xml")
    root = ET.fromstring(xml.content)  # escaped text parses back to the original
    assert root.findtext("request/description") == "Đèn đường hỏng & <tối>"


def test_errors_as_the_spec_says(stack) -> None:
    bad_key = post(stack, api_key="stolen")
    assert bad_key.status_code == 403 and bad_key.json()[0]["code"] == 403
    no_place = post(stack, "xml", lat="", long="")
    assert no_place.status_code == 400
    err = ET.fromstring(no_place.content)
    assert err.tag == "errors" and err.findtext("error/code") == "400"
    assert "location" in (err.findtext("error/description") or "")
    unknown = post(stack, service_code="bay_len_troi")
    assert unknown.status_code == 404 and "service_code" in unknown.json()[0]["description"]
    assert stack.get(f"{BASE}/requests/AAA-AAA-AAA.json").status_code == 404
    bad_date = stack.get(f"{BASE}/requests.json", params={"start_date": "yesterday"})
    assert bad_date.status_code == 400
    assert stack.get(f"{BASE}/requests.json", params={"status": "lost"}).status_code == 400
    assert stack.get(f"{BASE}/services.yaml").status_code == 404
