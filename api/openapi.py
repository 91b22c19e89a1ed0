"""/openapi.json (OpenAPI 3.1) built from the same pydantic models that validate requests, and
/docs, a page rendered from that document on the server: no CDN, no JavaScript."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from paywatch import __version__

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    response: type[BaseModel] | None
    status: int = 200
    scope: str | None = None
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    content_type: str = "application/json"
    errors: tuple[int, ...] = ()


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["type", "code", "message", "param"],
        "properties": {
            "type": {"type": "string"}, "code": {"type": "string"},
            "message": {"type": "string"}, "param": {"type": ["string", "null"]},
        },
    }},
}
_STANDARD_ERRORS = {
    400: "Malformed request (invalid or too deeply nested JSON, bad Idempotency-Key)",
    401: "Missing or invalid API key", 403: "The key lacks a scope", 404: "No such object",
    409: "Conflict with the object's state, or an Idempotency-Key reused with another body",
    413: "Body too large", 415: "Body is not JSON", 422: "A parameter is invalid",
    429: "Rate limited; see Retry-After",
    503: "A dependency (database, prices) is unavailable; see Retry-After",
}


class SchemaRegistry:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        self.schemas.setdefault(model.__name__, schema)
        return {"$ref": REF.format(model=model.__name__)}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [{"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
              for part in op.path.split("/") if part.startswith("{")]
    if op.query is not None:
        schema = op.query.model_json_schema(mode="validation")
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required,
                           "schema": _inline(prop, schema.get("$defs", {}))})
    if op.method == "POST":
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    return params


def _inline(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if ref else prop


def _operation(op: Operation, registry: SchemaRegistry) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op),
                           "parameters": _parameters(op), "responses": {}}
    if op.scope:
        out["security"] = [{"bearer": []}]
        out["description"] = f"Needs an API key with the `{op.scope}` scope."
    if op.request is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": registry.ref(op.request, "validation")}}}
    if op.response is None:
        body = {"content": {op.content_type: {"schema": {"type": "string"}}}}
    else:
        body = {"content": {op.content_type: {"schema": registry.ref(op.response,
                                                                     "serialization")}}}
    out["responses"][str(op.status)] = {"description": "Success", **body}
    codes = set(op.errors) | ({401, 403, 429} if op.scope else set())
    if op.scope:  # every authenticated route reads the database: 503 while it is unreachable
        codes.add(503)
    if op.method == "POST":  # the Idempotency-Key: malformed (400), reused elsewhere (409)
        codes |= {400, 409}
    if op.request is not None or op.query is not None:
        codes |= {400, 413, 415, 422} if op.request else {422}
    if "{" in op.path:
        codes.add(404)
    for code in sorted(codes):
        out["responses"][str(code)] = {"description": _STANDARD_ERRORS.get(code, "Error"),
                                       "content": {"application/json": {
                                           "schema": {"$ref": REF.format(model="Error")}}}}
    return out


def _operation_id(op: Operation) -> str:
    words = [w.strip("{}").replace(".", "_") for w in op.path.split("/")[2:] if w]
    return op.method.lower() + "_" + "_".join(words or ["root"])


def build_document(operations: list[Operation]) -> dict[str, Any]:
    registry = SchemaRegistry()
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, registry)
    return {
        "openapi": "3.1.0",
        "info": {"title": "paywatch API", "version": __version__,
                 "description": "Payments, orders and quotes for a self-hosted, watch-only "
                                "crypto payment watcher. Amounts in base units are decimal "
                                "strings; fiat amounts are decimal strings with a currency."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": registry.schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "Authorization: Bearer pw_live_..."}}},
    }


def render_docs(doc: dict[str, Any]) -> str:
    rows = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            params = ", ".join(f"<code>{html.escape(p['name'])}</code>"
                               for p in op.get("parameters", []))
            codes = " ".join(op["responses"])
            rows.append(
                f"<tr><td><b>{method.upper()}</b></td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op['summary'])}<br>"
                f"<small>{html.escape(op.get('description', ''))}</small></td>"
                f"<td>{params}</td><td>{codes}</td></tr>")
    return _DOCS_PAGE.format(version=html.escape(doc["info"]["version"]), rows="\n".join(rows))


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>paywatch API {version}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 75rem; margin: 2rem auto;
        padding: 0 1rem; color: #111; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left;
          vertical-align: top; }}
code {{ background: #f3f3f3; padding: 0 .2rem; }}
</style></head><body>
<h1>paywatch API <small>{version}</small></h1>
<p>Send <code>Authorization: Bearer pw_live_...</code> on every <code>/v1</code> request, and an
<code>Idempotency-Key</code> on every POST you may retry. Errors look like
<code>{{"error": {{"type", "code", "message", "param"}}}}</code>. The machine-readable document
is <a href="/openapi.json">/openapi.json</a>.</p>
<table><thead><tr><th>method</th><th>path</th><th>what it does</th><th>parameters</th>
<th>statuses</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>
"""


OPENAPI_DOC = web.AppKey("openapi_doc", dict)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_DOC])


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=render_docs(request.app[OPENAPI_DOC]), content_type="text/html")


def add_routes(app: web.Application, operations: list[Operation]) -> None:
    app[OPENAPI_DOC] = build_document(operations)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs)
