"""Faults on the chain side, against a real watcher on simnet:

- the primary RPC endpoint slow, failing, or answering garbage: the watcher fails over to the
  second, and goes back to the primary once it recovers;
- a storm of WebSocket drops while payments stream in;
- finalization stalling: payments that need `finalized` wait (detected), the others confirm,
  and all confirm once finalization resumes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from simnet.server import SimnetServer
from simnet.wallet import Wallet
from tests.conftest import free_port, make_store
from tests.watcher.harness import Harness, harness


@dataclass
class Primary:
    """What the flaky endpoint does now (the test switches it) and what it was asked in."""
    url: str = ""
    mode: str = "healthy"
    seen: list[str] = field(default_factory=list)


@pytest.fixture
async def h(sim: SimnetServer, pool: asyncpg.Pool, api: TestClient,
            wallet: Wallet) -> AsyncIterator[Harness]:
    async with harness(sim, pool, api, await make_store(pool, "faultshop"), wallet) as hh:
        yield hh


@asynccontextmanager
async def flaky_primary(upstream: str) -> AsyncIterator[Primary]:
    """An RPC endpoint in front of simnet whose behaviour the test switches: healthy (forwards),
    slow (answers after the client's timeout), failing (HTTP 503), garbage (200, not JSON)."""
    app, primary = web.Application(), Primary()
    session = aiohttp.ClientSession()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        primary.seen.append(primary.mode)
        mode = primary.mode
        if mode == "slow":
            await asyncio.sleep(3)
        elif mode == "failing":
            return web.Response(status=503, text="upstream unavailable")
        elif mode == "garbage":
            return web.Response(status=200, text="<html>rate limited</html>")
        async with session.post(upstream, data=body,
                                headers={"Content-Type": "application/json"}) as resp:
            return web.Response(body=await resp.read(), status=resp.status,
                                content_type="application/json")

    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    primary.url = f"http://127.0.0.1:{port}/"
    try:
        yield primary
    finally:
        await runner.cleanup()
        await session.close()


@pytest.mark.parametrize("fault", ["slow", "failing", "garbage"])
async def test_primary_rpc_fault_fails_over_then_recovers(h: Harness, fault: str) -> None:
    async with flaky_primary(h.sim.rpc_url) as primary:
        watcher = await h.start_watcher([primary.url, h.sim.rpc_url])
        watcher.rpc.timeout = aiohttp.ClientTimeout(total=1.0)
        watcher.rpc.cooldown_s = 1.0  # so recovery is seen within the test
        primary.mode = fault
        during = await h.create("30")
        await h.wallet.pay(during["payment_request"]["url"])
        await h.wait_for(during["id"], "confirmed")
        assert fault in primary.seen  # the primary was asked, and the secondary answered
        primary.mode = "healthy"
        primary.seen.clear()
        after = await h.create("31")
        await h.wallet.pay(after["payment_request"]["url"])
        await h.wait_for(after["id"], "confirmed")
        await _until(lambda: "healthy" in primary.seen, "the primary to be used again")


async def _until(check: object, what: str, seconds: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_websocket_drop_storm_loses_nothing(h: Harness) -> None:
    await h.start_watcher()
    payments = [await h.create("1") for _ in range(30)]

    async def storm() -> None:
        for _ in range(20):
            await h.sim.control({"action": "close_websockets"})
            await asyncio.sleep(0.25)

    async def pay() -> None:
        for p in payments:
            await h.wallet.pay(p["payment_request"]["url"])
            await asyncio.sleep(0.1)

    await asyncio.gather(storm(), pay())
    for p in payments:
        row = await h.wait_for(p["id"], "confirmed", seconds=60)
        assert row["amount_received"] == int(p["amount_due"])
    count = await h.pool.fetchval("SELECT count(*) FROM transfers WHERE status <> 'rejected'")
    assert count == len(payments)


async def test_stalled_finalization_holds_finalized_payments_until_it_resumes(
        h: Harness) -> None:
    await h.pool.execute("UPDATE stores SET finalized_above = 100")  # big ones wait longer
    await h.start_watcher()
    await h.sim.control({"action": "stall_finalization"})
    small, big = await h.create("30"), await h.create("150")
    assert big["required_commitment"] == "finalized"
    for p in (small, big):
        await h.wallet.pay(p["payment_request"]["url"])
    await h.wait_for(small["id"], "confirmed")
    await h.wait_for(big["id"], "detected")
    await asyncio.sleep(2)  # many slots pass; nothing finalizes
    assert (await h.payment(big["id"]))["status"] == "detected"
    await h.sim.control({"action": "stall_finalization", "stalled": False})
    row = await h.wait_for(big["id"], "confirmed", seconds=30)
    assert row["amount_received"] == int(big["amount_due"])
