"""/healthz (the process is alive), /readyz (database reachable, migrations current, every
watched chain healthy), /metrics.

Which chains are watched comes from the chain registry, built from the settings every process
of a deployment shares (each chain's `watch`), not from whether this
process runs a watcher: an `--role api` process is ready only when the watchers elsewhere
report their chains. A deployment that watches no chain is ready on the database alone."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import Field

from api.keys import CHAINS, DB_POOL, MIGRATIONS
from api.models.common import ResponseModel
from api.openapi import Operation, Reply
from db import chain_health
from db.migrator import Migrator
from paywatch.core.metrics import READY

READY_TIMEOUT_S = 2.0
# A chain whose leading watcher has not stamped its health for this long is unhealthy (the
# watcher stamps every 5 s; this leaves room for a leader hand-over and a slow RPC).
CHAIN_STALE_S = 60.0

ChainReport = dict[str, object]


# The answers' shapes, for the OpenAPI document (the handlers build the same dicts).
class Health(ResponseModel):
    status: str = Field(description="always \"ok\": the process answers")


class ChainHealth(ResponseModel):
    healthy: bool
    height: int | None = Field(description="the chain's last height (slot or block) read")
    age_seconds: float | None = Field(description="since the watcher last read it")
    reason: str


class Readiness(ResponseModel):
    status: str = Field(description="ready, or unavailable")
    reason: str = Field(description="ok, or what is wrong")
    chains: dict[str, ChainHealth] = Field(description="each watched chain, by name")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    chains: dict[str, ChainReport] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):  # not wait_for: see db/listen.py
            ok, reason, chains = await _check(request)
    except (TimeoutError, OSError, Exception) as exc:
        ok, reason = False, f"database unreachable: {type(exc).__name__}: {exc}".strip()
    READY.set(1 if ok else 0)
    status = 200 if ok else 503
    return web.json_response({"status": "ready" if ok else "unavailable", "reason": reason,
                              "chains": chains}, status=status)


async def _check(request: web.Request) -> tuple[bool, str, dict[str, ChainReport]]:
    async with request.app[DB_POOL].acquire() as conn:
        ok, reason = await Migrator(conn, request.app[MIGRATIONS]).is_current()
        if not ok:
            return ok, reason, {}
        watched = request.app[CHAINS].watched()
        rows = await chain_health.health_of(conn, watched, CHAIN_STALE_S) if watched else {}
    chains = {name: _report(rows.get(name)) for name in watched}
    down = [f"{name}: {report['reason']}" for name, report in chains.items()
            if not report["healthy"]]
    if down:
        return False, "unhealthy chains: " + "; ".join(down), chains
    return True, "ok", chains


def _report(row: asyncpg.Record | None) -> ChainReport:
    if row is None:
        return {"healthy": False, "height": None, "age_seconds": None,
                "reason": "its watcher has not reported yet"}
    age = round(row["age_s"], 1)
    healthy = bool(row["healthy"])
    return {"healthy": healthy, "height": row["height"], "age_seconds": age,
            "reason": "ok" if healthy else f"no successful read for {age:.0f} s "
                      f"(over {CHAIN_STALE_S:.0f} s)"}


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


OPERATIONS = [
    Operation("GET", "/healthz", "Liveness: the process answers (no database read)", Health),
    Operation("GET", "/readyz", "Readiness: database reachable, migrations current, every "
              "watched chain's watcher reporting", Readiness,
              replies=(Reply(503, "Not ready: `reason` says why", Readiness),)),
    Operation("GET", "/metrics", "Prometheus metrics (text exposition format)", None,
              content_type="text/plain"),
]
