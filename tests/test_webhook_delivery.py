"""Webhook delivery against a real local receiver, with time driven by a clock, not sleeps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from db import events, webhooks
from paywatch.core.webhooks import SIGNATURE_HEADER, verify_signature
from tests.conftest import make_store
from watcher.webhooks import Dispatcher


class Receiver:
    """Fails the first `failures` calls with 500, then answers 200; keeps what it got."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.calls = failures, 0
        self.received: list[tuple[bytes, str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.failures:
            return web.Response(status=500)
        self.received.append((await request.read(), request.headers[SIGNATURE_HEADER],
                              request.headers["Paywatch-Event-Id"]))
        return web.Response(status=204)


class Clock:
    """Starts years away from today, so a time read from anywhere but this clock (the
    database's now(), say) shows as a failure on any day the suite runs."""

    def __init__(self) -> None:
        self.now = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app)
    await server.start_server()
    yield rec, str(server.make_url("/hook"))
    await server.close()


async def endpoint(pool: asyncpg.Pool, url: str, types: list[str] | None = None,
                   slug: str = "hooks") -> Any:
    """A store with one webhook endpoint; returns the store."""
    _headers, store = await make_store(pool, slug)
    async with pool.acquire() as conn:
        await webhooks.insert_endpoint(conn, store["id"], url, "whsec_test", None,
                                       types or ["*"])
    return store


async def test_retries_until_the_receiver_answers_then_delivers_once(
        pool: asyncpg.Pool, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.failures = 3
    store = await endpoint(pool, url)
    async with pool.acquire() as conn:
        event = await events.emit(conn, store_id=store["id"], type_="payment.confirmed",
                                  data={"id": "p1", "amount_due": "1000"})
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(pool, session, allow_private=True, clock=clock)
        attempts = 0
        for _ in range(50):
            attempts += await dispatcher.run_once()
            if rec.received:
                break
            clock.now += timedelta(minutes=10)  # past any backoff so far, no sleeping
        assert await dispatcher.run_once() == 0  # nothing left to deliver
    assert attempts == 4
    assert rec.calls == 4
    [(body, signature, event_id)] = rec.received
    assert event_id == str(event["id"])
    payload = json.loads(body)
    assert (payload["id"], payload["type"]) == (str(event["id"]), "payment.confirmed")
    assert payload["data"] == {"id": "p1", "amount_due": "1000"}
    verify_signature(body, signature, "whsec_test", now=clock.now.timestamp())
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 4, 204)


async def test_gives_up_after_three_days_and_disables_a_dead_endpoint(
        pool: asyncpg.Pool) -> None:
    store = await endpoint(pool, "http://127.0.0.1:9/nothing-listens")
    async with pool.acquire() as conn:
        await events.emit(conn, store_id=store["id"], type_="payment.expired", data={})
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(pool, session, allow_private=True, clock=clock)
        for _ in range(200):
            await dispatcher.run_once()
            clock.now += timedelta(hours=1)
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert row["status"] == "failed"
    assert row["attempts"] > 10
    assert "ClientConnectorError" in row["last_error"]
    endpoint_row = await pool.fetchrow("SELECT * FROM webhook_endpoints")
    assert endpoint_row["enabled"] is False
    assert endpoint_row["disabled_reason"] == "every delivery failed for 5 days"
    assert await pool.fetchval(
        "SELECT count(*) FROM events WHERE type = 'webhook_endpoint.disabled'") == 1


async def test_event_types_filter_and_private_targets_refused_at_delivery(
        pool: asyncpg.Pool, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    store = await endpoint(pool, url, ["order.paid"])
    async with pool.acquire() as conn:
        await events.emit(conn, store_id=store["id"], type_="payment.created", data={})
        await events.emit(conn, store_id=store["id"], type_="order.paid", data={"n": 1})
    async with Dispatcher(pool, allow_private=False, clock=Clock()) as strict:
        assert await strict.run_once() == 1  # only order.paid is wanted
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert (row["status"], row["last_status_code"], row["last_error"]) == (
        "pending", None, "refused by policy")
    assert rec.calls == 0


async def test_a_caller_session_is_refused_under_the_address_policy(pool: asyncpg.Pool) -> None:
    """A plain session would resolve names again, past the checks: only the pinned one goes."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="pins checked addresses"):
            Dispatcher(pool, session, allow_private=False)


async def test_a_redelivery_gets_three_days_of_its_own(pool: asyncpg.Pool) -> None:
    """Redelivering an event that failed days ago starts the retry window again, counted by
    the same clock: one failed attempt leaves it pending, not failed for being old."""
    store = await endpoint(pool, "http://127.0.0.1:9/nothing-listens")
    async with pool.acquire() as conn:
        event = await events.emit(conn, store_id=store["id"], type_="payment.expired", data={})
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        dispatcher = Dispatcher(pool, session, allow_private=True, clock=clock)
        await dispatcher.run_once()
        clock.now += timedelta(days=10)
        async with pool.acquire() as conn:
            assert await webhooks.redeliver(conn, event["id"], store["id"], clock.now) == 1
        assert await dispatcher.run_once() == 1
    row = await pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["created_at"] == clock.now
    assert row["next_attempt_at"] > clock.now
