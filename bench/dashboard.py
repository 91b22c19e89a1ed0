"""Dashboard: the payments page's server time with 100,000 payments in one store.

    .venv/bin/python bench/dashboard.py [--payments 100000] [--requests 200]

Seeds one store with `--payments` payments in SQL (a year of them, newest last: statuses,
exceptions, SOL/USDC on Solana and ETH deposit addresses on an EVM chain, half with orders, a
transfer for each paid one, their events), signs in to the dashboard of the real app (an
aiohttp test server in this process), then reads each case `--requests` times and prints the
server time (a middleware's clock around the handler: session, queries and template) at p50
and p99, and each p99's ratio to the 100 ms target. PAYWATCH_DATABASE_URL names a server to
create the database on (else an embedded one). Asserts nothing."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import build_app
from api.pagination import encode_cursor
from bench.common import admin_server, database
from bench.seed import sol_quote
from db.pool import create_pool
from paywatch.chains import build_chains
from paywatch.core.settings import Settings
from paywatch.services.keys import create_key
from paywatch.services.stores import create_store
from tests.dashboard.helpers import sign_in

RECIPIENT = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
TARGET_MS = 100.0
BATCH = 10_000

# Payment n of the store ($1): created ($3 - n) x 311 s ago (a year for 100,000), one in ten on
# the EVM chain "base" with its own deposit address, the rest SOL or USDC on Solana; status and
# exception by n % 100 (80 % confirmed, 8 % expired, 5 % pending, 3 % detected, 2 % cancelled,
# 1 % invalid; 1 % each overpaid, paid late, underpaid, marked). Ids are md5(n): the orders,
# transfers and events of a batch find their payment without reading anything back.
SEED_ORDERS = """
INSERT INTO orders (id, store_id, number, status, currency, subtotal, total, created_at,
                    updated_at, paid_at)
SELECT md5('order' || n)::uuid, $1, 'B' || lpad(n::text, 7, '0'),
       CASE WHEN n % 100 < 80 OR n % 100 = 99 THEN 'paid' ELSE 'pending_payment' END,
       'USD', 10 + n % 90, 10 + n % 90, c.at, c.at,
       CASE WHEN n % 100 < 80 OR n % 100 = 99 THEN c.at + interval '2 minutes' END
FROM generate_series($2::bigint, $2::bigint + $4::bigint - 1) AS n
CROSS JOIN LATERAL (SELECT now() - make_interval(secs => ($3 - n) * 311.0) AS at) c
WHERE n % 2 = 0
"""

SEED_PAYMENTS = """
INSERT INTO payments (id, store_id, order_id, chain, asset, mint, decimals, recipient, reference,
    derivation_index, status, exception, amount_due, amount_received, required_commitment,
    currency, fiat_amount, fiat_amount_due, price, price_source, price_at, quote, payment_url,
    request_type, created_at, updated_at, expires_at, monitor_until, detected_at, confirmed_at,
    closed_at)
SELECT md5('payment' || n)::uuid, $1, CASE WHEN n % 2 = 0 THEN md5('order' || n)::uuid END,
       k.chain, k.asset, k.mint, k.decimals, k.recipient, k.reference, k.dindex, s.status,
       s.exception, 6666667, CASE WHEN s.paid THEN 6666667 ELSE 0 END, 'confirmed', 'USD',
       10 + n % 90, 10 + n % 90, 150, 'static', c.at, $5::jsonb,
       k.scheme || ':' || k.recipient, k.request, c.at, c.at, c.at + interval '15 minutes',
       c.at + interval '1 day', CASE WHEN s.paid THEN c.at + interval '30 seconds' END,
       CASE WHEN s.status = 'confirmed' THEN c.at + interval '1 minute' END,
       CASE WHEN s.status NOT IN ('pending', 'detected') THEN c.at + interval '1 minute' END
FROM generate_series($2::bigint, $2::bigint + $4::bigint - 1) AS n
CROSS JOIN LATERAL (SELECT now() - make_interval(secs => ($3 - n) * 311.0) AS at) c
CROSS JOIN LATERAL (SELECT
    CASE WHEN n % 100 < 80 OR n % 100 = 99 THEN 'confirmed' WHEN n % 100 < 88 THEN 'expired'
         WHEN n % 100 < 93 THEN 'pending' WHEN n % 100 < 96 THEN 'detected'
         WHEN n % 100 < 98 THEN 'cancelled' ELSE 'invalid' END AS status,
    CASE n % 100 WHEN 79 THEN 'overpaid' WHEN 87 THEN 'paid_late' WHEN 95 THEN 'underpaid'
                 WHEN 99 THEN 'marked' END AS exception,
    n % 100 < 80 OR n % 100 IN (87, 93, 94, 95) AS paid) s
CROSS JOIN LATERAL (SELECT
    CASE WHEN n % 10 = 3 THEN 'base' ELSE 'solana' END AS chain,
    CASE WHEN n % 10 = 3 THEN 'ETH' WHEN n % 10 >= 7 THEN 'USDC' ELSE 'SOL' END AS asset,
    CASE WHEN n % 10 >= 7 THEN $6 END AS mint,
    CASE WHEN n % 10 = 3 THEN 18 WHEN n % 10 >= 7 THEN 6 ELSE 9 END AS decimals,
    CASE WHEN n % 10 = 3 THEN '0x' || lpad(n::text, 40, '0') ELSE $7 END AS recipient,
    CASE WHEN n % 10 = 3 THEN NULL ELSE 'dashbench' || lpad(n::text, 12, '0') END AS reference,
    CASE WHEN n % 10 = 3 THEN n::int END AS dindex,
    CASE WHEN n % 10 = 3 THEN 'ethereum' ELSE 'solana' END AS scheme,
    CASE WHEN n % 10 = 3 THEN 'eip681' ELSE 'solana_pay' END AS request) k
"""

SEED_TRANSFERS = """
INSERT INTO transfers (chain, tx_id, index, payment_id, asset, mint, recipient, amount, slot,
                       status, seen_at, confirmed_at, matched_by)
SELECT p.chain,
       CASE WHEN p.chain = 'base' THEN '0x' || md5('tx' || n) || md5('tx2' || n)
            ELSE 'dashbenchsig' || lpad(n::text, 76, '0') END,
       0, p.id, p.asset, p.mint, p.recipient, p.amount_received, n,
       CASE WHEN p.status = 'detected' THEN 'processed' ELSE 'finalized' END,
       p.detected_at, CASE WHEN p.status <> 'detected' THEN p.detected_at END,
       CASE WHEN p.chain = 'base' THEN 'deposit_address' ELSE 'reference' END
FROM generate_series($1::bigint, $1::bigint + $2::bigint - 1) AS n
JOIN payments p ON p.id = md5('payment' || n)::uuid
WHERE p.amount_received > 0
"""

SEED_EVENTS = """
INSERT INTO events (store_id, type, payment_id, order_id, data, created_at, dispatched_at)
SELECT p.store_id, e.type, p.id, p.order_id, '{}'::jsonb, e.at, e.at
FROM generate_series($1::bigint, $1::bigint + $2::bigint - 1) AS n
JOIN payments p ON p.id = md5('payment' || n)::uuid
CROSS JOIN LATERAL (VALUES ('payment.created', p.created_at),
                           ('payment.confirmed', p.confirmed_at)) AS e(type, at)
WHERE e.at IS NOT NULL
"""

# The cursor of the row `$2` rows down the store's list (the deep page's starting point; the
# bench reads it once, the page itself never counts).
ROW_AT = """
SELECT created_at, id FROM payments WHERE store_id = $1
ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1
"""


async def seed(pool: Any, count: int) -> tuple[str, Any]:
    """A store with `count` payments; (its API key, its id)."""
    quote = await sol_quote()
    async with pool.acquire() as conn:
        store = await create_store(conn, "bench", "Bench", RECIPIENT,
                                   [("USDC", USDC_MINT, 6)], "bench")
        key, _row = await create_key(conn, store["id"], "bench",
                                     ["payments:read", "payments:write", "webhooks:read",
                                      "webhooks:write"], "bench")
        started = time.perf_counter()
        for first in range(1, count + 1, BATCH):
            size = min(BATCH, count - first + 1)
            async with conn.transaction():
                await conn.execute(SEED_ORDERS, store["id"], first, count, size)
                await conn.execute(SEED_PAYMENTS, store["id"], first, count, size, quote,
                                   USDC_MINT, RECIPIENT)
                await conn.execute(SEED_TRANSFERS, first, size)
                await conn.execute(SEED_EVENTS, first, size)
            done = first + size - 1
            print(f"  seeded {done:,}/{count:,} payments "
                  f"({time.perf_counter() - started:.0f} s)", end="\r", flush=True)
        print()
        await conn.execute("VACUUM ANALYZE")   # as autovacuum would, soon after
    return key, store["id"]


def server_clock(times: list[float]) -> Callable[..., Any]:
    """A middleware recording each answer's server time (ms) in `times`."""
    @web.middleware
    async def timed(request: web.Request, handler: Callable[[web.Request],
                                                            Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            times.append((time.perf_counter() - started) * 1000)
    return timed


async def measure(client: TestClient, times: list[float], path: str,
                  requests: int) -> tuple[float, float, int]:
    for _ in range(5):   # warm: the pool's connections prepare their statements
        await (await client.get(path)).read()
    times.clear()
    for _ in range(requests):
        answer = await client.get(path)
        body = await answer.text()
        assert answer.status == 200, (path, answer.status, body[:500])
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, body.count("data-payment=")


async def run(args: argparse.Namespace) -> None:
    async with admin_server() as admin:
        dsn = await database(admin)
        print(f"database: {dsn.rsplit('/', 1)[-1]} (kept, for EXPLAIN)")
        pool = await create_pool(dsn, min_size=2, max_size=10)
        try:
            print(f"seeding {args.payments:,} payments in one store")
            key, store_id = await seed(pool, args.payments)
            deep = await pool.fetchrow(ROW_AT, store_id, args.payments * 95 // 100)
            cases = cases_for(args.payments, encode_cursor(deep["created_at"], deep["id"]))
            settings = Settings(database_url=dsn, _env_file=None)
            app = build_app(settings, pool, chains=build_chains(settings))
            times: list[float] = []
            app.middlewares.insert(0, server_clock(times))
            client = TestClient(TestServer(app))
            await client.start_server()
            try:
                await sign_in(client, key)
                print(f"\n{'case':<34} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8} "
                      f"{'p99/100ms':>10}")
                for name, path in cases:
                    p50, p99, rows = await measure(client, times, path, args.requests)
                    print(f"{name:<34} {rows:>5} {p50:>8.1f} {p99:>8.1f} "
                          f"{p99 / TARGET_MS:>9.2f}x")
            finally:
                await client.close()
        finally:
            await pool.close()


def cases_for(count: int, deep_cursor: str) -> list[tuple[str, str]]:
    """The pages measured; their search terms name seeded rows near the middle."""
    mid = count // 2
    order_n = mid - mid % 2                                 # even n: has an order
    solana_n = mid - mid % 10 + 1                          # n % 10 = 1: SOL on Solana
    evm_n = mid - mid % 100 + 3                            # n % 100 = 3: paid, on base
    return [
        ("first page", "/dashboard/payments"),
        ("filter status=detected", "/dashboard/payments?status=detected"),
        ("filter exception=underpaid", "/dashboard/payments?exception=underpaid"),
        ("filter USDC, 30 days", "/dashboard/payments?asset=USDC&from="
         + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 30 * 86400))),
        ("search order number", f"/dashboard/payments?q=B{order_n:07d}"),
        ("search reference", f"/dashboard/payments?q=dashbench{solana_n:012d}"),
        ("search Solana tx id", f"/dashboard/payments?q=dashbenchsig{solana_n:076d}"),
        ("search EVM deposit address", f"/dashboard/payments?q=0x{evm_n:040d}"),
        ("search the store's own address", f"/dashboard/payments?q={RECIPIENT}"),
        ("search with no match", "/dashboard/payments?q=nothing-like-this"),
        ("deep keyset page (95 %)", f"/dashboard/payments?after={deep_cursor}"),
        ("payment page", f"/dashboard/payments/{seeded_id('payment', evm_n)}"),
        ("overview", "/dashboard"),
    ]


def seeded_id(kind: str, n: int) -> uuid.UUID:
    """The id the seeding SQL gave row n (md5(kind || n)::uuid)."""
    return uuid.UUID(hashlib.md5(f"{kind}{n}".encode()).hexdigest())  # noqa: S324 (an id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
