"""/healthz, /readyz (turns 503 when the database goes away, 200 when it returns), /metrics.
Chain health in /readyz: tests/test_chain_health.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import build_app
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from tests.conftest import api_client
from tests.pg import DatabaseFactory, database_name


@pytest.fixture
async def no_chain_api(pool: asyncpg.Pool) -> AsyncIterator[TestClient]:
    """A deployment that watches no chain: ready on the database alone."""
    async with api_client(pool, solana_watch=False) as client:
        yield client


async def test_healthz_and_readyz_answer_200(no_chain_api: TestClient) -> None:
    assert (await no_chain_api.get("/healthz")).status == 200
    resp = await no_chain_api.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready", "reason": "ok", "chains": {}}


async def test_metrics_serve_paywatch_and_process_metrics(api: TestClient) -> None:
    await api.get("/healthz")
    resp = await api.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert 'paywatch_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "paywatch_http_request_duration_seconds_bucket" in text
    assert "process_resident_memory_bytes" in text


async def test_readyz_follows_the_database_away_and_back(
        databases: DatabaseFactory, db_dsn: str, no_chain_api: TestClient) -> None:
    api = no_chain_api
    name = database_name(db_dsn)
    admin = await asyncpg.connect(databases.admin_dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        resp = await api.get("/readyz")
        assert resp.status == 503
        body = await resp.json()
        assert body["status"] == "unavailable"
        assert "database unreachable" in body["reason"]
        assert (await api.get("/healthz")).status == 200  # alive, just not ready

        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert (await api.get("/readyz")).status == 200
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def test_readyz_is_503_while_migrations_are_pending(empty_db_dsn: str, tmp_path) -> None:
    pool = await create_pool(empty_db_dsn)
    settings = Settings(database_url=empty_db_dsn, data_dir=tmp_path, _env_file=None)
    client = TestClient(TestServer(build_app(settings, pool, chains=build_chains(settings))))
    await client.start_server()
    try:
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["reason"] == "no migration has been applied"
    finally:
        await client.close()
        await pool.close()


async def test_errors_have_one_shape(api: TestClient) -> None:
    resp = await api.get("/no/such/route")
    assert resp.status == 404
    assert (await resp.json())["error"] == {
        "type": "not_found", "code": "not_found", "message": "Not Found", "param": None}
    resp = await api.post("/healthz")
    assert resp.status == 405
    assert (await resp.json())["error"]["type"] == "invalid_request_error"
