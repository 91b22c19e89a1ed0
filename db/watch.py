"""SQL for the chain watchers: open payments for the reference index, watched accounts,
cursors, and payments close to expiry for reconciliation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

# `$2` is the watched statuses (paywatch.core.states.WATCHED_PAYMENT, passed by the caller: the
# one definition); payments_open_idx covers this query. `unique_due` is the amount a
# referenceless transfer must carry to pay a unique-amount payment (NULL for the others, so
# the index keeps no amount for them).
SELECT_OPEN_PAYMENTS = """
SELECT id, reference, recipient, asset, mint, memo, status,
       CASE WHEN unique_amount THEN amount_due END AS unique_due
FROM payments
WHERE chain = $1 AND status = ANY($2::text[]) AND monitor_until > now()
  AND reference IS NOT NULL
"""

SELECT_OPEN_AMONG = SELECT_OPEN_PAYMENTS + " AND id = ANY($3::uuid[])"

# Before a transfer goes to the inbox: the watched payments it could pay, read from the table
# rather than the watcher's index (which may not know a payment made a moment ago).
SELECT_OPEN_FOR_TRANSFER = SELECT_OPEN_PAYMENTS + """
  AND (reference = ANY($3::text[])
       OR (unique_amount AND recipient = $4 AND COALESCE(mint, '') = COALESCE($5, '')
           AND amount_due = $6))
"""

# Oldest store first: when stores share a wallet, the first one owns its inbox entries.
SELECT_WATCHED_ASSETS = """
SELECT s.id AS store_id, s.solana_recipient AS recipient, a.asset, a.mint,
       s.solana_unique_amount AS by_amount
FROM stores s JOIN store_assets a ON a.store_id = s.id
WHERE a.chain = $1 AND a.enabled AND s.solana_recipient IS NOT NULL
ORDER BY s.created_at, s.id, a.asset
"""

SELECT_CURSOR = "SELECT cursor, slot FROM watch_cursors WHERE chain = $1 AND account = $2"

UPSERT_CURSOR = """
INSERT INTO watch_cursors (chain, account, cursor, slot) VALUES ($1, $2, $3, $4)
ON CONFLICT (chain, account) DO UPDATE
SET cursor = EXCLUDED.cursor, slot = EXCLUDED.slot, updated_at = now()
WHERE watch_cursors.slot <= EXCLUDED.slot
"""

SELECT_NEAR_EXPIRY = """
SELECT id, reference FROM payments
WHERE chain = $1 AND status = 'pending' AND reference IS NOT NULL
  AND expires_at BETWEEN now() - interval '5 minutes' AND now() + interval '2 minutes'
ORDER BY expires_at LIMIT $2
"""


async def open_payments_batches(conn: asyncpg.Connection, chain: str, watched: Sequence[str],
                                batch: int) -> AsyncIterator[list[asyncpg.Record]]:
    """What `open_payments` returns, `batch` rows at a time from one snapshot (a cursor in a
    read-only transaction), so a million rows never sit in memory together."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.cursor(SELECT_OPEN_PAYMENTS, chain, list(watched))
        while chunk := await rows.fetch(batch):
            yield chunk


async def open_payments_among(conn: asyncpg.Connection, chain: str, watched: Sequence[str],
                              payment_ids: Sequence[Any]) -> list[asyncpg.Record]:
    """Those of `payment_ids` that `open_payments` would return."""
    return await conn.fetch(SELECT_OPEN_AMONG, chain, list(watched), list(payment_ids))


async def open_payments_for_transfer(conn: asyncpg.Connection, chain: str,
                                     watched: Sequence[str], references: Sequence[str],
                                     wallet: str, mint: str | None,
                                     amount: int) -> list[asyncpg.Record]:
    """Those `open_payments` would return whose reference is among `references`, or that ask
    exactly `amount` of `mint` at `wallet` as a unique amount."""
    return await conn.fetch(SELECT_OPEN_FOR_TRANSFER, chain, list(watched), list(references),
                            wallet, mint, amount)


async def watched_assets(conn: asyncpg.Connection, chain: str) -> list[asyncpg.Record]:
    """Per store (oldest first) and accepted asset: the recipient whose account (the wallet,
    or its token account for the asset) a recipient-based watcher follows, and whether the
    store matches referenceless transfers by amount."""
    return await conn.fetch(SELECT_WATCHED_ASSETS, chain)


async def cursor(conn: asyncpg.Connection, chain: str,
                 account: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_CURSOR, chain, account)


async def save_cursor(conn: asyncpg.Connection, chain: str, account: str, signature: str,
                      slot: int) -> None:
    await conn.execute(UPSERT_CURSOR, chain, account, signature, slot)


async def near_expiry(conn: asyncpg.Connection, chain: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_NEAR_EXPIRY, chain, limit)
