"""The database-backed health gauges the alert rules use (deploy/prometheus/alerts.yml): the
webhook backlog, endpoints whose deliveries keep failing, and the oldest detected payment."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from paywatch.jobs import refresh_health_gauges
from tests.conftest import make_store


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_the_health_gauges_follow_the_database(api: TestClient,
                                                     pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    await refresh_health_gauges(pool)
    assert gauge("paywatch_webhook_backlog") == 0
    assert gauge("paywatch_webhook_failing_endpoints") == 0
    assert gauge("paywatch_payments_detected_oldest_seconds") == 0

    for _ in range(2):
        created = await api.post("/v1/payments", headers=headers,
                                 json={"amount": "5", "currency": "USD", "asset": "USDC"})
        assert created.status == 201
    await pool.execute("UPDATE payments SET status = 'detected', "
                       "detected_at = now() - interval '1 hour' WHERE id = (SELECT id FROM "
                       "payments ORDER BY created_at LIMIT 1)")
    endpoints = [await pool.fetchval(
        "INSERT INTO webhook_endpoints (store_id, url, secret) VALUES ($1, $2, 's') "
        "RETURNING id", store["id"], f"https://example.com/{n}") for n in range(2)]
    event = await pool.fetchval("SELECT id FROM events LIMIT 1")
    # Endpoint 0: one delivery due now after 3 failures, one due later. Endpoint 1: fine.
    await pool.execute(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, attempts, next_attempt_at) "
        "VALUES ($1, $2, 3, now() - interval '1 minute'), ($1, $3, 0, now() + interval '1 hour')",
        event, endpoints[0], endpoints[1])
    await refresh_health_gauges(pool)
    assert gauge("paywatch_webhook_backlog") == 1
    assert gauge("paywatch_webhook_failing_endpoints") == 1
    oldest = gauge("paywatch_payments_detected_oldest_seconds")
    assert oldest is not None
    assert 3600 <= oldest < 3600 + 600     # the database's clock, not the test's
