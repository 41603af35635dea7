"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2/): existing Open311 apps and tools
work against loa unchanged. JSON and XML; errors as the specification says (an array/list of
{code, description} with the HTTP status); POST needs an api_key; GET requests defaults to the
last 90 days. The service_request_id is the ticket's public id, which opens nothing; the secret
tracking code (tracking, rating, reopening, privacy requests) goes only to the client that filed
the request, in the POST's service_notice, for the citizen. The token is the ticket id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from werkzeug.wrappers import Response

from services.gateway.http import RequestContext, route
from shared.errors import LoaError
from shared.ids import new_id
from shared.runtime.rpc import as_loa_error

BASE = "/open311/v2"
TAGS = ["open311"]
FORMATS = ("json", "xml")


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> bytes:
    top = ET.Element(root)
    for row in rows:
        _fill(ET.SubElement(top, item), row)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(top, encoding="utf-8")


def _fill(el: ET.Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, list):
            holder = ET.SubElement(el, key)
            singular = {"attributes": "attribute", "values": "value"}.get(key, key[:-1])
            for v in value:
                _fill(ET.SubElement(holder, singular), v)
        else:
            child = ET.SubElement(el, key)
            if value is not None:
                child.text = str(value).lower() if isinstance(value, bool) else str(value)


def _respond(fmt: str, status: int, root: str, item: str, rows: Any) -> Response:
    if fmt == "xml":
        if root == "service_definition":
            top = ET.Element(root)
            _fill(top, rows)
            body = b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(top, encoding="utf-8")
        else:
            body = _xml(root, item, rows)
        return Response(body, status=status, content_type="text/xml; charset=utf-8")
    import json

    return Response(
        json.dumps(rows, ensure_ascii=False),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def _guard(fmt: str, work: Any) -> Response:
    """Runs a handler; every failure becomes the spec's error list, in the asked format."""
    if fmt not in FORMATS:
        fmt = "json"
        error = Open311Error(404, "format must be json or xml")
    else:
        try:
            return work()  # type: ignore[no-any-return]
        except Open311Error as exc:
            error = exc
        except LoaError as exc:
            error = Open311Error(exc.status, exc.detail)
        except Exception as exc:
            known = as_loa_error(exc)
            if known is None:
                raise
            error = Open311Error(known.status, known.detail)
    return _respond(
        fmt,
        error.status,
        "errors",
        "error",
        [{"code": error.status, "description": error.description}],
    )


@route(
    "GET",
    f"{BASE}/services.<fmt>",
    summary="Open311: service list",
    tags=TAGS,
    response_content_type="application/json",
)
def service_list(ctx: RequestContext, fmt: str) -> Response:
    return _guard(
        fmt,
        lambda: _respond(
            fmt, 200, "services", "service", ctx.services.call("feedback", "open311_services")
        ),
    )


@route(
    "GET", f"{BASE}/services/<service_code>.<fmt>", summary="Open311: service definition", tags=TAGS
)
def service_definition(ctx: RequestContext, service_code: str, fmt: str) -> Response:
    def build() -> Response:
        codes = {s["service_code"] for s in ctx.services.call("feedback", "open311_services")}
        if service_code not in codes:
            raise Open311Error(404, f"service_code {service_code} not found")
        return _respond(fmt, 200, "service_definition", "", _definition(service_code))

    return _guard(fmt, build)


def _definition(service_code: str) -> dict[str, Any]:
    return {
        "service_code": service_code,
        "attributes": [
            {
                "variable": True,
                "code": "is_public",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "May the question and answer be published?",
                "order": 1,
                "description": "Công khai / Public",
                "values": [
                    {"key": "true", "name": "Có / Yes"},
                    {"key": "false", "name": "Không / No"},
                ],
            }
        ],
    }


@route(
    "POST",
    f"{BASE}/requests.<fmt>",
    summary="Open311: create a service request (api_key)",
    tags=TAGS,
    request_content_type="application/x-www-form-urlencoded",
    responses={400: "Missing or bad field", 403: "Bad api_key"},
)
def create_request(ctx: RequestContext, fmt: str) -> Response:
    def work() -> Response:
        form = ctx.request.form
        keys = {k.strip() for k in ctx.settings.feedback_open311_api_keys.split(",") if k.strip()}
        if not form.get("api_key") or form["api_key"] not in keys:
            raise Open311Error(403, "api_key is missing or not valid")
        code = form.get("service_code", "")
        if not code:
            raise Open311Error(400, "service_code is required")
        lat, long = form.get("lat"), form.get("long")
        address = form.get("address_string") or form.get("address_id")
        if not ((lat and long) or address):
            raise Open311Error(
                400, "a location is required: lat and long, address_string or address_id"
            )
        try:
            lat_f = float(lat) if lat else None
            long_f = float(long) if long else None
        except ValueError:
            raise Open311Error(400, "lat and long must be numbers") from None
        description = form.get("description", "")
        if not description.strip():
            raise Open311Error(400, "description is required")
        name = " ".join(x for x in (form.get("first_name"), form.get("last_name")) if x)
        contact = {
            "name": name,
            "email": form.get("email"),
            "phone": form.get("phone"),
            "address": form.get("address_string"),
        }
        intake = {
            "channel": "open311",
            "category": code,
            "description": description,
            "contact": {k: v for k, v in contact.items() if v},
            "is_public": form.get("attribute[is_public]", "false").lower() == "true",
            "lat": lat_f,
            "long": long_f,
            "attributes": {k: v for k, v in form.items() if k.startswith("attribute[")},
            # A redelivered RPC (broker restart) returns the same ticket, not a second one.
            "external_ref": "open311:" + new_id(),
        }
        try:
            ticket = ctx.services.call("feedback", "submit", intake)
        except Exception as exc:
            known = as_loa_error(exc)
            if known is not None and known.status == 422 and known.field == "category":
                raise Open311Error(404, f"service_code {code} not found") from None
            if known is not None and known.status in (413, 422):
                raise Open311Error(400, known.detail) from None
            raise
        rows = [
            {
                "service_request_id": ticket["public_id"],
                "token": ticket["id"],
                "service_notice": f"Mã tra cứu / tracking code: {ticket['code']}",
                "account_id": None,
            }
        ]
        return _respond(fmt, 201, "service_requests", "request", rows)

    return _guard(fmt, work)


def _dates(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date-time (2026-01-31T08:00:00Z)") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} must carry a time zone (Z or +07:00)")
    return parsed


@route(
    "GET",
    f"{BASE}/requests.<fmt>",
    summary="Open311: service requests (90-day default)",
    tags=TAGS,
    query={
        "service_request_id": "comma-separated",
        "service_code": "",
        "start_date": "W3C",
        "end_date": "W3C",
        "status": "open,closed",
    },
)
def list_requests(ctx: RequestContext, fmt: str) -> Response:
    def work() -> Response:
        args = ctx.request.args
        status = [s for s in args.get("status", "").split(",") if s]
        if any(s not in ("open", "closed") for s in status):
            raise Open311Error(400, "status must be open, closed or both")
        filters = {
            "ids": [x for x in args.get("service_request_id", "").split(",") if x] or None,
            "service_codes": [x for x in args.get("service_code", "").split(",") if x] or None,
            "start": _dates(args.get("start_date"), "start_date"),
            "end": _dates(args.get("end_date"), "end_date"),
            "status": status or None,
        }
        rows = ctx.services.call("feedback", "open311_requests", filters)
        return _respond(fmt, 200, "service_requests", "request", rows)

    return _guard(fmt, work)


@route(
    "GET", f"{BASE}/requests/<request_id>.<fmt>", summary="Open311: one service request", tags=TAGS
)
def one_request(ctx: RequestContext, request_id: str, fmt: str) -> Response:
    def work() -> Response:
        rows = ctx.services.call("feedback", "open311_requests", {"ids": [request_id]})
        if not rows:
            raise Open311Error(404, f"service_request_id {request_id} not found")
        return _respond(fmt, 200, "service_requests", "request", rows)

    return _guard(fmt, work)


@route(
    "GET", f"{BASE}/tokens/<token_id>.<fmt>", summary="Open311: request id from a token", tags=TAGS
)
def token(ctx: RequestContext, token_id: str, fmt: str) -> Response:
    def work() -> Response:
        row = ctx.services.call("feedback", "open311_token", token_id)
        if row is None:
            raise Open311Error(404, f"token {token_id} not found")
        return _respond(fmt, 200, "service_requests", "request", [row])

    return _guard(fmt, work)
