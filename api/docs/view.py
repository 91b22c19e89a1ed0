"""The OpenAPI document turned into what /docs shows: routes grouped for the index, each with
its parameters, request and response fields (nested objects as children), statuses, scope and
recorded example; and the webhook events likewise. Pure functions of the document and the
examples file, so a test can check the page against both."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

BASE_URL = "http://localhost:8080"   # the default PAYWATCH_API_PORT on this machine
KEY_PLACEHOLDER = "pw_live_..."
# How deep named schemas (components) are expanded in place; deeper ones link to their entry
# under "Schemas", described once there (expanding Payment in every answer made a 700 kB page).
EXPAND_REQUEST, EXPAND_EVENT, EXPAND_RESPONSE = 3, 1, 0


@dataclass
class Field:
    name: str
    type: str
    required: bool
    notes: str
    children: list[Field] = field(default_factory=list)
    ref: str | None = None   # the named schema its type links to


@dataclass
class Response:
    status: str
    description: str
    content_type: str | None
    schema_name: str | None
    fields: list[Field]


@dataclass
class Example:
    curl: str
    request_body: str | None
    status: int
    response: str


@dataclass
class Route:
    id: str
    method: str
    path: str
    summary: str
    description: str
    scope: str | None
    parameters: list[Field]
    body_name: str | None
    body: list[Field]
    responses: list[Response]
    example: Example | None


@dataclass
class Group:
    id: str
    title: str
    routes: list[Route]


@dataclass
class Schema:
    id: str
    name: str
    description: str
    fields: list[Field]


@dataclass
class Event:
    id: str
    type: str
    summary: str
    schema_name: str
    fields: list[Field]
    example: str | None


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    ref = schema.get("$ref")
    if not ref:
        return None, schema
    name = ref.rsplit("/", 1)[-1]
    return name, doc["components"]["schemas"][name]


def type_name(schema: dict[str, Any], doc: dict[str, Any]) -> str:
    """A short human name: string, integer, Payment, array of Transfer, string | null..."""
    name, target = _resolve(schema, doc)
    if name:
        return name
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in target:
            return " | ".join(type_name(s, doc) for s in target[combo])
    if "const" in target:
        return json.dumps(target["const"])
    if "enum" in target:
        return " | ".join(json.dumps(v) for v in target["enum"])
    kind = target.get("type", "any")
    if kind == "array":
        return f"array of {type_name(target.get('items', {}), doc)}"
    if kind == "object" and "additionalProperties" in target and not target.get("properties"):
        extra = target["additionalProperties"]
        return f"map of {type_name(extra, doc)}" if isinstance(extra, dict) else "object"
    return " | ".join(kind) if isinstance(kind, list) else str(kind)


_CONSTRAINTS = (("minLength", "at least {} characters"), ("maxLength", "at most {} characters"),
                ("minimum", "at least {}"), ("maximum", "at most {}"),
                ("exclusiveMinimum", "over {}"), ("minItems", "at least {} items"),
                ("maxItems", "at most {} items"), ("maxProperties", "at most {} keys"),
                ("pattern", "matches {}"), ("format", "format {}"))


def notes(schema: dict[str, Any], doc: dict[str, Any]) -> str:
    """The description, then the constraints a value must meet, then the default."""
    _name, target = _resolve(schema, doc)
    parts = [schema.get("description") or target.get("description") or ""]
    for option in [schema, *target.get("anyOf", [])]:
        for key, text in _CONSTRAINTS:
            if key in option:
                parts.append(text.format(option[key]))
    if "default" in schema and schema["default"] not in (None, [], {}):
        parts.append(f"default {json.dumps(schema['default'])}")
    return "; ".join(p for p in parts if p)


def _object_of(schema: dict[str, Any], doc: dict[str, Any], expand: int,
               ) -> tuple[str | None, dict[str, Any] | None]:
    """The object schema a field holds (itself, its array's items, or its non-null option),
    and the name it has when it is a component; None when it has no fields to show, or is a
    component that is not to be expanded here."""
    name, target = _resolve(schema, doc)
    if name is not None and expand < 0:
        return name, None
    if target.get("type") == "array":
        return _object_of(target.get("items", {}), doc, expand - (name is not None))
    for option in target.get("anyOf", []):
        found = _object_of(option, doc, expand - (name is not None))
        if found != (None, None):
            return found
    return name, target if target.get("properties") else None


def fields(schema: dict[str, Any], doc: dict[str, Any], expand: int = 0) -> list[Field]:
    """The fields of `schema`'s object; nested objects as children, and named ones (components)
    expanded `expand` levels deep, then linked by name."""
    _name, target = _object_of(schema, doc, expand + 1)
    if target is None:
        return []
    required = set(target.get("required", []))
    out = []
    for name, prop in target.get("properties", {}).items():
        ref, _obj = _object_of(prop, doc, -1)
        children = fields(prop, doc, expand - 1) if ref is None or expand > 0 else []
        out.append(Field(name, type_name(prop, doc), name in required, notes(prop, doc),
                         children, ref))
    return out


def _parameter(param: dict[str, Any], doc: dict[str, Any]) -> Field:
    schema = param.get("schema", {})
    note = "; ".join(p for p in (param.get("description", ""), notes(schema, doc)) if p)
    return Field(param["name"], f"{param['in']}: {type_name(schema, doc)}",
                 bool(param.get("required")), note)


def _responses(op: dict[str, Any], doc: dict[str, Any]) -> list[Response]:
    out = []
    for status, resp in op["responses"].items():
        content: dict[str, Any] = resp.get("content", {})
        content_type = next(iter(content), None)
        schema = {} if content_type is None else content[content_type].get("schema", {})
        name, _target = _resolve(schema, doc)
        out.append(Response(status, resp["description"], content_type, name,
                            [] if name == "Error" else fields(schema, doc,
                                                              EXPAND_RESPONSE)))
    return out


def _body(op: dict[str, Any], doc: dict[str, Any]) -> tuple[str | None, list[Field]]:
    media = op.get("requestBody", {}).get("content", {}).get("application/json")
    if media is None:
        return None, []
    name, _target = _resolve(media["schema"], doc)
    return name, fields(media["schema"], doc, EXPAND_REQUEST)


def curl(example: dict[str, Any]) -> str:
    """The recorded request as a command to paste, one option a line (the key a placeholder)."""
    method = "" if example["method"] == "GET" else f" -X {example['method']}"
    lines = [f"curl -i{method} {shlex.quote(BASE_URL + example['url'])}"]
    headers = dict(example.get("headers", {}))
    if example.get("auth"):
        headers = {"Authorization": f"Bearer {KEY_PLACEHOLDER}", **headers}
    if example.get("body") is not None:
        headers["Content-Type"] = "application/json"
    lines += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items()]
    if example.get("body") is not None:
        body = json.dumps(example["body"], separators=(",", ":"), ensure_ascii=False)
        lines.append(f"-d {shlex.quote(body)}")
    return " \\\n  ".join(lines)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def example_of(recorded: dict[str, Any] | None) -> Example | None:
    if recorded is None:
        return None
    body = recorded.get("body")
    response = (_pretty(recorded["response"]) if "response" in recorded
                else recorded.get("response_text", ""))
    return Example(curl(recorded), None if body is None else _pretty(body), recorded["status"],
                   response)


def _own_words(op: dict[str, Any]) -> str:
    """The description less its scope sentence: the page shows the scope on a line of its own."""
    said = f"Needs an API key with the `{op.get('x-scope')}` scope."
    return str(op.get("description", "")).replace(said, "").strip()


def group_of(path: str) -> tuple[str, str]:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "v1":
        name = parts[1]
        return f"group-{name}", name.replace("_", " ").capitalize()
    if parts and parts[0] == "pay":
        return "group-checkout", "Checkout (public, no key)"
    return "group-operations", "Operations (health, readiness, metrics)"


def routes(doc: dict[str, Any], examples: dict[str, Any]) -> list[Group]:
    groups: dict[str, Group] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body_name, body = _body(op, doc)
            route = Route(
                id=op["operationId"], method=method.upper(), path=path,
                summary=op["summary"], description=_own_words(op),
                scope=op.get("x-scope"),
                parameters=[_parameter(p, doc) for p in op.get("parameters", [])],
                body_name=body_name, body=body, responses=_responses(op, doc),
                example=example_of(examples.get(op["operationId"])))
            gid, title = group_of(path)
            groups.setdefault(gid, Group(gid, title, [])).routes.append(route)
    return list(groups.values())


def events(doc: dict[str, Any], examples: dict[str, Any]) -> list[Event]:
    out = []
    for event_type, item in doc.get("webhooks", {}).items():
        post = item["post"]
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        name, _target = _resolve(schema, doc)
        recorded = examples.get(event_type)
        example = None if recorded is None else _pretty(recorded)
        out.append(Event("event-" + event_type.replace(".", "-").replace("_", "-"),
                         event_type, post["summary"], name or event_type,
                         fields(schema, doc, EXPAND_EVENT), example))
    return out


def schemas(doc: dict[str, Any]) -> list[Schema]:
    """Every named schema once, its fields linking to the others."""
    return [Schema("schema-" + name, name, schema.get("description", ""),
                   fields({"$ref": f"#/components/schemas/{name}"}, doc))
            for name, schema in sorted(doc["components"]["schemas"].items())]
