"""The dispatcher is woken by the outbox (db/events.py notifies), not only by its tick: an
event written while it listens is delivered with no tick at all, one written while nobody
listened is taken by the pass at (re)connect, and a redelivery wakes it too. No test here calls
run_once or run_until_idle, so only the notifications and the reconnect pass can deliver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from db import events, listen, webhooks
from tests.conftest import make_store
from tests.test_webhook_delivery import Clock
from watcher.webhooks import Dispatcher

BOUND_S = 20.0  # a bound on waiting for a condition, never a measured time


class Receiver:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.arrived = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        async with self.arrived:
            self.ids.append(event["id"])
            self.arrived.notify_all()
        return web.Response(status=204)

    async def wait_for(self, count: int) -> list[str]:
        async with asyncio.timeout(BOUND_S), self.arrived:
            await self.arrived.wait_for(lambda: len(self.ids) >= count)
        return self.ids


@pytest.fixture
async def hook(pool: asyncpg.Pool) -> AsyncIterator[tuple[Receiver, Any]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app)
    await server.start_server()
    _headers, store = await make_store(pool, "wakeup")
    async with pool.acquire() as conn:
        await webhooks.insert_endpoint(conn, store["id"], str(server.make_url("/hook")),
                                       "whsec_test", None, ["*"])
    yield rec, store
    await server.close()


async def emit(pool: asyncpg.Pool, store: Any, type_: str) -> str:
    async with pool.acquire() as conn, conn.transaction():
        row = await events.emit(conn, store_id=store["id"], type_=type_, data={})
    return str(row["id"])


async def test_events_are_delivered_on_notification_without_a_tick(
        pool: asyncpg.Pool, hook: tuple[Receiver, Any]) -> None:
    rec, store = hook
    before = await emit(pool, store, "payment.created")  # nobody listens yet
    async with aiohttp.ClientSession() as session, \
            Dispatcher(pool, session, allow_private=True, clock=Clock()) as dispatcher:
        dispatcher.start_following(every_s=3600)  # no periodic pass either
        assert await rec.wait_for(1) == [before]  # the pass at connect took it
        after = await emit(pool, store, "payment.confirmed")  # its notification wakes it
        assert await rec.wait_for(2) == [before, after]
        async with pool.acquire() as conn, conn.transaction():
            assert await webhooks.redeliver(conn, before, store["id"], Clock()()) == 1
        assert await rec.wait_for(3) == [before, after, before]
    rows = await pool.fetch("SELECT status, attempts FROM webhook_deliveries ORDER BY id")
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 2


async def test_closing_stops_the_listener_and_gives_its_connection_back(
        pool: asyncpg.Pool, hook: tuple[Receiver, Any]) -> None:
    rec, store = hook
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(pool, session, allow_private=True, clock=Clock())
        dispatcher.start_following(every_s=3600)
        await emit(pool, store, "payment.created")
        await rec.wait_for(1)
        following = dispatcher.following
        await dispatcher.aclose()
    assert following is not None
    assert following.done()
    # Every connection is back in the pool, none still LISTENing.
    assert pool.get_idle_size() == pool.get_size()
    assert await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()") == 0


async def test_every_way_of_writing_an_event_wakes_the_dispatchers(
        pool: asyncpg.Pool, api: TestClient) -> None:
    """An event written without a notification waits for the dispatcher's tick: each writer of
    the outbox (one event, a sweep's batch, a new payment's event with its audit row) notifies
    in its transaction."""
    headers, store = await make_store(pool, "notifies")
    woken: asyncio.Queue[str] = asyncio.Queue()
    listener = await pool.acquire()

    def heard(_conn: object, _pid: int, channel: str, _payload: str) -> None:
        woken.put_nowait(channel)

    await listener.add_listener(listen.EVENTS_CHANNEL, heard)

    async def each_notifies(write: Callable[[asyncpg.Connection], Awaitable[object]]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await write(conn)
        async with asyncio.timeout(BOUND_S):
            assert await woken.get() == listen.EVENTS_CHANNEL

    try:
        await each_notifies(lambda conn: events.emit(
            conn, store_id=store["id"], type_="payment.created", data={}))
        await each_notifies(lambda conn: events.emit_many(
            conn, [(store["id"], "payment.expired", None, None, {"n": n}) for n in range(3)]))
        resp = await api.post("/v1/payments", headers=headers,
                              json={"amount": "5.00", "currency": "USD", "asset": "SOL"})
        assert resp.status == 201, await resp.text()
        async with asyncio.timeout(BOUND_S):
            assert await woken.get() == listen.EVENTS_CHANNEL
    finally:
        await listener.remove_listener(listen.EVENTS_CHANNEL, heard)
        await pool.release(listener)
