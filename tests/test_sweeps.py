"""Sweeps: every stale payment expired once, with one event, even with two sweepers at once."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp.test_utils import TestClient

from db.pool import create_pool
from paywatch.services.sweeps import expire_payments, invalidate_payments


async def make_payments(api: TestClient, headers: dict[str, str], count: int) -> None:
    for start in range(0, count, 50):
        answers = await asyncio.gather(*(api.post("/v1/payments", headers=headers, json={
            "amount": "1", "currency": "USD", "asset": "SOL"}) for _ in range(
            min(50, count - start))))
        assert {a.status for a in answers} == {201}


async def test_two_concurrent_sweeps_expire_each_payment_once(
        pool: asyncpg.Pool, db_dsn: str, api: TestClient, merchant: dict[str, str]) -> None:
    await make_payments(api, merchant, 300)
    await pool.execute("UPDATE payments SET created_at = now() - interval '1 hour', "
                       "expires_at = now() - interval '30 minutes'")
    other = await create_pool(db_dsn, max_size=4)  # a second process, as far as locks go
    try:
        counts = await asyncio.gather(expire_payments(pool, size=20),
                                      expire_payments(other, size=20))
    finally:
        await other.close()
    assert sum(counts) == 300
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE status = 'expired'") == 300
    per_payment = await pool.fetch("SELECT payment_id, count(*) AS n FROM events "
                                   "WHERE type = 'payment.expired' GROUP BY payment_id")
    assert len(per_payment) == 300
    assert {r["n"] for r in per_payment} == {1}
    assert await expire_payments(pool) == 0  # running again changes nothing


async def test_sweeps_leave_fresh_payments_and_invalidate_stale_detections(
        pool: asyncpg.Pool, api: TestClient, merchant: dict[str, str]) -> None:
    await make_payments(api, merchant, 3)
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM payments ORDER BY created_at")]
    await pool.execute("UPDATE payments SET status = 'detected', detected_at = now(), "
                       "confirm_deadline_at = now() - interval '1 s' WHERE id = $1", ids[0])
    await pool.execute("UPDATE payments SET status = 'detected', detected_at = now(), "
                       "confirm_deadline_at = now() + interval '1 hour' WHERE id = $1", ids[1])
    assert await expire_payments(pool) == 0
    assert await invalidate_payments(pool) == 1
    statuses = [r["status"] for r in await pool.fetch(
        "SELECT status FROM payments ORDER BY created_at")]
    assert statuses == ["invalid", "detected", "pending"]
    assert await pool.fetchval(
        "SELECT count(*) FROM events WHERE type = 'payment.invalid'") == 1


async def test_old_settled_events_are_purged_and_pending_ones_kept(
        pool: asyncpg.Pool, api: TestClient, merchant: dict[str, str]) -> None:
    from paywatch.services.sweeps import purge_events

    await make_payments(api, merchant, 3)  # three payment.created events
    await pool.execute("UPDATE events SET created_at = now() - interval '100 days', "
                       "dispatched_at = now() - interval '100 days'")
    await pool.execute(
        "INSERT INTO webhook_endpoints (store_id, url, secret) "
        "SELECT id, 'https://example.com/h', 's' FROM stores LIMIT 1")
    keep = await pool.fetchval("SELECT id FROM events ORDER BY seq LIMIT 1")
    await pool.execute("INSERT INTO webhook_deliveries (event_id, endpoint_id) "
                       "SELECT $1, id FROM webhook_endpoints", keep)
    assert await purge_events(pool, days=90, size=1) == 2
    assert [r["id"] for r in await pool.fetch("SELECT id FROM events")] == [keep]
    assert await purge_events(pool, days=90) == 0


async def test_the_price_refresh_job_warms_every_pair_a_store_quotes(
        pool: asyncpg.Pool, merchant: dict[str, str]) -> None:
    import aiohttp

    from paywatch.core.pricing import build_quote_service
    from paywatch.core.settings import Settings
    from paywatch.jobs import refresh_prices

    async with aiohttp.ClientSession() as session:
        everything = build_quote_service(Settings(_env_file=None), session)
        assert await refresh_prices(pool, everything) == 2  # SOL and USDC, in USD
        sol_only = build_quote_service(
            Settings(static_prices='{"SOL": "150"}', _env_file=None), session)
        assert await refresh_prices(pool, sol_only) == 1  # USDC cannot be priced: skipped


async def test_each_expired_payment_gets_its_event_with_the_full_payment(
        pool: asyncpg.Pool, api: TestClient, merchant: dict[str, str]) -> None:
    """The batch's events go in together: each must still name its own payment, store and
    order, and carry the payment as the API shows it (expired, from pending)."""
    await make_payments(api, merchant, 7)
    await pool.execute("UPDATE payments SET created_at = now() - interval '1 hour', "
                       "expires_at = now() - interval '30 minutes'")
    assert await expire_payments(pool, size=3) == 7
    rows = await pool.fetch(
        "SELECT p.id, p.store_id, p.order_id, e.store_id AS e_store, e.order_id AS e_order, "
        "e.data FROM payments p JOIN events e ON e.payment_id = p.id "
        "AND e.type = 'payment.expired'")
    assert len(rows) == 7
    for row in rows:
        assert (row["e_store"], row["e_order"]) == (row["store_id"], row["order_id"])
        shown = (await api.get(f"/v1/payments/{row['id']}", headers=merchant))
        assert row["data"]["object"] == await shown.json()
        assert row["data"]["previous_status"] == "pending"
