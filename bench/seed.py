"""Bulk rows for benchmarks: many open (or stale) payments in one statement per batch, without
going through the API. Never used by the daemon."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg

# Payments $3.. $3+$4-1 of a store: SOL, 1 USD at 150, synthetic unique references, the quote
# given as $6 (a real one, so the API can show them). Their clocks are relative to now():
# `expires_in` may be negative (already stale).
SEED_PAYMENTS = """
INSERT INTO payments (store_id, chain, asset, decimals, recipient, reference, amount_due,
    required_commitment, currency, fiat_amount, fiat_amount_due, price, price_source, price_at,
    quote, payment_url, request_type, created_at, expires_at, monitor_until)
SELECT $1, 'solana', 'SOL', 9, $2, 'bench' || lpad(n::text, 12, '0'), 6666667, 'confirmed',
       'USD', 1, 1, 150, 'static', now(), $6::jsonb, 'solana:' || $2, 'solana_pay',
       now() + $5::interval - interval '15 minutes', now() + $5::interval,
       now() + $5::interval + interval '1 day'
FROM generate_series($3::bigint, $3::bigint + $4::bigint - 1) AS n
"""

COUNT_PAYMENTS = "SELECT count(*) FROM payments"
COUNT_BY_STATUS = "SELECT count(*) FROM payments WHERE status = $1"
ANY_PAYMENT = "SELECT id FROM payments ORDER BY created_at LIMIT 1"


async def seed_payments(conn: asyncpg.Connection, store_id: Any, recipient: str, count: int,
                        quote: dict[str, Any], expires_in: timedelta = timedelta(days=1),
                        batch: int = 50_000,
                        progress: Callable[[int], None] | None = None) -> None:
    first = int(await conn.fetchval(COUNT_PAYMENTS)) + 1
    for start in range(0, count, batch):
        size = min(batch, count - start)
        await conn.execute(SEED_PAYMENTS, store_id, recipient, first + start, size, expires_in,
                           quote)
        if progress is not None:
            progress(start + size)


async def count_by_status(conn: asyncpg.Connection | asyncpg.Pool, status: str) -> int:
    return int(await conn.fetchval(COUNT_BY_STATUS, status))


async def any_payment_id(conn: asyncpg.Connection | asyncpg.Pool) -> Any:
    return await conn.fetchval(ANY_PAYMENT)


async def sol_quote() -> dict[str, Any]:
    """A real quote for 1 USD of SOL from the static price source, as stored on payments."""
    from decimal import Decimal

    import aiohttp

    from paywatch.core.pricing import CfvPolicy, build_quote_service
    from paywatch.core.settings import Settings

    async with aiohttp.ClientSession() as session:
        service = build_quote_service(Settings(_env_file=None), session)
        quote = await service.quote("SOL", 9, Decimal(1), "USD", CfvPolicy(enabled=False))
    return quote.to_json()
