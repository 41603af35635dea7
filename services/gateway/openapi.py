"""The OpenAPI 3.1 document, made from the same route table that dispatches requests."""

from __future__ import annotations

import ast
import inspect
import re
import sys
from functools import cache
from http import HTTPStatus
from typing import Any

from services.gateway.auth.policy import PUBLIC, access_for, describe
from services.gateway.http import RouteSpec, body_class, openapi_path
from shared.errors import LoaError

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "loa_session",
        "description": "Console session from POST /api/auth/login; unsafe methods also need the "
        "header X-CSRF-Token with the csrf_token the login returned",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "API token for integrations (POST /api/auth/tokens); no CSRF header",
    },
}
_AUTH_ERRORS = {401: "Not signed in, or the session/token is no longer valid", 403: "Role"}

_DEFAULT_ERRORS = {
    400: "Malformed request",
    404: "Not found",
    405: "Method not allowed",
    422: "Invalid input (each field named)",
    408: "The request or its body arrived too slowly (LOA_HTTP_*_TIMEOUT_S)",
    413: "The body is larger than this route takes",
    500: "Internal error",
    503: "A service or backing server is unavailable, or the gateway is busy (Retry-After)",
}
_BODY_ERRORS = {
    409: "Conflicts with the current state",
    415: "Unsupported Content-Type",
}
"""What any route that takes a body can answer (the services check each change)."""


def build_openapi(routes: list[RouteSpec], version: str, server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    for spec in routes:
        op: dict[str, Any] = {
            "summary": spec.summary,
            "operationId": re.sub(r"\W+", "_", f"{spec.method.lower()}_{spec.path}").strip("_"),
            "tags": spec.tags,
            "responses": {},
        }
        if spec.description:
            op["description"] = spec.description
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"<(?:\w+:)?(\w+)>", spec.path)
        ]
        params += [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": desc,
            }
            for name, desc in spec.query.items()
        ]
        if params:
            op["parameters"] = params
        if spec.request_model is not None:
            name = spec.request_model.__name__
            components[name] = spec.request_model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            _hoist_defs(components, name)
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            }
        elif spec.request_content_type:
            op["requestBody"] = {"content": {spec.request_content_type: {"schema": {}}}}
        ok = next((c for c in spec.responses if c < 400), 200)
        content: dict[str, Any]
        if spec.response_model is not None:
            name = spec.response_model.__name__
            components[name] = spec.response_model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            _hoist_defs(components, name)
            content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        else:
            content = {spec.response_content_type: {"schema": {}}}
        op["responses"][str(ok)] = {"description": spec.responses.get(ok, "OK"), "content": content}
        allowed = access_for(spec)
        op["security"] = [] if allowed == PUBLIC else [{"session": []}, {"bearer": []}]
        op["x-roles"] = sorted(allowed)
        auth_errors: dict[int, str] = {}
        if allowed != PUBLIC:
            auth_errors = {**_AUTH_ERRORS, 403: f"Forbidden: needs one of {describe(allowed)}"}
            roles_note = f"Roles: {describe(allowed)}."
            op["description"] = f"{op.get('description', '')}\n\n{roles_note}".strip()
        errors = {
            **_DEFAULT_ERRORS,
            **(_BODY_ERRORS if body_class(spec) not in ("none", "upload") else {}),
            **({409: _BODY_ERRORS[409]} if body_class(spec) == "upload" else {}),
            **auth_errors,
            **{c: d for c, d in handler_statuses(spec.handler).items() if c >= 400},
            **{c: d for c, d in spec.responses.items() if c >= 400},
        }
        for code, desc in handler_statuses(spec.handler).items():
            if 300 <= code < 400 and str(code) not in op["responses"]:
                op["responses"][str(code)] = {"description": desc}
        for code, desc in sorted(errors.items()):
            op["responses"][str(code)] = {
                "description": desc,
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        paths.setdefault(openapi_path(spec.path), {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "loa API",
            "version": version,
            "description": "Nền tảng nội dung và phản ánh – Trung tâm Hành chính công "
            "/ content and feedback platform of the Public Administration Center",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


@cache
def handler_statuses(handler: Any) -> dict[int, str]:
    """The statuses a handler's code gives: LoaError classes it (or a function of its module
    that it calls) raises, and literal statuses it returns (`return 201, x`, `_empty(204)`,
    `Response(status=303)`), so that the document lists what a route really answers."""
    module = sys.modules.get(handler.__module__)
    try:
        tree = ast.parse(inspect.getsource(module)) if module else None
    except (OSError, TypeError):
        tree = None
    if tree is None:
        return {}
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    found: dict[int, str] = {}
    seen: set[str] = set()
    pending = [handler.__name__]
    while pending:
        name = pending.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Name) and node.id in functions:
                pending.append(node.id)
            for code, desc in _statuses_of(node, module).items():
                found.setdefault(code, desc)
    return {c: d for c, d in found.items() if c >= 300}


def _int(node: Any) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and 100 <= node.value < 600:
        return node.value
    return None


def _statuses_of(node: ast.AST, module: Any) -> dict[int, str]:
    found: dict[int, str] = {}
    if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
        func = node.exc.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        cls = getattr(module, name, None)
        if inspect.isclass(cls) and issubclass(cls, LoaError):
            code = _int(node.exc.args[0]) if node.exc.args else None
            found[code or cls.status] = cls.title if code is None else _phrase(code)
    elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and node.value.elts:
        first = node.value.elts[0]
        for option in [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]:
            if (code := _int(option)) is not None:
                found[code] = _phrase(code)
    elif isinstance(node, ast.Call):
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in ("_empty", "json_response", "Response"):
            for arg in [*node.args, *(k.value for k in node.keywords if k.arg == "status")]:
                if (code := _int(arg)) is not None and code >= 200:
                    found[code] = _phrase(code)
    return found


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return f"Status {code}"


def _hoist_defs(components: dict[str, Any], name: str) -> None:
    defs = components[name].pop("$defs", {})
    for k, v in defs.items():
        components.setdefault(k, v)
