"""The API as its clients read it (issue 13): every 405 carries Allow (RFC 9110), every 404 is
problem+json (also for paths no route could match), every status a route can answer with is in
/openapi.json: the statuses every route can give (the edge's 408, 413, …), those of its class,
and those its handler raises, found here by reading the handler's code."""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
from typing import Any

import requests

from services.gateway.http import ROUTES, RouteSpec, openapi_path
from shared.errors import LoaError
from tests.security._http import (
    Edge,
    edge_factory,  # noqa: F401 - the fixture
    raw_request,
)

EVERY_ROUTE = {400, 404, 405, 408, 413, 500, 503}
"""What the edge and the router can answer on any route."""


def _status_of(node: ast.AST, module: Any) -> set[int]:
    """Statuses an expression raises or returns: a LoaError subclass, a literal status."""
    found: set[int] = set()
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        cls = getattr(module, name, None) if name else None
        if inspect.isclass(cls) and issubclass(cls, LoaError):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, int):
                found.add(first.value)  # e.g. Open311Error(403, ...)
            else:
                found.add(cls.status)
    return found


def _literal_statuses(fn_node: ast.AST) -> set[int]:
    """`return 201, x`, `(200 if ok else 503)`, `_empty(409, ...)`, `Response(status=404)`."""
    found: set[int] = set()
    for node in ast.walk(fn_node):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            first = node.value.elts[0]
            options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            for opt in options:
                if isinstance(opt, ast.Constant) and isinstance(opt.value, int):
                    found.add(opt.value)
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("_empty", "json_response", "Response"):
                args = list(node.args) + [k.value for k in node.keywords if k.arg == "status"]
                for a in args:
                    if isinstance(a, ast.Constant) and isinstance(a.value, int) and a.value >= 200:
                        found.add(a.value)
    return found


def handler_statuses(spec: RouteSpec) -> set[int]:
    """Statuses a route's handler (and the functions of its module it calls) raise or return."""
    module = sys.modules[spec.handler.__module__]
    tree = ast.parse(inspect.getsource(module))
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    seen: set[str] = set()
    pending = [spec.handler.__name__]
    found: set[int] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        fn = functions[name]
        found |= _literal_statuses(fn)
        for node in ast.walk(fn):
            if isinstance(node, ast.Raise) and node.exc is not None:
                found |= _status_of(node.exc, module)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                pending.append(node.func.id)
            if isinstance(node, ast.Name) and node.id in functions:
                pending.append(node.id)  # a helper passed as a callback
    return {s for s in found if s >= 300}


def _openapi(edge: Edge) -> dict[str, Any]:
    doc = requests.get(f"{edge.base}/openapi.json", timeout=10)
    assert doc.status_code == 200
    return dict(doc.json())


def test_every_status_a_route_can_give_is_in_the_openapi_document(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False)
    paths = _openapi(edge)["paths"]
    missing = []
    for spec in ROUTES:
        op = paths[openapi_path(spec.path)][spec.method.lower()]
        documented = {int(code) for code in op["responses"]}
        expected = EVERY_ROUTE | handler_statuses(spec)
        if spec.method not in ("GET", "HEAD", "OPTIONS"):
            expected |= {409, 422}  # services answer a change with a conflict or bad input
        if op.get("security"):
            expected |= {401, 403}
        for code in sorted(expected - documented):
            missing.append(f"{spec.method} {spec.path}: {code}")
        for code, response in op["responses"].items():
            if int(code) >= 400:
                assert "application/problem+json" in response["content"], (spec.path, code)
    assert not missing, "undocumented statuses:\n" + "\n".join(missing)


def _allowed_by_table() -> dict[str, set[str]]:
    allowed: dict[str, set[str]] = {}
    for spec in ROUTES:
        allowed.setdefault(spec.path, set()).add(spec.method)
    return allowed


def _concrete(path: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", "x", path).replace("requests.x", "requests.json")


def test_every_405_names_the_allowed_methods(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False)
    for path, methods in _allowed_by_table().items():
        url = _concrete(path)
        for method in ("PROPFIND", "TRACE", *({"PUT", "DELETE", "PATCH"} - methods)):
            status, head, body = raw_request(edge, f"{method} {url} HTTP/1.1\nHost: loa")
            if status == 404:  # another rule of the table matched first: not this path's 405
                continue
            assert status == 405, (method, url, status, body[:200])
            assert head["content-type"].startswith("application/problem+json")
            listed = {m.strip() for m in head["allow"].split(",")}
            same = {m for p, ms in _allowed_by_table().items() if _concrete(p) == url for m in ms}
            assert methods <= listed <= same | {"HEAD", "OPTIONS"}, (url, listed)


ODD_PATHS = [
    "/nope",
    "//x",
    "/api//search",
    "/api/search/",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/api/%ZZ",
    "/api/search%00",
    "/%C3%A9t%C3%A9",
    "/static/../../etc/passwd",
    "/api/feedback/track/",
    "/" + "a/" * 300,
    "/?x=" + "y" * 100,
]


def test_unknown_and_odd_paths_are_404_problems(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False)
    for path in ODD_PATHS:
        status, head, body = raw_request(edge, f"GET {path} HTTP/1.1\nHost: loa")
        if path in ("/api/search/", "/?x=" + "y" * 100):
            continue  # real routes (strict slashes off; the portal): only not HTML
        assert status == 404, (path, status, body[:200])
        assert head["content-type"].startswith("application/problem+json"), (path, body[:200])
        problem = json.loads(body)
        assert problem["status"] == 404 and "<" not in problem["detail"]
    for method in ("GET", "POST", "DELETE"):
        status, head, _ = raw_request(edge, f"{method} //x HTTP/1.1\nHost: loa\nContent-Length: 0")
        assert status == 404 and head["content-type"].startswith("application/problem+json")


def test_a_malformed_request_line_is_a_problem_too(edge_factory) -> None:  # noqa: F811
    edge = edge_factory(search=False)
    status, head, body = raw_request(edge, "GET /livez HTTP/9.9\nHost: loa")
    assert 400 <= status < 600
    assert head["content-type"].startswith("application/problem+json"), body[:200]
    assert json.loads(body)["status"] == status
