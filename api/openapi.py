"""/openapi.json (OpenAPI 3.1) built from the same pydantic models that validate requests,
with the webhook payloads under the top-level `webhooks` map (api/models/events.py), and /docs,
the page a developer integrates from, rendered from that document on the server (api/docs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api import docs
from api.models.events import EVENT_MODELS, EVENT_SUMMARIES
from paywatch import __version__

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Reply:
    """An answer besides the success and the API's standard errors: a public route's own
    refusals (a plain-text 404, Solana Pay's `{"message"}` errors) or a second success."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    content_type: str = "application/json"


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
    description: str = ""
    replies: tuple[Reply, ...] = ()

    @property
    def api(self) -> bool:
        """Under /v1: the API's conventions (keys, Idempotency-Key, error object) apply."""
        return self.path.startswith("/v1/")


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
# What each path parameter names, shown on /docs (every route names its ids the same way).
_PATH_PARAMS = {
    "id": "the object's id (a UUID; a transfer's is a number)",
    "ref": "the object's id, or its slug (stores) or order number (orders)",
    "kind": "payments, transfers or refunds",
    "email": "the customer's email address",
}
_TEXT_SCHEMA: dict[str, Any] = {"type": "string"}


class SchemaRegistry:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        self.schemas.setdefault(model.__name__, schema)
        return {"$ref": REF.format(model=model.__name__)}

    def content(self, model: type[BaseModel] | None, content_type: str,
                status: int = 200) -> dict[str, Any]:
        if status == 204:
            return {}
        schema = _TEXT_SCHEMA if model is None else self.ref(model, "serialization")
        return {"content": {content_type: {"schema": schema}}}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params = [{"name": part[1:-1], "in": "path", "required": True,
               "description": _PATH_PARAMS.get(part[1:-1], ""), "schema": {"type": "string"}}
              for part in op.path.split("/") if part.startswith("{")]
    if op.query is not None:
        schema = op.query.model_json_schema(mode="validation")
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param = {"name": name, "in": "query", "required": name in required,
                     "schema": _inline(prop, schema.get("$defs", {}))}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    if op.method == "POST" and op.api:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "retrying with the same key and body replays the first "
                                      "answer; another body is a 409",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    return params


def _inline(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if ref else prop


def _standard_codes(op: Operation) -> set[int]:
    """The API's errors a /v1 route can answer, from what it takes."""
    codes = set(op.errors) | ({401, 403, 429} if op.scope else set())
    if op.scope:  # every authenticated route reads the database: 503 while it is unreachable
        codes.add(503)
    if op.method == "POST":  # the Idempotency-Key: malformed (400), reused elsewhere (409)
        codes |= {400, 409}
    if op.request is not None or op.query is not None:
        codes |= {400, 413, 415, 422} if op.request else {422}
    if "{" in op.path:
        codes.add(404)
    return codes


def _operation(op: Operation, registry: SchemaRegistry) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "operationId": operation_id(op),
                           "parameters": _parameters(op), "responses": {}}
    if op.scope:
        out["security"] = [{"bearer": []}]
        out["x-scope"] = op.scope
        out["description"] = f"Needs an API key with the `{op.scope}` scope."
    if op.description:
        out["description"] = (out.get("description", "") + " " + op.description).strip()
    if op.request is not None:
        out["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": registry.ref(op.request, "validation")}}}
    out["responses"][str(op.status)] = {"description": "Success",
                                        **registry.content(op.response, op.content_type,
                                                                         op.status)}
    for reply in op.replies:
        out["responses"][str(reply.status)] = {
            "description": reply.description,
            **registry.content(reply.model, reply.content_type)}
    for code in sorted(_standard_codes(op) if op.api else set(op.errors)):
        out["responses"].setdefault(str(code), {
            "description": _STANDARD_ERRORS.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}})
    out["responses"] = dict(sorted(out["responses"].items()))
    return out


def operation_id(op: Operation) -> str:
    """GET /v1/payments/{id} -> get_payments_id; GET /pay/{id}/qr.svg -> get_pay_id_qr_svg."""
    parts = op.path.split("/")[2:] if op.api else op.path.split("/")[1:]
    words = [w.strip("{}").replace(".", "_").replace("-", "_") for w in parts if w]
    return op.method.lower() + "_" + "_".join(words or ["root"])


_SIGNATURE_HEADERS = [
    {"name": "Paywatch-Signature", "in": "header", "required": True,
     "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of `<t>.<raw body>` with the "
                    "endpoint's secret>", "schema": {"type": "string"}},
    {"name": "Paywatch-Event-Id", "in": "header", "required": True,
     "description": "the event's id: dedupe on it (a delivery may come more than once)",
     "schema": {"type": "string"}},
]


def _webhooks(registry: SchemaRegistry) -> dict[str, Any]:
    """One entry per event type: what paywatch POSTs to a subscribed endpoint."""
    return {event_type: {"post": {
        "summary": EVENT_SUMMARIES[event_type],
        "operationId": "webhook_" + event_type.replace(".", "_"),
        "parameters": _SIGNATURE_HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": registry.ref(model, "serialization")}}},
        "responses": {"2XX": {"description": "Received. Anything else, or no answer within "
                                             "10 s, is retried with backoff for three days"}},
    }} for event_type, model in EVENT_MODELS.items()}


def build_document(operations: list[Operation]) -> dict[str, Any]:
    registry = SchemaRegistry()
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, registry)
    webhooks = _webhooks(registry)
    return {
        "openapi": "3.1.0",
        "info": {"title": "paywatch API", "version": __version__,
                 "description": "Payments, orders and quotes for a self-hosted, watch-only "
                                "crypto payment watcher. Amounts in base units are decimal "
                                "strings; fiat amounts are decimal strings with a currency."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "webhooks": webhooks,
        "components": {"schemas": registry.schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "Authorization: Bearer pw_live_..."}}},
    }


OPENAPI_DOC = web.AppKey("openapi_doc", dict)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_DOC])


def add_routes(app: web.Application, operations: list[Operation]) -> None:
    app[OPENAPI_DOC] = build_document(operations)
    app.router.add_get("/openapi.json", openapi_json)
    docs.add_routes(app, OPENAPI_DOC)
