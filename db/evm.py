"""SQL for EVM chains: stores' matching mode per chain, deposit-address allocation, the payments
a block's transfers may pay, and the recent chain of blocks (a reorg reverts the orphaned blocks'
transfers through db/transfers.py, which owns their status). Shared-address amounts are picked
by db/payments.taken_unique_amounts, the same query as Solana's unique amounts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from db import transfers

SELECT_STORE_CHAINS = "SELECT * FROM store_evm_chains WHERE store_id = $1 ORDER BY chain"
SELECT_STORE_CHAIN = "SELECT * FROM store_evm_chains WHERE store_id = $1 AND chain = $2"

UPSERT_STORE_CHAIN = """
INSERT INTO store_evm_chains (store_id, chain, mode, xpub, address)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (store_id, chain) DO UPDATE
SET mode = EXCLUDED.mode, xpub = EXCLUDED.xpub, address = EXCLUDED.address, updated_at = now()
RETURNING *
"""

DELETE_STORE_CHAIN = "DELETE FROM store_evm_chains WHERE store_id = $1 AND chain = $2"

# The counter moves in the payment's own transaction: concurrent payments queue on the row,
# and a payment that rolls back gives its index back.
ALLOCATE_INDEX = """
UPDATE store_evm_chains SET next_index = next_index + 1, updated_at = now()
WHERE store_id = $1 AND chain = $2 AND mode = 'deposit_address'
RETURNING next_index - 1 AS index, xpub
"""

# The payments a transfer to one of these addresses may pay: a deposit address belongs to one
# payment whatever its state (money sent there is always its money); a shared address matches
# only payments still watched ($3: paywatch.core.states.WATCHED_PAYMENT), and only by exact
# amount (decided by the caller).
SELECT_CANDIDATES = """
SELECT id, store_id, lower(recipient) AS address, asset, mint, amount_due, status,
       derivation_index IS NOT NULL AS deposit
FROM payments
WHERE chain = $1 AND reference IS NULL AND lower(recipient) = ANY($2::text[])
  AND (derivation_index IS NOT NULL
       OR (status = ANY($3::text[]) AND monitor_until > now()))
ORDER BY created_at DESC
"""

SELECT_SHARED_OWNERS = """
SELECT lower(address) AS address, store_id FROM store_evm_chains
WHERE chain = $1 AND mode = 'shared_address' AND lower(address) = ANY($2::text[])
"""

SELECT_TIP = """
SELECT number, hash, parent_hash FROM evm_blocks WHERE chain = $1 ORDER BY number DESC LIMIT 1
"""
SELECT_BLOCK_HASH = "SELECT hash FROM evm_blocks WHERE chain = $1 AND number = $2"
SELECT_HASHES_ABOVE = "SELECT hash FROM evm_blocks WHERE chain = $1 AND number > $2"

UPSERT_BLOCK = """
INSERT INTO evm_blocks (chain, number, hash, parent_hash, block_time) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (chain, number) DO UPDATE
SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash, block_time = EXCLUDED.block_time,
    seen_at = now()
"""

DELETE_BLOCKS_ABOVE = "DELETE FROM evm_blocks WHERE chain = $1 AND number > $2"
PRUNE_BLOCKS = "DELETE FROM evm_blocks WHERE chain = $1 AND number < $2"

async def store_chains(conn: asyncpg.Connection, store_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_STORE_CHAINS, store_id)


async def store_chain(conn: asyncpg.Connection, store_id: Any,
                      chain: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_STORE_CHAIN, store_id, chain)


async def upsert_store_chain(conn: asyncpg.Connection, store_id: Any, chain: str, mode: str,
                             xpub: str | None, address: str | None) -> asyncpg.Record:
    return await conn.fetchrow(UPSERT_STORE_CHAIN, store_id, chain, mode, xpub, address)


async def delete_store_chain(conn: asyncpg.Connection, store_id: Any, chain: str) -> None:
    await conn.execute(DELETE_STORE_CHAIN, store_id, chain)


async def allocate_index(conn: asyncpg.Connection, store_id: Any,
                         chain: str) -> asyncpg.Record | None:
    return await conn.fetchrow(ALLOCATE_INDEX, store_id, chain)


async def candidates(conn: asyncpg.Connection, chain: str, addresses: Sequence[str], *,
                     watched_statuses: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_CANDIDATES, chain, list(addresses), list(watched_statuses))


async def shared_owners(conn: asyncpg.Connection, chain: str,
                        addresses: Sequence[str]) -> dict[str, Any]:
    rows = await conn.fetch(SELECT_SHARED_OWNERS, chain, list(addresses))
    return {r["address"]: r["store_id"] for r in rows}


async def tip(conn: asyncpg.Connection, chain: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_TIP, chain)


async def block_hash(conn: asyncpg.Connection, chain: str, number: int) -> str | None:
    return await conn.fetchval(SELECT_BLOCK_HASH, chain, number)


async def save_block(conn: asyncpg.Connection, chain: str, number: int, hash_: str,
                     parent_hash: str, block_time: datetime | None) -> None:
    await conn.execute(UPSERT_BLOCK, chain, number, hash_, parent_hash, block_time)


async def rewind(conn: asyncpg.Connection, chain: str, ancestor: int) -> list[Any]:
    """Forget blocks above the common ancestor and revert their transfers; returns payments."""
    hashes = [r["hash"] for r in await conn.fetch(SELECT_HASHES_ABOVE, chain, ancestor)]
    touched = await transfers.revert_in_blocks(conn, chain, hashes)
    await conn.execute(DELETE_BLOCKS_ABOVE, chain, ancestor)
    return touched


async def prune(conn: asyncpg.Connection, chain: str, below: int) -> None:
    await conn.execute(PRUNE_BLOCKS, chain, below)
