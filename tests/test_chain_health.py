"""/readyz says which watched chains are healthy: the leading watcher of each chain stamps a row
(database clock), and the API, maybe in another process, reads it. 503 while a watched chain
has never reported or its report is older than the threshold."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from api.health import CHAIN_STALE_S
from db import chain_health
from paywatch.core.evm import EvmChain
from simnet.server import SimnetServer
from tests.conftest import api_client
from watcher.solana.service import SolanaWatcher, WatcherConfig

BASE = EvmChain(name="base", chain_id=8453, rpc_urls=["http://127.0.0.1:1"])


async def readyz(api: TestClient) -> tuple[int, dict]:
    resp = await api.get("/readyz")
    return resp.status, await resp.json()


async def age(pool: asyncpg.Pool, chain: str, seconds: float) -> None:
    """Make a chain's last report `seconds` old (on the database's clock, as the code reads)."""
    await pool.execute("UPDATE chain_health SET checked_at = now() - make_interval(secs => $2) "
                       "WHERE chain = $1", chain, seconds)


async def until(condition: Callable[[], Awaitable[bool]], bound_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound_s
    while not await condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_a_watched_chain_that_never_reported_is_not_ready(pool: asyncpg.Pool) -> None:
    async with api_client(pool) as api:               # the default: Solana is watched
        status, body = await readyz(api)
        assert (await api.get("/healthz")).status == 200   # alive all the same
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["chains"]["solana"]["healthy"] is False
    assert "solana: its watcher has not reported yet" in body["reason"]


async def test_readiness_follows_each_chains_last_report(pool: asyncpg.Pool) -> None:
    await chain_health.record(pool, "solana", 1234)
    await chain_health.record(pool, "base", 99)
    async with api_client(pool, evm_chains=[BASE]) as api:
        status, body = await readyz(api)
        assert status == 200, body
        assert body["chains"]["solana"]["height"] == 1234
        assert body["chains"]["base"]["healthy"] is True

        await age(pool, "base", CHAIN_STALE_S + 1)
        status, body = await readyz(api)
        assert status == 503
        assert body["chains"]["solana"]["healthy"] is True
        assert body["chains"]["base"]["healthy"] is False
        assert body["reason"].startswith("unhealthy chains: base: no successful read for 61 s")

        await age(pool, "base", CHAIN_STALE_S - 1)   # just inside the threshold
        assert (await readyz(api))[0] == 200


async def test_only_watched_chains_count(pool: asyncpg.Pool) -> None:
    await chain_health.record(pool, "solana", 1)
    await age(pool, "solana", 3600)                   # a chain nobody watches any more
    async with api_client(pool, solana_watch=False, evm_chains=[BASE], evm_watch=False) as api:
        assert await readyz(api) == (200, {"status": "ready", "reason": "ok", "chains": {}})


async def test_the_solana_watcher_stamps_its_chains_health(
        pool: asyncpg.Pool, sim: SimnetServer) -> None:
    config = WatcherConfig([sim.rpc_url], [sim.ws_url])
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(SolanaWatcher(pool, session, config).run())
        try:
            async def stamped() -> bool:
                return bool(await pool.fetchval(
                    "SELECT height > 0 FROM chain_health WHERE chain = 'solana'"))
            await until(stamped)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    async with api_client(pool) as api:
        status, body = await readyz(api)
    assert status == 200, body
    assert body["chains"]["solana"]["healthy"] is True
