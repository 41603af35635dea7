"""The API reference page: made from the same OpenAPI document as /openapi.json, so every route
is on it with its roles, parameters, schemas, examples and errors; public; no script."""

from __future__ import annotations

import html
import re

import requests

from services.gateway.http import ROUTES, openapi_path
from services.gateway.routes.docs import example_of
from tests.gateway.test_auth import Gw, gw  # noqa: F401 - the fixture


def test_reference_lists_every_operation(gw: Gw) -> None:  # noqa: F811
    resp = requests.get(f"{gw.base}/docs/api")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'self'
    page = resp.text
    assert "<script>" not in page  # only script files, and this page needs none
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page)  # nothing from elsewhere
    doc = requests.get(f"{gw.base}/openapi.json").json()
    ops = re.findall(
        r'<article class="op" id="[^"]+" data-method="(\w+)" data-path="([^"]+)"', page
    )
    listed = {(m, html.unescape(p)) for m, p in ops}
    expected = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert listed == expected
    assert {(s.method, openapi_path(s.path)) for s in ROUTES} == expected

    create = page.split('data-method="POST" data-path="/api/admin/users"', 1)[1]
    create = create.split("</article>", 1)[0]
    assert "Vai trò: admin" in create  # roles
    assert "<code>username</code>" in create and "<code>role</code>" in create  # request fields
    assert "tong.dai.1" in create  # the schema's own example
    assert "409" in create and "Username taken" in create  # errors
    assert "401" in create and "403" in create
    track = page.split('data-path="/api/feedback/track/{code}"', 1)[1].split("</article>", 1)[0]
    assert "Công khai" in track and "<code>code</code>" in track  # public, path parameter
    assert 'id="schema-Problem"' in page and 'href="#schema-UserOut"' in page


def test_reference_in_english_and_escaped(gw: Gw) -> None:  # noqa: F811
    page = requests.get(f"{gw.base}/docs/api?lang=en").text
    assert "API reference" in page and "Request body" in page
    # descriptions are text, never markup: a "<" in a docstring arrives escaped
    assert "<YYYY" not in page


def test_examples_follow_the_schema() -> None:
    components = {
        "A": {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 1},
                "when": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "b": {"$ref": "#/components/schemas/B"},
                "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
            },
        },
        "B": {"type": "string", "enum": ["x", "y"]},
    }
    value = example_of({"$ref": "#/components/schemas/A"}, components)
    assert value == {
        "n": 1,
        "when": "2026-03-02T07:30:00+07:00",
        "tags": ["string"],
        "b": "x",
        "maybe": False,
    }
    loop = {"L": {"type": "object", "properties": {"me": {"$ref": "#/components/schemas/L"}}}}
    assert example_of({"$ref": "#/components/schemas/L"}, loop) is not None  # depth-limited
