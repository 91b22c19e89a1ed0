"""SQL for transfers (append-only: statuses move forward or to reverted and back when the
transaction is re-included; rows never go away)
and for the facts a payment's settlement needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

# A transaction seen again after it was reverted (re-included after a reorg or a dead fork)
# comes back to life in its new block; any other repeat changes nothing.
INSERT_TRANSFER = """
INSERT INTO transfers (chain, tx_id, index, payment_id, asset, mint, sender, recipient, amount,
                       memo, slot, block_time, status, reject_reason, confirmed_at, block_hash,
                       store_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
        CASE WHEN $13 IN ('confirmed', 'finalized') THEN now() END, $15, $16)
ON CONFLICT (chain, tx_id, index) DO UPDATE
SET status = EXCLUDED.status, slot = EXCLUDED.slot, block_hash = EXCLUDED.block_hash,
    block_time = EXCLUDED.block_time, confirmed_at = EXCLUDED.confirmed_at, reverted_at = NULL
WHERE transfers.status = 'reverted' AND EXCLUDED.status <> 'rejected'
RETURNING id
"""

# Forward only: processed -> confirmed -> finalized; a replayed or stale status changes nothing.
ADVANCE_TRANSFERS = """
UPDATE transfers SET status = $3,
    confirmed_at = COALESCE(confirmed_at, CASE WHEN $3 IN ('confirmed', 'finalized')
                                               THEN now() END)
WHERE chain = $1 AND tx_id = $2
  AND ((status = 'processed' AND $3 IN ('confirmed', 'finalized'))
       OR (status = 'confirmed' AND $3 = 'finalized'))
RETURNING payment_id
"""

REVERT_TRANSFERS = """
UPDATE transfers SET status = 'reverted', reverted_at = now()
WHERE chain = $1 AND tx_id = $2 AND status IN ('processed', 'confirmed')
RETURNING payment_id
"""

OPEN_TRANSFER_TXS = """
SELECT tx_id, min(slot) AS slot, min(seen_at) AS seen_at FROM transfers
WHERE chain = $1 AND status IN ('processed', 'confirmed')
GROUP BY tx_id ORDER BY min(seen_at) LIMIT $2
"""

SELECT_PAYMENT_FACTS = """
SELECT p.id, p.store_id, p.order_id, p.status, p.exception, p.amount_due, p.amount_received,
       p.required_commitment, p.expires_at, p.price, p.decimals, s.accept_late_payments,
       s.underpaid_tolerance_percent, s.underpaid_tolerance_amount, s.confirmation_window
FROM payments p JOIN stores s ON s.id = p.store_id
WHERE p.id = $1
FOR UPDATE OF p
"""

SELECT_PAYMENT_TRANSFERS = """
SELECT amount, status, COALESCE(block_time, seen_at) AS first_seen FROM transfers
WHERE payment_id = $1 AND status <> 'rejected'
"""

# The guard is the status read under the row lock: a concurrent change makes this a no-op.
APPLY_DECISION = """
UPDATE payments SET status = $3, exception = $4, amount_received = $5,
    detected_at = COALESCE(detected_at, CASE WHEN $3 IN ('detected', 'confirmed') THEN now() END),
    confirm_deadline_at = CASE WHEN $3 = 'detected' AND confirm_deadline_at IS NULL
                               THEN now() + $6::interval ELSE confirm_deadline_at END,
    confirmed_at = CASE WHEN $3 = 'confirmed' THEN now() ELSE confirmed_at END,
    closed_at = CASE WHEN $3 = 'confirmed' THEN now() ELSE closed_at END,
    updated_at = now()
WHERE id = $1 AND status = $2
RETURNING *
"""


async def insert_transfer(conn: asyncpg.Connection, values: dict[str, Any]) -> int | None:
    return await conn.fetchval(
        INSERT_TRANSFER, values["chain"], values["tx_id"], values["index"],
        values.get("payment_id"), values["asset"], values.get("mint"), values.get("sender"),
        values["recipient"], values["amount"], values.get("memo"), values.get("slot"),
        values.get("block_time"), values["status"], values.get("reject_reason"),
        values.get("block_hash"), values.get("store_id"))


async def advance(conn: asyncpg.Connection, chain: str, tx_id: str, status: str) -> list[Any]:
    return [r["payment_id"] for r in await conn.fetch(ADVANCE_TRANSFERS, chain, tx_id, status)
            if r["payment_id"] is not None]


async def revert(conn: asyncpg.Connection, chain: str, tx_id: str) -> list[Any]:
    return [r["payment_id"] for r in await conn.fetch(REVERT_TRANSFERS, chain, tx_id)
            if r["payment_id"] is not None]


async def open_txs(conn: asyncpg.Connection, chain: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(OPEN_TRANSFER_TXS, chain, limit)


async def payment_facts(conn: asyncpg.Connection, payment_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PAYMENT_FACTS, payment_id)


async def payment_transfers(conn: asyncpg.Connection,
                            payment_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_PAYMENT_TRANSFERS, payment_id)


async def apply_decision(conn: asyncpg.Connection, payment_id: Any, expected: str, status: str,
                         exception: str | None, received: int,
                         deadline: datetime | Any) -> asyncpg.Record | None:
    return await conn.fetchrow(APPLY_DECISION, payment_id, expected, status, exception,
                               received, deadline)
