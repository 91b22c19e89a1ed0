"""Turning requests into validated models, and models into responses.

Bad input gets a precise answer and changes nothing: 415 for a body that is not JSON,
400 for malformed JSON, 413 for a body over the limit (aiohttp enforces client_max_size),
422 naming the first offending field for everything pydantic refuses."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.errors import ApiError
from paywatch.core.metrics import HTTP_CLIENT_DISCONNECTS

log = logging.getLogger("paywatch.api.http")

M = TypeVar("M", bound=BaseModel)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# No request body of this API nests deeper than a handful of levels; 32 leaves room, and keeps
# every recursive walk of the value (NUL check, pydantic) far from Python's recursion limit.
MAX_JSON_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest, walked without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest


async def read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "send the body as JSON with Content-Type: application/json")
    raw = await read_body(request)
    try:
        # Numbers parse to Decimal so an amount like 19.99 stays exact; NaN/Infinity are refused.
        data = json.loads(raw or b"{}", parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # the parser itself gives up on thousands of nested brackets
        raise _too_deep() from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise _too_deep()
    return data


def _too_deep() -> ApiError:
    return ApiError(400, "invalid_json",
                    f"the body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")


async def read_body(request: web.Request) -> bytes:
    """The raw body. A client that hangs up while sending it (wrk does at the end of every
    run) is not our error: no traceback, a metric, and 499 (nginx's "client closed request")
    in the request metrics; nobody is left to read the answer."""
    try:
        return await request.read()
    except ConnectionError:
        HTTP_CLIENT_DISCONNECTS.inc()
        log.debug("client hung up while sending the body",
                  extra={"method": request.method, "path": request.path})
        raise ApiError(499, "client_closed_request",
                       "the connection closed before the body was complete",
                       type_="invalid_request_error") from None


def validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    code = {"extra_forbidden": "parameter_unknown", "missing": "parameter_missing"}.get(
        first["type"], "parameter_invalid")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown parameter {param!r}"
    elif first["type"] == "missing":
        message = f"missing required parameter {param!r}"
    elif param:
        message = f"{param}: {message}"
    others = len(exc.errors()) - 1
    if others:
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return ApiError(422, code, message, param=param)


async def parse_body(request: web.Request, model: type[M]) -> M:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def parse_query(request: web.Request, model: type[M], blank_is_missing: bool = False) -> M:
    """The query string as `model`. `blank_is_missing`: an empty value counts as not given
    (an HTML form's untouched filter sends `status=`; an API client means what it sends)."""
    params: dict[str, str] = {}
    for key in request.query:
        values = request.query.getall(key)
        if len(values) > 1:
            raise ApiError(422, "parameter_invalid", f"{key!r} given more than once", param=key)
        if not (blank_is_missing and not values[0].strip()):
            params[key] = values[0]
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise validation_error(exc) from None


def respond(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
            ) -> web.Response:
    return web.Response(text=model.model_dump_json(by_alias=True), status=status,
                        headers=headers, content_type="application/json")
