"""SQL for transfers, every chain's: the one module that writes a transfer's status
(append-only: statuses move forward, or to reverted and back when the transaction is
re-included; rows never go away)."""

from __future__ import annotations

from typing import Any

import asyncpg

# A transaction seen again after it was reverted (re-included after a reorg or a dead fork)
# comes back to life in its new block; any other repeat changes nothing.
INSERT_TRANSFER = """
INSERT INTO transfers (chain, tx_id, index, payment_id, asset, mint, sender, recipient, amount,
                       memo, slot, block_time, status, reject_reason, confirmed_at, block_hash,
                       store_id, matched_by, via_program, unmatched_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
        CASE WHEN $13 IN ('confirmed', 'finalized') THEN now() END, $15, $16, $17, $18, $19)
ON CONFLICT (chain, tx_id, index) DO UPDATE
SET status = EXCLUDED.status, slot = EXCLUDED.slot, block_hash = EXCLUDED.block_hash,
    block_time = EXCLUDED.block_time, confirmed_at = EXCLUDED.confirmed_at, reverted_at = NULL
WHERE transfers.status = 'reverted' AND EXCLUDED.status <> 'rejected'
RETURNING id, (xmax = 0) AS fresh
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

# EVM: orphaned blocks take their transfers with them; finalized ones are beyond any reorg.
REVERT_IN_BLOCKS = """
UPDATE transfers SET status = 'reverted', reverted_at = now()
WHERE chain = $1 AND block_hash = ANY($2::text[]) AND status IN ('processed', 'confirmed')
RETURNING payment_id
"""

# EVM: a log the node reports as `removed: true`.
REVERT_ONE = """
UPDATE transfers SET status = 'reverted', reverted_at = now()
WHERE chain = $1 AND tx_id = $2 AND index = $3 AND block_hash = $4
  AND status IN ('processed', 'confirmed')
RETURNING payment_id
"""

# EVM: deep enough: processed -> confirmed at depth N, anything live -> finalized under that tag.
PROMOTE = """
UPDATE transfers SET status = $3,
    confirmed_at = COALESCE(confirmed_at, now())
WHERE chain = $1 AND block_hash IS NOT NULL AND slot <= $2
  AND (status = 'processed' OR (status = 'confirmed' AND $3 = 'finalized'))
RETURNING payment_id
"""


SELECT_TRANSFER = "SELECT * FROM transfers WHERE id = $1"


async def insert_transfer(conn: asyncpg.Connection,
                          values: dict[str, Any]) -> asyncpg.Record | None:
    """(id, fresh) of a new transfer (fresh) or of a reverted one seen again (not fresh); None
    when the transfer was already recorded and nothing changed."""
    return await conn.fetchrow(
        INSERT_TRANSFER, values["chain"], values["tx_id"], values["index"],
        values.get("payment_id"), values["asset"], values.get("mint"), values.get("sender"),
        values["recipient"], values["amount"], values.get("memo"), values.get("slot"),
        values.get("block_time"), values["status"], values.get("reject_reason"),
        values.get("block_hash"), values.get("store_id"), values.get("matched_by"),
        values.get("via_program", False), values.get("unmatched_reason"))


async def get(conn: asyncpg.Connection, transfer_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_TRANSFER, transfer_id)


async def advance(conn: asyncpg.Connection, chain: str, tx_id: str, status: str) -> list[Any]:
    return _payments(await conn.fetch(ADVANCE_TRANSFERS, chain, tx_id, status))


async def revert(conn: asyncpg.Connection, chain: str, tx_id: str) -> list[Any]:
    return _payments(await conn.fetch(REVERT_TRANSFERS, chain, tx_id))


async def open_txs(conn: asyncpg.Connection, chain: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(OPEN_TRANSFER_TXS, chain, limit)


def _payments(rows: list[asyncpg.Record]) -> list[Any]:
    return [r["payment_id"] for r in rows if r["payment_id"] is not None]


async def revert_in_blocks(conn: asyncpg.Connection, chain: str,
                           hashes: list[str]) -> list[Any]:
    return _payments(await conn.fetch(REVERT_IN_BLOCKS, chain, hashes))


async def revert_one(conn: asyncpg.Connection, chain: str, tx_id: str, index: int,
                     block: str) -> list[Any]:
    return _payments(await conn.fetch(REVERT_ONE, chain, tx_id, index, block))


async def promote(conn: asyncpg.Connection, chain: str, up_to: int, status: str) -> list[Any]:
    return _payments(await conn.fetch(PROMOTE, chain, up_to, status))
