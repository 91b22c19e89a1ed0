"""The API's key cache (api/auth.py KeyCache): a key costs no database round trip while it is
cached, and every change that stops a key reaches every process through NOTIFY (migration
0012). The caches here trust an entry for an hour, so only a notification (or a lost
connection) can make them forget one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import build_app
from api.auth import KEY_CACHE, KeyCache
from paywatch.chains import build_chains
from paywatch.core.apikeys import hash_key
from paywatch.core.settings import Settings
from paywatch.services.keys import revoke_key
from tests.conftest import make_store, until

HOUR = 3600.0
BOUND_S = 10.0  # how long a condition may take before the test fails (never a sleep)


async def app_client(settings: Settings, pool: asyncpg.Pool) -> TestClient:
    app = build_app(settings, pool, chains=build_chains(settings))
    app[KEY_CACHE] = KeyCache(pool, ttl_s=HOUR, round_s=HOUR)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def two_apps(settings: Settings, db_dsn: str) -> AsyncIterator[list[TestClient]]:
    """Two API processes' worth of app, each with its own pool, on one database."""
    from db.pool import create_pool
    pools = [await create_pool(db_dsn, min_size=1, max_size=4) for _ in range(2)]
    clients = [await app_client(settings, p) for p in pools]
    yield clients
    for client in clients:
        await client.close()
    for p in pools:
        await p.close()


def cache(client: TestClient) -> KeyCache:
    return client.app[KEY_CACHE]


async def cached_in(client: TestClient, headers: dict[str, str]) -> None:
    """Ask until the key is answered from memory (the listener connects on the first ask)."""
    key_hash = hash_key(headers["Authorization"].removeprefix("Bearer "))

    async def ask() -> None:
        while not cache(client).holds(key_hash):
            assert (await client.get("/v1/me", headers=headers)).status == 200
    async with asyncio.timeout(BOUND_S):
        await ask()


async def test_revoking_a_key_in_one_process_stops_it_in_every_process(
        two_apps: list[TestClient], pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    key_hash = hash_key(headers["Authorization"].removeprefix("Bearer "))
    for client in two_apps:
        await cached_in(client, headers)

    async with pool.acquire() as conn:  # a third process: the CLI, or the dashboard
        revoked = await revoke_key(conn, headers["Authorization"][7:21], "test")
    assert revoked is not None

    await until(lambda: not any(cache(c).holds(key_hash) for c in two_apps),
                "a cache still holds the revoked key")
    for client in two_apps:
        resp = await client.get("/v1/me", headers=headers)
        assert resp.status == 401
        assert cache(client).holds(key_hash) is False


async def test_other_keys_stay_cached_and_a_truncate_drops_them_all(
        two_apps: list[TestClient], pool: asyncpg.Pool) -> None:
    first, _ = await make_store(pool, "shop")
    second, _ = await make_store(pool, "other-shop")
    app = two_apps[0]
    await cached_in(app, first)
    await cached_in(app, second)
    async with pool.acquire() as conn:
        await revoke_key(conn, first["Authorization"][7:21], "test")
    await until(lambda: not cache(app).holds(hash_key(first["Authorization"][7:])), "revoked")
    assert cache(app).holds(hash_key(second["Authorization"][7:]))

    await pool.execute("TRUNCATE api_keys CASCADE")
    await until(lambda: not cache(app).holds(hash_key(second["Authorization"][7:])),
                "a truncated key is still cached")
    assert (await app.get("/v1/me", headers=second)).status == 401


async def test_a_lost_listener_empties_the_cache_until_it_listens_again(
        two_apps: list[TestClient], pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "shop")
    key_hash = hash_key(headers["Authorization"][7:])
    app = two_apps[0]
    await cached_in(app, headers)

    # Cut the listening connections (its last query was its LISTEN or its last_used_at
    # write): a notification sent while nobody listens is lost for good, so the cache must
    # forget everything the moment its connection drops, not when a revocation comes.
    killed = await pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND (query LIKE 'LISTEN%' OR query LIKE '%last_used_at%')")
    assert killed >= 1
    await until(lambda: not cache(app).holds(key_hash), "the cache outlived its listener")
    async with pool.acquire() as conn:
        await revoke_key(conn, headers["Authorization"][7:21], "test")
    assert (await app.get("/v1/me", headers=headers)).status == 401


async def test_an_entry_lives_no_longer_than_its_ttl(settings: Settings,
                                                     pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "shop")
    key_hash = hash_key(headers["Authorization"][7:])
    now = [0.0]
    app = build_app(settings, pool, chains=build_chains(settings))
    app[KEY_CACHE] = KeyCache(pool, ttl_s=30.0, round_s=HOUR, clock=lambda: now[0])
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await cached_in(client, headers)
        now[0] += 29.0
        assert cache(client).holds(key_hash)
        now[0] += 1.0
        assert not cache(client).holds(key_hash)
    finally:
        await client.close()


async def test_an_entry_never_outlives_the_keys_expiry(settings: Settings,
                                                        pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "shop")
    key_hash = hash_key(headers["Authorization"][7:])
    await pool.execute("UPDATE api_keys SET expires_at = now() + interval '5 seconds'")
    now = [0.0]
    app = build_app(settings, pool, chains=build_chains(settings))
    app[KEY_CACHE] = KeyCache(pool, ttl_s=HOUR, round_s=HOUR, clock=lambda: now[0])
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await cached_in(client, headers)
        now[0] += 6.0
        assert not cache(client).holds(key_hash)
    finally:
        await client.close()


async def test_last_use_is_written_in_batches(settings: Settings, pool: asyncpg.Pool) -> None:
    headers, _ = await make_store(pool, "shop")
    client = await app_client(settings, pool)
    try:
        for _ in range(3):
            assert (await client.get("/v1/me", headers=headers)).status == 200
        assert await pool.fetchval("SELECT last_used_at FROM api_keys") is None
    finally:
        await client.close()  # shutdown writes what the cache recorded
    assert await pool.fetchval("SELECT last_used_at FROM api_keys") is not None
