"""The API reference for people: one HTML page made on the server from the same OpenAPI document
as /openapi.json (itself made from the route table), so the two never disagree.

Every operation shows its method and path, summary and description, who may call it (roles and
security schemes), its parameters, request and response schemas as field tables with an example
made from the schema, and its error responses (RFC 9457 problem details). No script, no CDN.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from werkzeug.wrappers import Response

from services.gateway.console.pages import _signed_in, render
from services.gateway.http import ROUTES, RequestContext, route
from services.gateway.openapi import build_openapi

API_VERSION = "0.1.0"
METHOD_ORDER = ("get", "post", "put", "patch", "delete", "head", "options")


@dataclass
class Field_:
    name: str
    type: str
    required: bool
    description: str
    ref: str | None = None


@dataclass
class Schema:
    name: str | None
    """The component's name when the schema is a $ref (linked to its section)."""
    fields: list[Field_]
    example: str
    text: str
    """A short type for schemas without fields (a list, a string, any JSON)."""


@dataclass
class ResponseDoc:
    code: str
    description: str
    content_type: str
    schema: Schema | None
    error: bool


@dataclass
class Operation:
    id: str
    method: str
    path: str
    summary: str
    description: str
    roles: list[str]
    public: bool
    parameters: list[dict[str, Any]]
    request_type: str | None
    request: Schema | None
    responses: list[ResponseDoc]
    tags: list[str] = field(default_factory=list)


@dataclass
class Component:
    name: str
    description: str
    schema: Schema


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> tuple[str | None, dict]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        return name, components.get(name, {})
    return None, schema


def type_text(schema: dict[str, Any], components: dict[str, Any]) -> tuple[str, str | None]:
    """A short type for a table cell, and the component it names (for a link)."""
    name, resolved = _resolve(schema, components)
    if name:
        return name, name
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [type_text(s, components) for s in schema[key]]
            ref = next((r for _, r in parts if r), None)
            return " | ".join(p for p, _ in parts), ref
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"]), None
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False), None
    kind = schema.get("type")
    if kind == "array":
        inner, ref = type_text(schema.get("items", {}), components)
        return f"array of {inner}", ref
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind), None
    if kind == "object" and "additionalProperties" in schema and not schema.get("properties"):
        extra = schema["additionalProperties"]
        if isinstance(extra, dict) and extra:
            inner, ref = type_text(extra, components)
            return f"object of {inner}", ref
        return "object", None
    if kind:
        fmt = schema.get("format")
        return f"{kind} ({fmt})" if fmt else str(kind), None
    return "any", None


def _constraints(schema: dict[str, Any]) -> str:
    notes = []
    for key, label in (
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("exclusiveMinimum", ">"),
        ("exclusiveMaximum", "<"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("pattern", "pattern"),
    ):
        if key in schema:
            notes.append(f"{label} {schema[key]}")
    if schema.get("default") not in (None, "", [], {}):
        notes.append(f"default {json.dumps(schema['default'], ensure_ascii=False)}")
    return "; ".join(notes)


def example_of(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for a schema: its own examples first, then by type."""
    if depth > 6:
        return None
    _, s = _resolve(schema, components)
    if s.get("examples"):
        return s["examples"][0]
    if "example" in s:
        return s["example"]
    if s.get("default") is not None:
        return s["default"]
    if "const" in s:
        return s["const"]
    if s.get("enum"):
        return s["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in s:
            options = [o for o in s[key] if o.get("type") != "null"] or s[key]
            return example_of(options[0], components, depth + 1)
    if "allOf" in s and s["allOf"]:
        return example_of(s["allOf"][0], components, depth + 1)
    kind = s.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in s:
        return {
            name: example_of(prop, components, depth + 1)
            for name, prop in (s.get("properties") or {}).items()
        }
    if kind == "array":
        return [example_of(s.get("items", {}), components, depth + 1)]
    if kind == "string":
        return {
            "date-time": "2026-03-02T07:30:00+07:00",
            "date": "2026-03-02",
            "uri": "https://example.gov.vn/",
            "email": "can.bo@example.gov.vn",
            "uuid": "0190f5c2-7b1e-7cc0-9a55-3f1d2e4b5a6c",
        }.get(s.get("format", ""), "string")
    if kind == "integer":
        return int(s.get("minimum", 0))
    if kind == "number":
        return float(s.get("minimum", 0))
    if kind == "boolean":
        return False
    return None


def describe_schema(schema: dict[str, Any], components: dict[str, Any]) -> Schema:
    name, s = _resolve(schema, components)
    required = set(s.get("required") or [])
    fields = []
    for prop, sub in (s.get("properties") or {}).items():
        text, ref = type_text(sub, components)
        _, sub_resolved = _resolve(sub, components)
        description = sub.get("description") or sub.get("title") or ""
        if not description and ref is None:
            description = sub_resolved.get("description", "")
        notes = _constraints(sub)
        if notes:
            description = f"{description} ({notes})" if description else notes
        fields.append(Field_(prop, text, prop in required, description, ref))
    text, _ = type_text(schema, components) if not fields else ("object", None)
    example = example_of(schema, components)
    rendered = "" if example is None else json.dumps(example, ensure_ascii=False, indent=2)
    return Schema(name, fields, rendered, text)


def operations(doc: dict[str, Any]) -> dict[str, list[Operation]]:
    """Operations grouped by their first tag, paths in order, methods in the usual order."""
    components = doc["components"]["schemas"]
    groups: dict[str, list[Operation]] = {}
    for path in sorted(doc["paths"]):
        ops = doc["paths"][path]
        for method in sorted(ops, key=lambda m: METHOD_ORDER.index(m)):
            op = ops[method]
            request_type = None
            request = None
            body = op.get("requestBody")
            if body:
                request_type, content = next(iter(body["content"].items()))
                if content.get("schema"):
                    request = describe_schema(content["schema"], components)
            responses = []
            for code, resp in op["responses"].items():
                ctype, content = next(iter((resp.get("content") or {"": {}}).items()))
                schema = content.get("schema") if isinstance(content, dict) else None
                described = describe_schema(schema, components) if schema else None
                error = code.isdigit() and int(code) >= 400
                if error:  # every error is the same Problem shape: linked, not repeated
                    described = Schema("Problem", [], "", "Problem")
                responses.append(ResponseDoc(code, resp["description"], ctype, described, error))
            tag = (op.get("tags") or ["other"])[0]
            groups.setdefault(tag, []).append(
                Operation(
                    id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    roles=op.get("x-roles", []),
                    public=op.get("security") == [],
                    parameters=op.get("parameters", []),
                    request_type=request_type,
                    request=request,
                    responses=responses,
                    tags=op.get("tags", []),
                )
            )
    return dict(sorted(groups.items()))


def component_list(doc: dict[str, Any]) -> list[Component]:
    components = doc["components"]["schemas"]
    out = []
    for name in sorted(components):
        schema = components[name]
        out.append(
            Component(
                name,
                schema.get("description", ""),
                describe_schema(schema, components),
            )
        )
    return out


@lru_cache(maxsize=4)
def _model(public_url: str) -> tuple[dict[str, Any], dict[str, list[Operation]], list[Component]]:
    doc = build_openapi(ROUTES, API_VERSION, public_url)
    return doc, operations(doc), component_list(doc)


@route(
    "GET",
    "/docs/api",
    summary="API reference: every route, who may call it, its schemas, examples and errors",
    tags=["docs"],
    response_content_type="text/html",
    roles=(),
)
def api_reference(ctx: RequestContext) -> Response:
    """The same document as /openapi.json, as a page for people (server-rendered, no script)."""
    doc, groups, components = _model(ctx.settings.public_url)
    cred, _ = _signed_in(ctx)
    return render(
        ctx,
        "api_docs.html",
        "api",
        cred,
        doc=doc,
        groups=groups,
        components=components,
        schemes=doc["components"]["securitySchemes"],
        count=sum(len(v) for v in groups.values()),
    )
