"""SQL for payments, and the one module that writes a payment's status. Every state change is
one guarded statement; callers (paywatch/services/payments.py) run it in the transaction that
also writes the event and the audit row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from db import transfers
from db.orders import add_history

PAYMENT_COLUMNS = (
    "store_id", "order_id", "chain", "asset", "mint", "decimals", "recipient", "reference",
    "amount_due", "required_commitment", "currency", "fiat_amount", "fiat_amount_due", "price",
    "price_source", "price_at", "fair_value", "fair_value_source", "valuation_percent",
    "valuation_status", "discount_percent", "quote", "label", "message", "memo", "redirect_url",
    "payment_url", "metadata", "expires_at", "monitor_until", "derivation_index",
    "request_type", "request_chain_id", "unique_amount",
)

INSERT_PAYMENT = """
INSERT INTO payments (store_id, order_id, chain, asset, mint, decimals, recipient, reference,
    amount_due, required_commitment, currency, fiat_amount, fiat_amount_due, price,
    price_source, price_at, fair_value, fair_value_source, valuation_percent, valuation_status,
    discount_percent, quote, label, message, memo, redirect_url, payment_url, metadata,
    expires_at, monitor_until, derivation_index, request_type, request_chain_id, unique_amount)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, COALESCE($34, false))
RETURNING *
"""

# Serialises amount picking per (chain, recipient, asset) until the payment's transaction ends.
LOCK_UNIQUE_AMOUNTS = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"

# What a new payment is quoted and planned from, in one round trip: the store (all its columns,
# as stores.store_by_id reads them), the accepted asset asked for (asset_* NULL when the store
# does not accept it: the caller then says which it does), and the database's clock.
SELECT_PAYMENT_CONTEXT = """
SELECT s.*, a.asset AS asset_asset, a.mint AS asset_mint, a.decimals AS asset_decimals,
       now() AS database_now
FROM stores s
LEFT JOIN store_assets a ON a.store_id = s.id AND a.chain = $2 AND a.asset = $3 AND a.enabled
WHERE s.id = $1
"""

# A new payment's payment.created event and its audit row, in one statement (the payment's
# JSON travels once: the audit row keeps the event's data.object), waking the webhook
# dispatchers as db/events.py's inserts do.
INSERT_CREATED_EVENT_AND_AUDIT = """
WITH event AS (
    INSERT INTO events (store_id, type, payment_id, order_id, data)
    VALUES ($1, 'payment.created', $2, $3, $4)
    RETURNING data
), audit AS (
    INSERT INTO audit_log (store_id, actor, action, object_type, object_id, before, after)
    SELECT $1, $5, 'payment.create', 'payment', $2::text, NULL::jsonb, event.data -> 'object'
    FROM event
    RETURNING 1
)
SELECT pg_notify('paywatch_events', '') FROM audit
"""

# Amounts already taken in [low, high] among the unique-amount payments (an EVM shared address,
# a Solana store that opted in) to one recipient and asset that a transfer could still pay: the
# open ones ($6), and the other watched ones ($7) until their monitor_until. Both status lists
# come from paywatch.core.states (OPEN_PAYMENT, WATCHED_PAYMENT). Recipients are compared as
# stored: each chain's adapter writes its canonical form (EVM checksum, Solana base58, which is
# case-sensitive), and payments_unique_amount_idx covers the exact match.
TAKEN_UNIQUE_AMOUNTS = """
SELECT amount_due FROM payments
WHERE chain = $1 AND recipient = $2 AND unique_amount AND COALESCE(mint, '') = COALESCE($3, '')
  AND amount_due BETWEEN $4 AND $5
  AND (status = ANY($6::text[]) OR (status = ANY($7::text[]) AND monitor_until > now()))
"""

SELECT_PAYMENT = "SELECT * FROM payments WHERE id = $1 AND store_id = $2"

# Payment clocks start from the database's clock, the same one the expiry sweep reads: a
# process whose own clock is off must not shorten or stretch a payment's lifetime.
SELECT_NOW = "SELECT now()"

# GET /v1/payments/{id} in one round trip: the payment with each of its transfers beside it
# (LEFT JOIN: one row, transfer_* NULL, for a payment with none), the transfer's columns named
# transfer_<column>. A composite ARRAY(SELECT t ...) would be one row, but asyncpg cannot
# decode a composite holding our text-format NUMERIC codec.
TRANSFER_FIELDS = tuple(c.strip().removeprefix("t.") for c in transfers.OBJECT_COLUMNS.split(","))
SELECT_PAYMENT_WITH_TRANSFERS = """
SELECT p.*, """ + ", ".join(f"t.{c} AS transfer_{c}" for c in TRANSFER_FIELDS) + """
FROM payments p LEFT JOIN transfers t ON t.payment_id = p.id
WHERE p.id = $1 AND p.store_id = $2
ORDER BY t.seen_at, t.id
"""

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

SELECT_TRANSFERS = f"""
SELECT {transfers.OBJECT_COLUMNS} FROM transfers t WHERE t.payment_id = $1
ORDER BY t.seen_at, t.id
"""  # noqa: S608 (constant SQL fragments, no input)

# ----- status changes: every UPDATE of payments.status is here, each guarded by the statuses
# it may start from ($expected, which the caller takes from the transition table in
# paywatch/core/states.py), so a concurrent change turns it into a no-op, never a lost update.

# The facts settlement decides from, with the payment locked until the transaction ends.
SELECT_PAYMENT_FACTS = """
SELECT p.id, p.store_id, p.order_id, p.status, p.exception, p.amount_due, p.amount_received,
       p.required_commitment, p.expires_at, p.price, p.decimals, s.accept_late_payments,
       s.underpaid_tolerance_percent, s.underpaid_tolerance_amount, s.confirmation_window
FROM payments p JOIN stores s ON s.id = p.store_id
WHERE p.id = $1
FOR UPDATE OF p
"""

# A settlement decision. Reaching `confirmed` or `expired` closes the payment, whichever path
# took it (the expiry sweep or a late transfer): one transition, one outcome.
APPLY_DECISION = """
UPDATE payments SET status = $3, exception = $4, amount_received = $5,
    detected_at = COALESCE(detected_at, CASE WHEN $3 IN ('detected', 'confirmed') THEN now() END),
    confirm_deadline_at = CASE WHEN $3 = 'detected' AND confirm_deadline_at IS NULL
                               THEN now() + $6::interval ELSE confirm_deadline_at END,
    confirmed_at = CASE WHEN $3 = 'confirmed' THEN now() ELSE confirmed_at END,
    closed_at = CASE WHEN $3 = 'confirmed' THEN now()
                     WHEN $3 = 'expired' THEN COALESCE(closed_at, now())
                     ELSE closed_at END,
    updated_at = now()
WHERE id = $1 AND status = ANY($2::text[])
RETURNING *
"""

CANCEL_PAYMENT = """
UPDATE payments SET status = 'cancelled', closed_at = now(), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = ANY($3::text[])
RETURNING *
"""

# A cancelled order's payments that may still be paid.
CANCEL_PAYMENTS_OF_ORDER = """
UPDATE payments SET status = 'cancelled', closed_at = now(), updated_at = now()
WHERE order_id = $1 AND status = ANY($2::text[])
RETURNING *
"""

SETTLE_PAYMENT = """
UPDATE payments SET status = 'confirmed', exception = 'marked', confirmed_at = now(),
    closed_at = now(), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = ANY($3::text[])
RETURNING *
"""

# Sweeps: one batch is one statement; rows are claimed with FOR UPDATE SKIP LOCKED, so two
# processes sweeping at once never take the same row, and the guard makes a repeat a no-op.
def _sweep(source: str, clock: str, target: str) -> str:
    """Payments in `source` whose `clock` has passed move to `target` (the guard is $2).
    Called only with the literals below, at import: no outside text reaches the SQL."""
    return f"""
WITH due AS (
    SELECT id FROM payments
    WHERE status = '{source}' AND {clock} <= now()
    ORDER BY {clock}
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE payments p SET status = '{target}', closed_at = now(), updated_at = now()
FROM due WHERE p.id = due.id AND p.status = ANY($2::text[])
RETURNING p.*
"""  # noqa: S608


# Pending payments past their quote's lifetime.
EXPIRE_DUE = _sweep("pending", "expires_at", "expired")

# Detected payments whose money never reached the required commitment in time.
INVALIDATE_DUE = _sweep("detected", "confirm_deadline_at", "invalid")

# The account that asked for the Solana Pay Transaction Request (the refund destination
# later): recorded only while the payment still asks for money (pending, or detected and
# underpaid, before it expires); the latest request wins. Not a status change: no event.
SET_PAYER = """
UPDATE payments SET payer = $2, updated_at = now()
WHERE id = $1 AND expires_at > now()
  AND (status = 'pending' OR (status = 'detected' AND exception = 'underpaid'))
RETURNING id
"""

SELECT_PAYER = "SELECT payer FROM payments WHERE id = $1"

# A refund confirmed (positive delta) or its transfer reverted (negative): guarded, so what was
# given back stays between 0 and what the payment received. Not a status change: the refund's
# own event says it.
ADD_REFUNDED = """
UPDATE payments SET amount_refunded = amount_refunded + $2, updated_at = now()
WHERE id = $1 AND amount_refunded + $2 >= 0 AND amount_refunded + $2 <= amount_received
RETURNING *
"""

SELECT_TRANSFERS_OF_MANY = f"""
SELECT {transfers.OBJECT_COLUMNS} FROM transfers t WHERE t.payment_id = ANY($1::uuid[])
ORDER BY t.seen_at, t.id
"""  # noqa: S608 (constant SQL fragments, no input)

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


async def payment_context(conn: asyncpg.Connection, store_id: Any, chain: str,
                          asset: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PAYMENT_CONTEXT, store_id, chain, asset)


async def record_created(conn: asyncpg.Connection, row: asyncpg.Record, data: dict[str, Any],
                         actor: str) -> None:
    """payment.created with `data`, and its audit row (after: data's object)."""
    await conn.execute(INSERT_CREATED_EVENT_AND_AUDIT, row["store_id"], row["id"],
                       row["order_id"], data, actor)


async def taken_unique_amounts(conn: asyncpg.Connection, chain: str, recipient: str,
                               mint: str | None, low: int, high: int, *,
                               open_statuses: Sequence[str],
                               watched_statuses: Sequence[str]) -> set[int]:
    """Locks the (chain, recipient, asset) amount space for this transaction, then reads it."""
    await conn.execute(LOCK_UNIQUE_AMOUNTS, f"{chain}/{recipient}/{mint or ''}")
    rows = await conn.fetch(TAKEN_UNIQUE_AMOUNTS, chain, recipient, mint, low, high,
                            list(open_statuses), list(watched_statuses))
    return {r["amount_due"] for r in rows}


async def database_now(conn: asyncpg.Connection) -> Any:
    return await conn.fetchval(SELECT_NOW)


async def get_payment(conn: asyncpg.Connection, payment_id: Any,
                      store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PAYMENT, payment_id, store_id)


async def payment_with_transfers(conn: asyncpg.Connection, payment_id: Any, store_id: Any
                                 ) -> tuple[asyncpg.Record | None, list[dict[str, Any]]]:
    """A store's payment and its transfers (as transfers_of orders and names them), or None."""
    rows = await conn.fetch(SELECT_PAYMENT_WITH_TRANSFERS, payment_id, store_id)
    if not rows:
        return None, []
    found = [{c: r[f"transfer_{c}"] for c in TRANSFER_FIELDS}
             for r in rows if r["transfer_id"] is not None]
    return rows[0], found


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


async def transfers_of_many(conn: asyncpg.Connection,
                            payment_ids: list[Any]) -> dict[Any, list[asyncpg.Record]]:
    """Transfers of several payments in one query, by payment id."""
    found: dict[Any, list[asyncpg.Record]] = {i: [] for i in payment_ids}
    for row in await conn.fetch(SELECT_TRANSFERS_OF_MANY, payment_ids):
        found[row["payment_id"]].append(row)
    return found


async def payment_facts(conn: asyncpg.Connection, payment_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PAYMENT_FACTS, payment_id)


async def apply_decision(conn: asyncpg.Connection, payment_id: Any, expected: Sequence[str],
                         status: str, exception: str | None, received: int,
                         window: timedelta | Any) -> asyncpg.Record | None:
    return await conn.fetchrow(APPLY_DECISION, payment_id, list(expected), status, exception,
                               received, window)


async def cancel_payment(conn: asyncpg.Connection, payment_id: Any, store_id: Any,
                         expected: Sequence[str]) -> asyncpg.Record | None:
    return await conn.fetchrow(CANCEL_PAYMENT, payment_id, store_id, list(expected))


async def cancel_payments_of_order(conn: asyncpg.Connection, order_id: Any,
                                   expected: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(CANCEL_PAYMENTS_OF_ORDER, order_id, list(expected))


async def settle_payment(conn: asyncpg.Connection, payment_id: Any, store_id: Any,
                         expected: Sequence[str]) -> asyncpg.Record | None:
    return await conn.fetchrow(SETTLE_PAYMENT, payment_id, store_id, list(expected))


async def expire_due(conn: asyncpg.Connection, limit: int,
                     expected: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(EXPIRE_DUE, limit, list(expected))


async def invalidate_due(conn: asyncpg.Connection, limit: int,
                         expected: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(INVALIDATE_DUE, limit, list(expected))


async def set_payer(conn: asyncpg.Connection, payment_id: Any, payer: str) -> bool:
    return await conn.fetchval(SET_PAYER, payment_id, payer) is not None


async def add_refunded(conn: asyncpg.Connection, payment_id: Any,
                       delta: int) -> asyncpg.Record | None:
    return await conn.fetchrow(ADD_REFUNDED, payment_id, delta)


async def payer_of(conn: asyncpg.Connection, payment_id: Any) -> str | None:
    return await conn.fetchval(SELECT_PAYER, payment_id)


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
