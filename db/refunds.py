"""SQL for refunds, and the one module that writes a refund's status. Every change is one guarded
statement (the statuses it may start from come from paywatch/core/states.py through the caller,
paywatch/services/refunds.py, which runs it in the transaction that emits its event)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from db import transfers
from db.orders import add_history

REFUND_COLUMNS = (
    "store_id", "payment_id", "order_id", "chain", "asset", "mint", "decimals", "amount",
    "currency", "fiat_amount", "rate", "price", "price_source", "source", "destination",
    "destination_from", "reference", "request_type", "request_chain_id", "payment_url",
    "reason", "expires_at", "created_by",
)

INSERT_REFUND = """
INSERT INTO refunds (store_id, payment_id, order_id, chain, asset, mint, decimals, amount,
    currency, fiat_amount, rate, price, price_source, source, destination, destination_from,
    reference, request_type, request_chain_id, payment_url, reason, expires_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23)
RETURNING *
"""

SELECT_REFUND = "SELECT * FROM refunds WHERE id = $1 AND store_id = $2"

# The watcher's side: a refund by id alone, locked until its transaction ends.
LOCK_REFUND = "SELECT * FROM refunds WHERE id = $1 FOR UPDATE"

LIST_REFUNDS = """
SELECT * FROM refunds
WHERE store_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::uuid IS NULL OR payment_id = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
ORDER BY created_at DESC, id DESC
LIMIT $6
"""

# What a new refund may still give back: received, minus confirmed refunds, minus pending
# ones (a pending refund holds its amount until it is confirmed, expires or is cancelled).
PENDING_TOTAL = """
SELECT COALESCE(sum(amount), 0)::numeric FROM refunds WHERE payment_id = $1 AND status = 'pending'
"""

# The payment's money as the refund needs it: locked, so two refunds of one payment are
# decided one after the other, and the senders of its live transfers (destination rules).
LOCK_PAYMENT = "SELECT * FROM payments WHERE id = $1 FOR UPDATE"

PAYMENT_SENDERS = """
SELECT sender, matched_by, via_program FROM transfers
WHERE payment_id = $1 AND direction = 'in' AND status IN ('processed', 'confirmed', 'finalized')
ORDER BY seen_at, id
"""

# ----- status changes ----------------------------------------------------------------------

CONFIRM = """
UPDATE refunds SET status = 'confirmed', confirmed_at = now(), closed_at = now(),
    updated_at = now()
WHERE id = $1 AND status = ANY($2::text[])
RETURNING *
"""

# Back to pending: the transfer that confirmed it was reverted (see services/refunds.py).
REOPEN = """
UPDATE refunds SET status = 'pending', confirmed_at = NULL, closed_at = NULL, updated_at = now()
WHERE id = $1 AND status = ANY($2::text[])
RETURNING *
"""

CANCEL = """
UPDATE refunds SET status = 'cancelled', closed_at = now(), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = ANY($3::text[])
RETURNING *
"""

# Pending refunds past their lifetime, in batches claimed with SKIP LOCKED (like payments').
EXPIRE_DUE = """
WITH due AS (
    SELECT id FROM refunds
    WHERE status = 'pending' AND expires_at <= now()
    ORDER BY expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE refunds r SET status = 'expired', closed_at = now(), updated_at = now()
FROM due WHERE r.id = due.id AND r.status = ANY($2::text[])
RETURNING r.*
"""

# The refund's outgoing transfers (status decides confirmation).
OUT_TRANSFERS = """
SELECT id, amount, status, slot FROM transfers
WHERE refund_id = $1 AND direction = 'out' ORDER BY seen_at, id
"""

# What a refund's JSON shows of its transfers (paywatch/core/objects.refund_object).
SELECT_TRANSFERS = f"""
SELECT {transfers.OBJECT_COLUMNS} FROM transfers t WHERE t.refund_id = $1 ORDER BY t.seen_at, t.id
"""  # noqa: S608 (constant SQL fragments, no input)

SELECT_TRANSFERS_OF_MANY = f"""
SELECT t.refund_id, {transfers.OBJECT_COLUMNS} FROM transfers t
WHERE t.refund_id = ANY($1::uuid[]) ORDER BY t.seen_at, t.id
"""  # noqa: S608 (constant SQL fragments, no input)

# Refunds with a transfer in one transaction (the tracker moved that transaction's status).
REFUNDS_OF_TX = """
SELECT DISTINCT refund_id FROM transfers WHERE chain = $1 AND tx_id = $2 AND refund_id IS NOT NULL
"""

# Refunds whose outgoing transfers may have moved on a chain (EVM depth/reorgs move transfers by
# block, not by transaction): pending ones with a live transfer, confirmed ones with a dead one,
# and pending ones whose transfer was just promoted.
REFUNDS_TO_RESETTLE = """
SELECT DISTINCT r.id FROM refunds r JOIN transfers t ON t.refund_id = r.id
WHERE r.chain = $1 AND t.direction = 'out'
  AND ((r.status = 'pending' AND t.status IN ('processed', 'confirmed', 'finalized'))
       OR (r.status = 'confirmed' AND t.status = 'reverted'))
"""

# What a refund's dashboard page shows changes with its status and its transfers' statuses: the
# live page's version (api/dashboard/live.py); no row for another store's refund.
REFUND_VERSION = """
SELECT r.status || ';' || COALESCE(string_agg(t.id::text || ':' || t.status, ','
                                              ORDER BY t.id), '')
FROM refunds r LEFT JOIN transfers t ON t.refund_id = r.id
WHERE r.id = $1 AND r.store_id = $2
GROUP BY r.id, r.status
"""

# ----- the order of a refunded payment -------------------------------------------------------

MOVE_ORDER = """
UPDATE orders SET status = $2, updated_at = now()
WHERE id = $1 AND status = ANY($3::text[])
RETURNING id, status
"""

SELECT_ORDER_STATUS = "SELECT status FROM orders WHERE id = $1 FOR UPDATE"

# The status an order had before its refunds: the newest history step into a status that is not
# a refund one.
STATUS_BEFORE_REFUNDS = """
SELECT to_status FROM order_status_history
WHERE order_id = $1 AND to_status NOT IN ('refunded', 'partially_refunded')
ORDER BY created_at DESC, id DESC LIMIT 1
"""

# ----- the Solana watcher's index of pending refunds ----------------------------------------

SELECT_PENDING = """
SELECT id, store_id, reference, source, destination, asset, mint, amount FROM refunds
WHERE chain = $1 AND status = 'pending' AND reference IS NOT NULL
"""

SELECT_PENDING_BY_REFERENCE = SELECT_PENDING + " AND reference = ANY($2::text[])"
SELECT_PENDING_AMONG = SELECT_PENDING + " AND id = ANY($2::uuid[])"

# EVM: pending refunds to some of `$2` (lower-case addresses), oldest first, that no live
# transfer pays yet (one waiting for depth must not take a second one); matched by asset and
# exact amount (refunds_pending_idx narrows them to the chain's pending ones).
SELECT_PENDING_TO = """
SELECT r.id, r.store_id, r.destination, r.asset, r.mint, r.amount FROM refunds r
WHERE r.chain = $1 AND r.status = 'pending' AND lower(r.destination) = ANY($2::text[])
  AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.refund_id = r.id
                  AND t.status IN ('processed', 'confirmed', 'finalized'))
ORDER BY r.created_at, r.id
"""


async def insert(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_REFUND, *(values.get(c) for c in REFUND_COLUMNS))


async def get(conn: asyncpg.Connection, refund_id: Any, store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_REFUND, refund_id, store_id)


async def version(conn: asyncpg.Connection, refund_id: Any, store_id: Any) -> str | None:
    return await conn.fetchval(REFUND_VERSION, refund_id, store_id)


async def lock(conn: asyncpg.Connection, refund_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_REFUND, refund_id)


async def list_refunds(conn: asyncpg.Connection, store_id: Any, *, status: str | None,
                       payment_id: Any | None, after: tuple[Any, Any],
                       limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_REFUNDS, store_id, status, payment_id, after[0], after[1],
                            limit)


async def pending_total(conn: asyncpg.Connection, payment_id: Any) -> int:
    return int(await conn.fetchval(PENDING_TOTAL, payment_id))


async def lock_payment(conn: asyncpg.Connection, payment_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_PAYMENT, payment_id)


async def payment_senders(conn: asyncpg.Connection, payment_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(PAYMENT_SENDERS, payment_id)


async def confirm(conn: asyncpg.Connection, refund_id: Any,
                  expected: Sequence[str]) -> asyncpg.Record | None:
    return await conn.fetchrow(CONFIRM, refund_id, list(expected))


async def reopen(conn: asyncpg.Connection, refund_id: Any,
                 expected: Sequence[str]) -> asyncpg.Record | None:
    return await conn.fetchrow(REOPEN, refund_id, list(expected))


async def cancel(conn: asyncpg.Connection, refund_id: Any, store_id: Any,
                 expected: Sequence[str]) -> asyncpg.Record | None:
    return await conn.fetchrow(CANCEL, refund_id, store_id, list(expected))


async def expire_due(conn: asyncpg.Connection, limit: int,
                     expected: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(EXPIRE_DUE, limit, list(expected))


async def out_transfers(conn: asyncpg.Connection, refund_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(OUT_TRANSFERS, refund_id)


async def transfers_of(conn: asyncpg.Connection, refund_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_TRANSFERS, refund_id)


async def transfers_of_many(conn: asyncpg.Connection,
                            refund_ids: list[Any]) -> dict[Any, list[asyncpg.Record]]:
    found: dict[Any, list[asyncpg.Record]] = {i: [] for i in refund_ids}
    for row in await conn.fetch(SELECT_TRANSFERS_OF_MANY, refund_ids):
        found[row["refund_id"]].append(row)
    return found


async def refunds_of_tx(conn: asyncpg.Connection, chain: str, tx_id: str) -> list[Any]:
    return [r["refund_id"] for r in await conn.fetch(REFUNDS_OF_TX, chain, tx_id)]


async def refunds_to_resettle(conn: asyncpg.Connection, chain: str) -> list[Any]:
    return [r["id"] for r in await conn.fetch(REFUNDS_TO_RESETTLE, chain)]


async def order_status(conn: asyncpg.Connection, order_id: Any) -> str | None:
    return await conn.fetchval(SELECT_ORDER_STATUS, order_id)


async def status_before_refunds(conn: asyncpg.Connection, order_id: Any) -> str | None:
    return await conn.fetchval(STATUS_BEFORE_REFUNDS, order_id)


async def move_order(conn: asyncpg.Connection, order_id: Any, status: str,
                     expected: Sequence[str], reason: str, actor: str) -> str | None:
    """Move the order to `status` from one of `expected`, with its history row; the status it
    left, or None when the guard refused (nothing written)."""
    before = await order_status(conn, order_id)
    if before is None or before not in expected:
        return None
    row = await conn.fetchrow(MOVE_ORDER, order_id, status, list(expected))
    if row is None:
        return None
    await add_history(conn, order_id, before, status, reason, actor)
    return before


async def pending_refunds(conn: asyncpg.Connection, chain: str) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PENDING, chain)


async def pending_by_reference(conn: asyncpg.Connection, chain: str,
                               references: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PENDING_BY_REFERENCE, chain, list(references))


async def pending_among(conn: asyncpg.Connection, chain: str,
                        refund_ids: Sequence[Any]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PENDING_AMONG, chain, list(refund_ids))


async def pending_to(conn: asyncpg.Connection, chain: str,
                     addresses: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PENDING_TO, chain, list(addresses))
