"""The overview over HTTP: money received today and this month (the books' figures, net of
refunds), what waits, what needs a hand, and each chain watcher as the database knows it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from db import chain_health, webhooks
from db.queries import watcher_lock_key
from paywatch.services import transfers
from tests.conftest import make_store
from tests.dashboard.helpers import key_of, sign_in


def figure(page: str, name: str) -> str:
    found = re.search(rf'id="{name}">([^<]*)<', page)
    assert found is not None, name
    return found.group(1)


async def pay(api: TestClient, headers: dict[str, str], amount: str) -> uuid.UUID:
    resp = await api.post("/v1/payments", headers=headers, json={
        "amount": amount, "currency": "USD", "asset": "SOL"})
    assert resp.status == 201, await resp.text()
    return uuid.UUID((await resp.json())["id"])


async def refund(pool: asyncpg.Pool, store: Any, payment_id: uuid.UUID, fiat: str) -> None:
    """A confirmed refund, as the refunds service leaves one (only the books' columns matter)."""
    await pool.execute("""
        INSERT INTO refunds (store_id, payment_id, chain, asset, decimals, amount, currency,
            fiat_amount, rate, price, price_source, source, destination, destination_from,
            request_type, payment_url, status, expires_at, created_by, confirmed_at)
        VALUES ($1, $2, 'solana', 'SOL', 9, 1000, 'USD', $3::numeric, 'quote', 150, 'static',
            'Src1111111111111111111111111111111111111111',
            'Dst11111111111111111111111111111111111111',
            'given', 'solana_pay', 'solana:x', 'confirmed', now() + interval '1 hour', 'test',
            now())""", store["id"], payment_id, fiat)


async def test_the_overview_adds_up_money_waiting_and_trouble(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, store = await make_store(pool, "shop")
    paid_now, paid_earlier = await pay(api, headers, "25.00"), await pay(api, headers, "10.00")
    await pay(api, headers, "5.00")                              # still open
    seen = await pay(api, headers, "7.00")
    await pool.execute("UPDATE payments SET status = 'confirmed', confirmed_at = now(), "
                       "amount_received = amount_due WHERE id = $1", paid_now)
    # Confirmed before today (in this month when today is not its first day: the month's
    # figure includes it then; on the first day it falls in last month).
    await pool.execute("UPDATE payments SET status = 'confirmed', amount_received = amount_due,"
                       " confirmed_at = date_trunc('day', now() AT TIME ZONE 'UTC') "
                       "AT TIME ZONE 'UTC' - interval '1 second' WHERE id = $1", paid_earlier)
    await pool.execute("UPDATE payments SET status = 'detected' WHERE id = $1", seen)
    await refund(pool, store, paid_now, "5.00")
    async with pool.acquire() as conn, conn.transaction():
        await transfers.record(conn, {
            "chain": "solana", "tx_id": "3" * 87, "index": 0, "store_id": store["id"],
            "asset": "SOL", "mint": None, "sender": "Sender1111111111111111111111111111111111111",
            "recipient": store["solana_recipient"], "amount": 9, "slot": 5,
            "status": "confirmed", "unmatched_reason": "no reference of ours"})
    async with pool.acquire() as conn:
        ok = await webhooks.insert_endpoint(conn, store["id"], "https://ok.example/h", "s" * 32,
                                            None, ["*"])
        bad = await webhooks.insert_endpoint(conn, store["id"], "https://down.example/h",
                                             "s" * 32, None, ["*"])
        await conn.execute("UPDATE webhook_endpoints SET failing_since = now() WHERE id = $1",
                           bad["id"])
    await sign_in(api, key_of(headers))

    resp = await api.get("/dashboard")
    page = await resp.text()
    assert resp.status == 200, page
    assert figure(page, "received-today") == "20.00 USD"          # 25 paid, 5 refunded
    first_day = datetime.now(UTC).day == 1
    assert figure(page, "received-month") == ("20.00 USD" if first_day else "30.00 USD")
    assert "net of 5.00 USD refunded" in page
    assert figure(page, "open-payments") == "1"
    assert figure(page, "detected-payments") == "1"
    assert figure(page, "unmatched") == "1"
    assert figure(page, "failing-endpoints") == "1"
    assert "https://down.example/h" in page
    assert str(ok["url"]) not in page
    for href in ("/dashboard/payments?status=pending", "/dashboard/payments?status=detected",
                 "/dashboard/inbox", "/dashboard/webhooks"):
        assert f'href="{href}"' in page


async def test_each_watched_chain_says_what_the_database_knows(
        api: TestClient, pool: asyncpg.Pool) -> None:
    headers, _store = await make_store(pool, "shop")
    await sign_in(api, key_of(headers))
    page = await (await api.get("/dashboard")).text()
    row = re.search(r'<tr data-chain="solana">.*?</tr>', page, re.S)
    assert row is not None
    assert "no report yet" in row.group(0)
    assert "no watcher holds the lock" in row.group(0)

    await chain_health.record(pool, "solana", 4321, lag=3, rpc_errors=7)
    async with pool.acquire() as leader:        # a watcher's leadership session
        await leader.execute("SET application_name = 'paywatch-watcher-solana-77'")
        await leader.execute("SELECT pg_advisory_lock($1)", watcher_lock_key("solana"))
        page = await (await api.get("/dashboard")).text()
        await leader.execute("SELECT pg_advisory_unlock($1)", watcher_lock_key("solana"))
    row = re.search(r'<tr data-chain="solana">.*?</tr>', page, re.S)
    assert row is not None
    assert 'data-status="ok">healthy<' in row.group(0)
    assert "paywatch-watcher-solana-77" in row.group(0)
    assert ">4321<" in row.group(0)
    assert ">3 slots<" in row.group(0)
    assert ">7<" in row.group(0)
