"""HTTP JSON-RPC 2.0: single and batch requests, parse errors, faults, and a control endpoint
(POST /_simnet/faults) so tests in another process can inject faults."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from simnet.faults import Faults
from simnet.methods import Methods, RpcError

log = logging.getLogger("simnet.rpc")

MAX_BODY = 50 * 1024  # agave's MAX_REQUEST_BODY_SIZE: larger bodies get HTTP 413

METHODS = web.AppKey("methods", Methods)
FAULTS = web.AppKey("faults", Faults)
CONTROL = web.AppKey("control", object)


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}


def handle_one(methods: Methods, request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" \
            or not isinstance(request.get("method"), str):
        rid = request.get("id") if isinstance(request, dict) else None
        return _error(-32600, "Invalid request", rid)
    rid = request.get("id")
    try:
        result = methods.call(request["method"], request.get("params"))
    except RpcError as exc:
        return {"jsonrpc": "2.0", "error": exc.json(), "id": rid}
    except Exception:  # a bug in simnet: answer like a node does, and say so in the log
        log.exception("internal error", extra={"method": request["method"]})
        return _error(-32603, "Internal error", rid)
    return {"jsonrpc": "2.0", "result": result, "id": rid}


async def _fault_response(kind: str, faults: Faults) -> web.Response:
    if kind == "http_429":
        return web.json_response(
            _error(429, "Too many requests for a specific RPC call, contact your app "
                        "developer or support@rpcpool.com."), status=429,
            headers={"Retry-After": "1"})
    if kind == "node_behind":
        body = _error(-32005, "Node is behind by 42 slots")
        body["error"]["data"] = {"numSlotsBehind": 42}
        return web.json_response(body)
    if kind == "timeout":
        await asyncio.sleep(faults.timeout_s)
        return web.json_response(_error(-32000, "request timed out"), status=504)
    return web.Response(text="<html><body>502 Bad Gateway</body></html>", status=200,
                        content_type="application/json")


async def rpc(request: web.Request) -> web.Response:
    fault = request.app[FAULTS].take()
    if fault is not None:
        return await _fault_response(fault, request.app[FAULTS])
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return web.json_response(_error(-32700, "Parse error"))
    methods = request.app[METHODS]
    if isinstance(body, list):
        if not body:
            return web.json_response(_error(-32600, "Invalid request"))
        return web.json_response([handle_one(methods, item) for item in body])
    return web.json_response(handle_one(methods, body))


async def control(request: web.Request) -> web.Response:
    """{"action": "fail_next", "count": 3, "kind": "http_429"} | {"action": "clear_faults"}
    | {"action": "drop", "signature": ...} | {"action": "close_websockets"}
    | {"action": "stall_finalization", "stalled": true} | {"action": "pause"}
    | {"action": "resume"} | {"action": "advance", "slots": 5} | {"action": "status"}"""
    try:
        body = await request.json()
        result = await request.app[CONTROL].control(body)  # type: ignore[attr-defined]
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"ok": False, "error": str(exc)}, status=400)
    return web.json_response({"ok": True, "result": result})


def build_rpc_app(methods: Methods, faults: Faults, controller: object) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[METHODS], app[FAULTS], app[CONTROL] = methods, faults, controller
    app.router.add_post("/", rpc)
    app.router.add_post("/_simnet/faults", control)  # the first name it had; kept
    app.router.add_post("/_simnet/control", control)
    return app
