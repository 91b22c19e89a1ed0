"""One store's dead endpoint must not hold back another store's webhooks: a real receiver that
hangs (until teardown) for store A with a backlog, a healthy one for store B. Waits are on
conditions, bounded; nothing here asserts a duration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from db import events
from tests.test_webhook_delivery import Clock, endpoint
from watcher.webhooks import Dispatcher

BACKLOG = 40
BOUND_S = 30.0  # a bound on waiting for a condition, not a measurement


class Hanging:
    """Answers nothing until `release` is set (at teardown); counts who is waiting."""

    def __init__(self) -> None:
        self.release, self.waiting, self.answered = asyncio.Event(), 0, 0
        self.arrived = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        async with self.arrived:
            self.waiting += 1
            self.arrived.notify_all()
        await self.release.wait()
        self.waiting -= 1
        self.answered += 1
        return web.Response(status=204)


class Healthy:
    def __init__(self) -> None:
        self.got: list[str] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append(request.headers["Paywatch-Event-Id"])
        self.arrived.set()
        return web.Response(status=204)


async def serve(handler: Any) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/hook"))
    finally:
        await server.close()


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[Hanging, str]]:
    rec = Hanging()
    async for url in serve(rec.handle):
        try:
            yield rec, url
        finally:
            rec.release.set()  # let the held requests finish so the server can close


@pytest.fixture
async def healthy() -> AsyncIterator[tuple[Healthy, str]]:
    rec = Healthy()
    async for url in serve(rec.handle):
        yield rec, url


async def test_a_hanging_endpoint_does_not_hold_back_another_stores_webhooks(
        pool: asyncpg.Pool, hanging: tuple[Hanging, str], healthy: tuple[Healthy, str]) -> None:
    dead, dead_url = hanging
    good, good_url = healthy
    store_a = await endpoint(pool, dead_url, slug="store-a")
    store_b = await endpoint(pool, good_url, slug="store-b")
    async with pool.acquire() as conn:
        for n in range(BACKLOG):
            await events.emit(conn, store_id=store_a["id"], type_="payment.confirmed",
                              data={"n": n})
    # A request that hangs for as long as the test runs: only isolation can get B through.
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(pool, session, allow_private=True, clock=Clock(),
                                timeout_s=3600)
        ticks = [asyncio.create_task(dispatcher.run_until_idle())]
        async with asyncio.timeout(BOUND_S), dead.arrived:
            await dead.arrived.wait_for(lambda: dead.waiting > 0)
        async with pool.acquire() as conn:
            event_b = await events.emit(conn, store_id=store_b["id"],
                                        type_="payment.confirmed", data={"store": "b"})
        ticks.append(asyncio.create_task(dispatcher.run_until_idle()))  # the next tick
        async with asyncio.timeout(BOUND_S):
            await good.arrived.wait()
        assert good.got == [str(event_b["id"])]
        assert dead.answered == 0  # B got through while every request to A still hangs
        assert 0 < dead.waiting <= dispatcher.per_endpoint  # A holds only its own budget
        dead.release.set()
        async with asyncio.timeout(BOUND_S):
            await asyncio.gather(*ticks)
            await dispatcher.aclose()
    delivered = await pool.fetchval(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
    assert delivered == dead.answered + 1
