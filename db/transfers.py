"""SQL for transfers, every chain's: the one module that writes a transfer's status
(append-only: statuses move forward, or to reverted and back when the transaction is
re-included; rows never go away)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

# A transaction seen again after it was reverted (re-included after a reorg or a dead fork)
# comes back to life in its new block; any other repeat changes nothing.
# The books: a transfer that pays a payment ($4) is valued at that payment's quoted price in
# its currency as it is recorded, and a refund's outgoing transfer ($21) at the refund's stated
# rate (a value beyond the column's range is left NULL rather than failing the watcher's
# transaction); the market value at confirmation comes later.
INSERT_TRANSFER = """
INSERT INTO transfers (chain, tx_id, index, payment_id, asset, mint, sender, recipient, amount,
                       memo, slot, block_time, status, reject_reason, confirmed_at, block_hash,
                       store_id, matched_by, via_program, unmatched_reason, direction, refund_id,
                       currency, fiat_at_quote)
SELECT $1, $2, $3, $4::uuid, $5, $6, $7, $8, $9::numeric, $10, $11, $12, $13::text, $14,
       CASE WHEN $13 IN ('confirmed', 'finalized') THEN now() END, $15, $16, $17, $18, $19,
       $20, $21, COALESCE(p.currency, r.currency), CASE WHEN v.fiat < 1e12 THEN v.fiat END
FROM (SELECT 1) one LEFT JOIN payments p ON p.id = $4
     LEFT JOIN refunds r ON r.id = $21::uuid
     LEFT JOIN LATERAL (SELECT round(COALESCE(p.price, r.price) * $9
                                     / 10::numeric ^ COALESCE(p.decimals, r.decimals), 8)
                        AS fiat) v ON true
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

# What a transfer's JSON shows (paywatch/core/objects.transfer_object); payments read their
# transfers with these columns too (db/payments.py).
OBJECT_COLUMNS = """
t.id, t.payment_id, t.chain, t.tx_id, t.index, t.asset, t.mint, t.sender, t.recipient, t.amount,
t.memo, t.slot, t.block_time, t.status, t.reject_reason, t.matched_by, t.via_program,
t.unmatched_reason, t.resolution, t.resolved_at, t.resolved_by, t.resolution_note, t.seen_at,
t.confirmed_at, t.reverted_at, t.direction, t.refund_id, t.currency, t.fiat_at_quote,
t.market_price, t.fiat_at_confirmation
"""

# ----- the store's inbox: transfers into its accounts that paid no payment --------------------
# An inbox entry is a row with unmatched_reason set (db/schema.sql transfers_inbox_idx). It is
# open while nobody resolved it and the chain still holds it: a reverted transfer moved no money
# (it comes back, open again, if the transaction is re-included).
INBOX_STATES = {
    "open": "t.resolution IS NULL AND t.status IN ('processed', 'confirmed', 'finalized')",
    "assigned": "t.resolution = 'assigned'",
    "dismissed": "t.resolution = 'dismissed'",
    "all": "true",
}


def _inbox_query(state: str) -> str:
    return f"""
SELECT {OBJECT_COLUMNS} FROM transfers t
WHERE t.store_id = $1 AND t.unmatched_reason IS NOT NULL AND {INBOX_STATES[state]}
  AND ($2::text IS NULL OR t.chain = $2) AND ($3::text IS NULL OR t.asset = $3)
  AND ($4::bigint IS NULL OR t.id < $4)
ORDER BY t.id DESC LIMIT $5
"""  # noqa: S608 (constant SQL fragments, no input)


LIST_INBOX = {state: _inbox_query(state) for state in INBOX_STATES}

# A store's transfer: one in its inbox (store_id) or one that pays one of its payments (a
# Solana transfer matched by reference carries no store_id of its own).
SELECT_STORE_TRANSFER = f"""
SELECT {OBJECT_COLUMNS} FROM transfers t
WHERE t.id = $1 AND (t.store_id = $2
                     OR t.payment_id IN (SELECT p.id FROM payments p WHERE p.store_id = $2))
"""  # noqa: S608 (constant SQL fragments, no input)

# The row a resolution starts from, locked until the transaction ends: a transfer first, then
# its payment (the watchers lock in the same order: a transfer's row, then its payment's).
LOCK_INBOX_TRANSFER = f"""
SELECT {OBJECT_COLUMNS} FROM transfers t
WHERE t.id = $1 AND t.store_id = $2 AND t.unmatched_reason IS NOT NULL
FOR UPDATE
"""  # noqa: S608 (constant SQL fragments, no input)

# Both resolutions are one guarded statement: only an open entry of this store changes, so a
# concurrent assign, dismiss or revert turns the loser into a no-op (None), never a lost update.
_OPEN_ENTRY = """
WHERE t.id = $1 AND t.store_id = $2 AND t.payment_id IS NULL AND t.resolution IS NULL
  AND t.unmatched_reason IS NOT NULL AND t.status IN ('processed', 'confirmed', 'finalized')
"""

# The payment must be the store's, still able to take money ($6), and of the transfer's chain
# and asset: the caller checked each to say which failed; the guard makes the rule the
# statement's own.
# The books: the entry is valued at the payment's quoted price from now on, like a transfer
# matched as it arrived (INSERT_TRANSFER); a market value the valuation job gave it in the
# store's default currency is dropped when the payment is in another one (the job values it
# again in the payment's currency, if still within its window: jobs.VALUATION_WINDOW).
ASSIGN = f"""
UPDATE transfers t SET payment_id = $3, matched_by = 'assigned', resolution = 'assigned',
    resolved_at = now(), resolved_by = $4, resolution_note = $5,
    currency = p.currency,
    fiat_at_quote = CASE WHEN round(p.price * t.amount / 10::numeric ^ p.decimals, 8) < 1e12
                         THEN round(p.price * t.amount / 10::numeric ^ p.decimals, 8) END,
    market_price = CASE WHEN t.currency = p.currency THEN t.market_price END,
    market_price_source = CASE WHEN t.currency = p.currency THEN t.market_price_source END,
    market_price_at = CASE WHEN t.currency = p.currency THEN t.market_price_at END,
    fiat_at_confirmation = CASE WHEN t.currency = p.currency THEN t.fiat_at_confirmation END
FROM payments p
{_OPEN_ENTRY}
  AND p.id = $3 AND p.store_id = $2 AND p.status = ANY($6::text[])
  AND p.chain = t.chain AND p.asset = t.asset AND p.mint IS NOT DISTINCT FROM t.mint
RETURNING {OBJECT_COLUMNS}
"""  # noqa: S608 (constant SQL fragments, no input)

DISMISS = f"""
UPDATE transfers t SET resolution = 'dismissed', resolved_at = now(), resolved_by = $3,
    resolution_note = $4
{_OPEN_ENTRY}
RETURNING {OBJECT_COLUMNS}
"""  # noqa: S608 (constant SQL fragments, no input)

@dataclass(frozen=True)
class MarketValue:
    """A transfer's market price when it was confirmed, in `currency` (its decimals turn base
    units into coins)."""
    transfer_id: int
    currency: str
    price: Decimal
    source: str
    at: datetime
    decimals: int


# ----- the books: each confirmed transfer's market value when it was confirmed ---------------
# Candidates for the valuation job (paywatch/jobs.value_transfers): confirmed or finalized, not
# valued yet, confirmed within the window (a price taken long after confirmation is not the
# price when it was confirmed: such a transfer keeps no market value rather than a made-up one),
# after the keyset cursor $1. The currency is its payment's (set as it was recorded or
# assigned), else its refund's, else the store's default (an inbox entry); the decimals come
# from the payment, the refund, or the store's asset.
UNVALUED = """
SELECT t.id, t.asset, t.amount,
       COALESCE(t.currency, r.currency, s.default_currency) AS currency,
       COALESCE(p.decimals, r.decimals, sa.decimals) AS decimals
FROM transfers t
LEFT JOIN payments p ON p.id = t.payment_id
LEFT JOIN refunds r ON r.id = t.refund_id
LEFT JOIN stores s ON s.id = COALESCE(t.store_id, r.store_id)
LEFT JOIN LATERAL (SELECT a.decimals FROM store_assets a
                   WHERE a.store_id = s.id AND a.chain = t.chain AND a.asset = t.asset
                     AND a.mint IS NOT DISTINCT FROM t.mint LIMIT 1) sa ON true
WHERE t.market_price IS NULL AND t.status IN ('confirmed', 'finalized') AND t.id > $1
  AND t.confirmed_at >= now() - $2::interval
ORDER BY t.id LIMIT $3
"""

# One guarded statement per batch: only a row still unvalued, still confirmed or finalized and
# in the currency it was priced in changes, so a second process or a rerun is a no-op and a
# transfer reverted (or assigned elsewhere) meanwhile is left alone. A value beyond the column's
# range stays NULL, as in INSERT_TRANSFER.
VALUE_TRANSFERS = """
UPDATE transfers t SET currency = v.currency, market_price = v.price,
    market_price_source = v.source, market_price_at = v.at,
    fiat_at_confirmation = CASE WHEN v.fiat < 1e12 THEN v.fiat END
FROM (SELECT u.*, round(u.price * tt.amount / 10::numeric ^ u.decimals, 8) AS fiat
      FROM unnest($1::bigint[], $2::text[], $3::numeric[], $4::text[], $5::timestamptz[],
                  $6::int[]) AS u(id, currency, price, source, at, decimals)
      JOIN transfers tt ON tt.id = u.id) v
WHERE t.id = v.id AND t.market_price IS NULL AND t.status IN ('confirmed', 'finalized')
  AND (t.currency IS NULL OR t.currency = v.currency)
RETURNING t.id
"""

# The open inbox per chain, for the paywatch_inbox_open_transfers gauge (the partial index
# transfers_inbox_idx holds only inbox rows, so this never reads the matched ledger).
COUNT_OPEN_INBOX = """
SELECT chain, count(*) AS open FROM transfers t
WHERE t.unmatched_reason IS NOT NULL AND t.store_id IS NOT NULL AND t.resolution IS NULL
  AND t.status IN ('processed', 'confirmed', 'finalized')
GROUP BY chain
"""


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
        values.get("via_program", False), values.get("unmatched_reason"),
        values.get("direction", "in"), values.get("refund_id"))


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


async def inbox(conn: asyncpg.Connection, store_id: Any, *, state: str, chain: str | None,
                asset: str | None, before: int | None, limit: int) -> list[asyncpg.Record]:
    """The store's inbox, newest first (keyset: ids below `before`); state is a key of
    INBOX_STATES."""
    return await conn.fetch(LIST_INBOX[state], store_id, chain, asset, before, limit)


async def store_transfer(conn: asyncpg.Connection, transfer_id: int,
                         store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_STORE_TRANSFER, transfer_id, store_id)


async def lock_inbox_entry(conn: asyncpg.Connection, transfer_id: int,
                           store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_INBOX_TRANSFER, transfer_id, store_id)


async def assign(conn: asyncpg.Connection, transfer_id: int, store_id: Any, payment_id: Any,
                 actor: str, note: str | None,
                 payment_statuses: Sequence[str]) -> asyncpg.Record | None:
    """Attach an open inbox entry to the payment; None when the guard refused."""
    return await conn.fetchrow(ASSIGN, transfer_id, store_id, payment_id, actor, note,
                               list(payment_statuses))


async def dismiss(conn: asyncpg.Connection, transfer_id: int, store_id: Any, actor: str,
                  reason: str) -> asyncpg.Record | None:
    """Close an open inbox entry without a payment; None when the guard refused."""
    return await conn.fetchrow(DISMISS, transfer_id, store_id, actor, reason)


async def open_inbox_by_chain(conn: asyncpg.Connection) -> dict[str, int]:
    return {r["chain"]: r["open"] for r in await conn.fetch(COUNT_OPEN_INBOX)}


async def unvalued(conn: asyncpg.Connection, after: int, window: timedelta,
                   limit: int) -> list[asyncpg.Record]:
    """Confirmed transfers without a market value yet, by id after `after`."""
    return await conn.fetch(UNVALUED, after, window, limit)


async def record_market_values(conn: asyncpg.Connection,
                               values: Sequence[MarketValue]) -> int:
    """Value each transfer at its price; how many changed (the guard skips the others)."""
    if not values:
        return 0
    rows = await conn.fetch(
        VALUE_TRANSFERS, [v.transfer_id for v in values], [v.currency for v in values],
        [v.price for v in values], [v.source for v in values], [v.at for v in values],
        [v.decimals for v in values])
    return len(rows)
