"""SQL for the books' exports (GET /v1/exports/{kind}, `paywatch export`): one row per payment,
transfer or refund of a store in a period, read through a server-side cursor so a period of any
length streams in batches and never sits in memory whole.

A row belongs to the period by its booking time: when it was confirmed, else when it was created
(seen, for a transfer). Each row is in exactly one period, so consecutive exports partition the
books; a payment still pending when one month was exported moves to the month it confirms in."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import asyncpg

# Rows the cursor fetches per round trip: small enough to keep memory flat, large enough that
# the round trips cost little next to rendering.
BATCH = 1000

# A transfer's decimals: its payment's, its refund's, else the store's asset (an inbox entry).
_ASSET_DECIMALS = """
LEFT JOIN LATERAL (SELECT a.decimals FROM store_assets a
                   WHERE a.store_id = t.store_id AND a.chain = t.chain AND a.asset = t.asset
                     AND a.mint IS NOT DISTINCT FROM t.mint LIMIT 1) sa ON true
"""

# The transactions that moved a payment's or a refund's money and are still on the chain.
_LIVE = "t.status IN ('processed', 'confirmed', 'finalized')"

PAYMENTS = (
    """
SELECT p.id, COALESCE(p.confirmed_at, p.created_at) AS booked_at, p.created_at, p.confirmed_at,
       o.number AS order_number, p.chain, p.asset, p.mint, p.decimals, p.amount_due,
       p.amount_received, p.amount_refunded, p.currency, p.fiat_amount, p.fiat_amount_due,
       p.discount_percent, p.price, p.price_source, p.price_at, p.status, p.exception,
       x.tx_ids, x.fiat_at_quote, CASE WHEN x.unvalued = 0 THEN x.fiat_at_confirmation END
       AS fiat_at_confirmation, rf.fiat_refunded
""",
    f"""
FROM payments p
LEFT JOIN orders o ON o.id = p.order_id
LEFT JOIN LATERAL (
    SELECT array_agg(t.tx_id ORDER BY t.id) AS tx_ids, sum(t.fiat_at_quote) AS fiat_at_quote,
           sum(t.fiat_at_confirmation) AS fiat_at_confirmation,
           count(*) FILTER (WHERE t.fiat_at_confirmation IS NULL) AS unvalued
    FROM transfers t
    WHERE t.payment_id = p.id AND t.direction = 'in' AND {_LIVE}) x ON true
LEFT JOIN LATERAL (SELECT sum(r.fiat_amount) AS fiat_refunded FROM refunds r
                   WHERE r.payment_id = p.id AND r.status = 'confirmed') rf ON true
WHERE p.store_id = $1
  AND ((p.confirmed_at >= $2 AND p.confirmed_at < $3)
       OR (p.confirmed_at IS NULL AND p.created_at >= $2 AND p.created_at < $3))
""",  # noqa: S608 (constant SQL fragments, no input)
    "ORDER BY booked_at, p.id",
)

# In and out, matched or not: a store's transfer pays one of its payments, sends one of its
# refunds, or sits in its inbox (store_id); a transfer that named a payment but moved no money
# (rejected) is listed too, with its reason.
TRANSFERS = (
    """
SELECT t.id, COALESCE(t.confirmed_at, t.seen_at) AS booked_at, t.seen_at, t.confirmed_at,
       t.reverted_at, t.direction, t.payment_id, t.refund_id, o.number AS order_number,
       t.chain, t.tx_id, t.index, t.asset, t.mint,
       COALESCE(p.decimals, r.decimals, sa.decimals) AS decimals, t.amount, t.sender,
       t.recipient, t.currency, p.price AS quote_price, t.fiat_at_quote, t.market_price,
       t.market_price_source, t.market_price_at, t.fiat_at_confirmation,
       p.discount_percent, t.status, t.reject_reason, t.matched_by, t.unmatched_reason,
       t.resolution
""",
    f"""
FROM transfers t
LEFT JOIN payments p ON p.id = t.payment_id
LEFT JOIN refunds r ON r.id = t.refund_id
LEFT JOIN orders o ON o.id = COALESCE(p.order_id, r.order_id)
{_ASSET_DECIMALS}
WHERE COALESCE(p.store_id, r.store_id, t.store_id) = $1
  AND COALESCE(t.confirmed_at, t.seen_at) >= $2 AND COALESCE(t.confirmed_at, t.seen_at) < $3
""",
    "ORDER BY booked_at, t.id",
)

REFUNDS = (
    """
SELECT r.id, COALESCE(r.confirmed_at, r.created_at) AS booked_at, r.created_at, r.confirmed_at,
       r.payment_id, o.number AS order_number, r.chain, r.asset, r.mint, r.decimals, r.amount,
       r.currency, r.fiat_amount, r.rate, r.price, r.price_source, p.discount_percent,
       r.status, r.destination, r.destination_from, r.reason, x.tx_ids,
       x.fiat_at_confirmation
""",
    f"""
FROM refunds r
JOIN payments p ON p.id = r.payment_id
LEFT JOIN orders o ON o.id = r.order_id
LEFT JOIN LATERAL (
    SELECT array_agg(t.tx_id ORDER BY t.id) AS tx_ids,
           sum(t.fiat_at_confirmation) AS fiat_at_confirmation
    FROM transfers t WHERE t.refund_id = r.id AND t.direction = 'out' AND {_LIVE}) x ON true
WHERE r.store_id = $1
  AND ((r.confirmed_at >= $2 AND r.confirmed_at < $3)
       OR (r.confirmed_at IS NULL AND r.created_at >= $2 AND r.created_at < $3))
""",  # noqa: S608 (constant SQL fragments, no input)
    "ORDER BY booked_at, r.id",
)

QUERIES = {"payments": PAYMENTS, "transfers": TRANSFERS, "refunds": REFUNDS}


def _select(kind: str) -> str:
    columns, source, order = QUERIES[kind]
    return columns + source + order


def _count(kind: str) -> str:
    return "SELECT count(*)" + QUERIES[kind][1]


async def rows(conn: asyncpg.Connection, kind: str, store_id: Any, start: datetime,
               end: datetime, batch: int = BATCH) -> AsyncGenerator[asyncpg.Record, None]:
    """The period's rows of `kind` (a key of QUERIES), oldest first, `batch` at a time from a
    server-side cursor: the caller holds at most one batch however long the period. One
    read-only snapshot, so a row confirmed while the export runs is never listed twice."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = await conn.cursor(_select(kind), store_id, start, end)
        while True:
            chunk = await cursor.fetch(batch)
            for row in chunk:
                yield row
            if len(chunk) < batch:
                return


async def count(conn: asyncpg.Connection, kind: str, store_id: Any, start: datetime,
                end: datetime) -> int:
    """How many rows `rows` will give (for a progress bar)."""
    return int(await conn.fetchval(_count(kind), store_id, start, end))
