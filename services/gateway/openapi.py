"""The OpenAPI 3.1 document, made from the same route table that dispatches requests."""

from __future__ import annotations

import re
from typing import Any

from services.gateway.auth.policy import PUBLIC, access_for, describe
from services.gateway.http import RouteSpec, openapi_path

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
    500: "Internal error",
    503: "A service or backing server is unavailable",
}


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
            **auth_errors,
            **{c: d for c, d in spec.responses.items() if c >= 400},
        }
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


def _hoist_defs(components: dict[str, Any], name: str) -> None:
    defs = components[name].pop("$defs", {})
    for k, v in defs.items():
        components.setdefault(k, v)
