"""The reference index's LISTEN connection: it follows notifications on a pool of any size (it
holds one connection, never a second one beside it) and gives that connection back clean when
the index stops, so a pool close never waits on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from db.pool import create_pool
from tests.checkout.test_page import create_payment, set_state
from tests.conftest import until
from watcher.solana.index import ReferenceIndex

NEVER_S = 3600.0  # no periodic reload during these tests: only notifications can help
BOUND_S = 10.0    # a failure bound, not a duration under test


@contextlib.asynccontextmanager
async def following(pool: asyncpg.Pool) -> AsyncIterator[ReferenceIndex]:
    index = ReferenceIndex(pool)
    task = asyncio.get_running_loop().create_task(index.follow(NEVER_S))
    try:
        yield index
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def one_connection(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    small = await create_pool(db_dsn, min_size=1, max_size=1)
    yield small
    await asyncio.wait_for(small.close(), BOUND_S)


async def test_the_index_follows_notifications_on_a_one_connection_pool(
        api: TestClient, merchant: dict[str, str], pool: asyncpg.Pool,
        one_connection: asyncpg.Pool) -> None:
    async with following(one_connection) as index:
        payment = await create_payment(api, merchant)
        reference = payment["payment_request"]["reference"]
        await until(lambda: index.lookup(reference) is not None, "the new payment")
        await set_state(pool, payment["id"], "cancelled")
        await until(lambda: index.lookup(reference) is None, "the closed payment to leave")


async def test_a_stopped_index_gives_its_connection_back_clean(
        api: TestClient, merchant: dict[str, str], db_dsn: str) -> None:
    small = await create_pool(db_dsn, min_size=2, max_size=2)
    try:
        async with following(small) as index:
            payment = await create_payment(api, merchant)
            reference = payment["payment_request"]["reference"]
            await until(lambda: index.lookup(reference) is not None, "the new payment")
        # Both connections are free again, and neither keeps a channel or a callback of the
        # index's (a termination listener left on a pooled connection outlives the index).
        conns = [await small.acquire(timeout=BOUND_S) for _ in range(2)]
        try:
            for conn in conns:
                assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
                assert not conn._con._termination_listeners  # asyncpg has no public view of these
        finally:
            for conn in conns:
                await small.release(conn)
    finally:
        await asyncio.wait_for(small.close(), BOUND_S)
