"""/healthz (the process is alive), /readyz (database reachable, migrations current), /metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.keys import DB_POOL, MIGRATIONS
from db.migrator import Migrator
from paywatch.metrics import READY

READY_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        ok, reason = await asyncio.wait_for(_check(request), READY_TIMEOUT_S)
    except (TimeoutError, OSError, Exception) as exc:
        ok, reason = False, f"database unreachable: {type(exc).__name__}: {exc}".strip()
    READY.set(1 if ok else 0)
    status = 200 if ok else 503
    return web.json_response({"status": "ready" if ok else "unavailable", "reason": reason},
                             status=status)


async def _check(request: web.Request) -> tuple[bool, str]:
    async with request.app[DB_POOL].acquire() as conn:
        return await Migrator(conn, request.app[MIGRATIONS]).is_current()


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
