"""SQL for payments. Every state change is one guarded statement; callers run it in the
transaction that also writes the event and the audit row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from db.orders import add_history

PAYMENT_COLUMNS = (
    "store_id", "order_id", "chain", "asset", "mint", "decimals", "recipient", "reference",
    "amount_due", "required_commitment", "currency", "fiat_amount", "fiat_amount_due", "price",
    "price_source", "price_at", "fair_value", "fair_value_source", "valuation_percent",
    "valuation_status", "discount_percent", "quote", "label", "message", "memo", "redirect_url",
    "payment_url", "metadata", "expires_at", "monitor_until", "derivation_index",
)

INSERT_PAYMENT = """
INSERT INTO payments (store_id, order_id, chain, asset, mint, decimals, recipient, reference,
    amount_due, required_commitment, currency, fiat_amount, fiat_amount_due, price,
    price_source, price_at, fair_value, fair_value_source, valuation_percent, valuation_status,
    discount_percent, quote, label, message, memo, redirect_url, payment_url, metadata,
    expires_at, monitor_until, derivation_index)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)
RETURNING *
"""

SELECT_PAYMENT = "SELECT * FROM payments WHERE id = $1 AND store_id = $2"

# Payment clocks start from the database's clock, the same one the expiry sweep reads: a
# process whose own clock is off must not shorten or stretch a payment's lifetime.
SELECT_NOW = "SELECT now()"

# Public lookups (the hosted checkout page) go by the unguessable id alone.
SELECT_PAYMENT_BY_ID = "SELECT * FROM payments WHERE id = $1"

LIST_PAYMENTS = """
SELECT * FROM payments
WHERE store_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR asset = $3)
  AND ($4::uuid IS NULL OR order_id = $4)
  AND ($5::timestamptz IS NULL OR created_at >= $5)
  AND ($6::timestamptz IS NULL OR created_at < $6)
  AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $9
"""

SELECT_TRANSFERS = """
SELECT chain, tx_id, index, asset, mint, sender, recipient, amount, memo, slot, block_time,
       status, reject_reason, seen_at, confirmed_at, reverted_at
FROM transfers WHERE payment_id = $1 ORDER BY seen_at, id
"""

CANCEL_PAYMENT = """
UPDATE payments SET status = 'cancelled', closed_at = now(), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = ANY($3::text[])
RETURNING *
"""

SETTLE_PAYMENT = """
UPDATE payments SET status = 'confirmed', exception = 'marked', confirmed_at = now(),
    closed_at = now(), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = ANY($3::text[])
RETURNING *
"""

# A confirmed payment marks its order paid in the same transaction (guarded: once).
MARK_ORDER_PAID = """
UPDATE orders SET status = 'paid', paid_at = now(), updated_at = now()
WHERE id = $1 AND status = 'pending_payment'
RETURNING id, number, status
"""

SELECT_ORDER_FOR_PAYMENT = """
SELECT id, number, status, currency, total FROM orders WHERE id = $1 AND store_id = $2
"""

# Inside the payment's own transaction: waits for a concurrent cancel, then sees its result.
LOCK_ORDER_FOR_PAYMENT = SELECT_ORDER_FOR_PAYMENT + " FOR SHARE"


async def insert_payment(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_PAYMENT, *(values.get(c) for c in PAYMENT_COLUMNS))


async def database_now(conn: asyncpg.Connection) -> Any:
    return await conn.fetchval(SELECT_NOW)


async def get_payment(conn: asyncpg.Connection, payment_id: Any,
                      store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PAYMENT, payment_id, store_id)


async def get_payment_public(conn: asyncpg.Connection, payment_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PAYMENT_BY_ID, payment_id)


async def list_payments(conn: asyncpg.Connection, store_id: Any, *, status: str | None,
                        asset: str | None, order_id: Any | None, created_gte: datetime | None,
                        created_lt: datetime | None, after: tuple[Any, Any],
                        limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_PAYMENTS, store_id, status, asset, order_id, created_gte,
                            created_lt, after[0], after[1], limit)


async def transfers_of(conn: asyncpg.Connection, payment_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_TRANSFERS, payment_id)


async def cancel_payment(conn: asyncpg.Connection, payment_id: Any, store_id: Any,
                         expected: tuple[str, ...]) -> asyncpg.Record | None:
    return await conn.fetchrow(CANCEL_PAYMENT, payment_id, store_id, list(expected))


async def settle_payment(conn: asyncpg.Connection, payment_id: Any, store_id: Any,
                         expected: tuple[str, ...]) -> asyncpg.Record | None:
    return await conn.fetchrow(SETTLE_PAYMENT, payment_id, store_id, list(expected))


async def mark_order_paid(conn: asyncpg.Connection, order_id: Any, actor: str,
                          reason: str) -> asyncpg.Record | None:
    order = await conn.fetchrow(MARK_ORDER_PAID, order_id)
    if order is not None:
        await add_history(conn, order_id, "pending_payment", "paid", reason, actor)
    return order


async def order_for_payment(conn: asyncpg.Connection, order_id: Any, store_id: Any,
                            lock: bool = False) -> asyncpg.Record | None:
    query = LOCK_ORDER_FOR_PAYMENT if lock else SELECT_ORDER_FOR_PAYMENT
    return await conn.fetchrow(query, order_id, store_id)
