"""SQL for the dashboard's overview and payments pages: the payments list (filters, one search
box, keyset pages), a payment's timeline with its webhook deliveries, its live version, and the
overview's counts and chain reports. Revenue comes from db/analytics.py (the books' own query).

The list's filters are optional parameters (`$n IS NULL OR ...`). A generic plan cannot drop
the filters that were not given, so it would read a rare status through the store's newest-first
index row by row; `list_payments` asks PostgreSQL for a plan made with the values (a custom
plan) every time, which drops them and picks the index each filter needs
(migrations/0010_dashboard_indexes.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db import transfers

FORCE_CUSTOM_PLAN = "SET LOCAL plan_cache_mode = force_custom_plan"

# What a row of the list shows (never the quote or the metadata: a page reads 50 rows).
_LIST_COLUMNS = """
p.id, p.created_at, p.status, p.exception, p.chain, p.asset, p.decimals, p.amount_due,
p.amount_received, p.currency, p.fiat_amount_due, p.reference, p.recipient, p.order_id,
o.number AS order_number
"""

# $1 store, $2 status, $3 exception, $4 asset, $5 chain, $6 created from (inclusive), $7 created
# until (exclusive), $8 whether a search was given, $9 the payments the search names exactly
# (search_hits), $10 the search's address forms (recipients are stored in each chain's
# canonical form), $11/$12 the keyset cursor (created_at, id), $13 the page size (+1).
_FILTERS = """
WHERE p.store_id = $1
  AND ($2::text IS NULL OR p.status = $2)
  AND ($3::text IS NULL OR p.exception = $3)
  AND ($4::text IS NULL OR p.asset = $4)
  AND ($5::text IS NULL OR p.chain = $5)
  AND ($6::timestamptz IS NULL OR p.created_at >= $6)
  AND ($7::timestamptz IS NULL OR p.created_at < $7)
  AND (NOT $8::bool OR p.id = ANY($9::uuid[]) OR p.recipient = ANY($10::text[]))
"""

# Older: the page after the cursor, newest first.
LIST_OLDER = f"""
SELECT {_LIST_COLUMNS} FROM payments p LEFT JOIN orders o ON o.id = p.order_id
{_FILTERS}
  AND ($11::timestamptz IS NULL OR (p.created_at, p.id) < ($11, $12::uuid))
ORDER BY p.created_at DESC, p.id DESC
LIMIT $13
"""  # noqa: S608 (constant SQL fragments, no input)

# Newer: the page before the cursor, read oldest first (the caller turns it around).
LIST_NEWER = f"""
SELECT {_LIST_COLUMNS} FROM payments p LEFT JOIN orders o ON o.id = p.order_id
{_FILTERS}
  AND (p.created_at, p.id) > ($11::timestamptz, $12::uuid)
ORDER BY p.created_at, p.id
LIMIT $13
"""  # noqa: S608 (constant SQL fragments, no input)

# The store's payments a search term names exactly: its id ($2, when the term is a UUID), its
# Solana Pay reference, its order's number, or the transaction id of one of its transfers ($3:
# the term's forms). Transfers are unique by (chain, tx_id, index): naming the chains ($4) lets
# that index find a transaction id without one of its own.
SEARCH_HITS = """
SELECT p.id FROM payments p
WHERE p.store_id = $1 AND (p.id = $2::uuid OR p.reference = ANY($3::text[]))
UNION
SELECT p.id FROM orders o JOIN payments p ON p.order_id = o.id
WHERE o.store_id = $1 AND o.number = ANY($3::text[])
UNION
SELECT p.id FROM transfers t JOIN payments p ON p.id = t.payment_id
WHERE t.chain = ANY($4::text[]) AND t.tx_id = ANY($3::text[]) AND p.store_id = $1
LIMIT $5
"""

SELECT_CHAINS_IN_USE = "SELECT DISTINCT chain FROM store_assets WHERE store_id = $1"

SELECT_PAYMENT = """
SELECT p.*, o.number AS order_number FROM payments p LEFT JOIN orders o ON o.id = p.order_id
WHERE p.id = $1 AND p.store_id = $2
"""

SELECT_TRANSFERS = f"""
SELECT {transfers.OBJECT_COLUMNS} FROM transfers t WHERE t.payment_id = $1
ORDER BY t.seen_at, t.id
"""  # noqa: S608 (constant SQL fragments, no input)

# The payment's events, oldest first (events_payment_idx).
SELECT_EVENTS = """
SELECT id, seq, type, created_at, data->>'previous_status' AS previous_status,
       data->>'reason' AS reason, (data->>'settled_by_hand')::bool AS by_hand
FROM events WHERE payment_id = $1 AND store_id = $2
ORDER BY seq
"""

SELECT_DELIVERIES = """
SELECT d.id, d.event_id, d.status, d.attempts, d.next_attempt_at, d.last_status_code,
       d.last_error, d.delivered_at, e.url
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.event_id = ANY($1::uuid[])
ORDER BY d.id
"""

# What the payment page shows that can change by itself: a new version makes the page redraw.
SELECT_VERSION = """
SELECT concat_ws('|', p.status, coalesce(p.exception, '-'), p.amount_received::text,
                 p.amount_refunded::text,
                 (SELECT string_agg(t.id::text || ':' || t.status, ',' ORDER BY t.id)
                  FROM transfers t WHERE t.payment_id = p.id),
                 (SELECT count(*) FROM events e WHERE e.payment_id = p.id)::text,
                 (SELECT string_agg(d.id::text || ':' || d.status || ':' || d.attempts, ','
                                    ORDER BY d.id)
                  FROM events e JOIN webhook_deliveries d ON d.event_id = e.id
                  WHERE e.payment_id = p.id))
FROM payments p WHERE p.id = $1 AND p.store_id = $2
"""

# ----- the overview ---------------------------------------------------------------------------

# Open payments by status ($2: paywatch.core.states.OPEN_PAYMENT); payments_store_status_idx.
COUNT_OPEN = """
SELECT status, count(*) AS n FROM payments
WHERE store_id = $1 AND status = ANY($2::text[])
GROUP BY status
"""

# The inbox's open entries (db/transfers.py INBOX_STATES["open"]: the inbox's own definition).
COUNT_OPEN_INBOX = f"""
SELECT count(*) FROM transfers t
WHERE t.store_id = $1 AND t.unmatched_reason IS NOT NULL AND {transfers.INBOX_STATES["open"]}
"""  # noqa: S608 (constant SQL fragments, no input)

# Endpoints in trouble: failing since some time (their latest delivery failed), disabled for
# failing, or with deliveries waiting for a retry after a failed attempt.
FAILING_ENDPOINTS = """
SELECT e.id, e.url, e.enabled, e.failing_since, e.disabled_reason,
       (SELECT count(*) FROM webhook_deliveries d
        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.attempts > 0) AS retrying
FROM webhook_endpoints e
WHERE e.store_id = $1
ORDER BY e.created_at
"""

# Each chain's report, as the database knows it: the leading watcher's last successful read
# (its height and age, by the database's clock), who holds the chain's leader lock (an advisory
# lock: pg_locks splits its bigint key into classid and objid), and the last transfer seen.
# $1 the chains, $2 their lock keys (db/queries.watcher_lock_key), in the same order.
CHAIN_REPORTS = """
SELECT c.chain, h.height, extract(epoch FROM now() - h.checked_at)::float8 AS age_s,
       h.checked_at, h.lag, h.rpc_errors, leader.pid AS leader_pid,
       leader.application_name AS leader, leader.client_addr::text AS leader_addr,
       leader.backend_start AS leading_since, last.seen_at AS last_transfer_at
FROM unnest($1::text[], $2::bigint[]) AS c(chain, lock_key)
LEFT JOIN chain_health h ON h.chain = c.chain
LEFT JOIN LATERAL (
    SELECT l.pid, a.application_name, a.client_addr, a.backend_start
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = c.lock_key
    LIMIT 1
) leader ON true
LEFT JOIN LATERAL (
    SELECT t.seen_at FROM transfers t WHERE t.chain = c.chain ORDER BY t.id DESC LIMIT 1
) last ON true
ORDER BY c.chain
"""


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    exception: str | None = None
    asset: str | None = None
    chain: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


@dataclass(frozen=True)
class Search:
    """A search term's exact hits (payment ids) and its address forms; None: no search."""
    hits: list[Any]
    addresses: list[str]


async def search_hits(conn: asyncpg.Connection, store_id: Any, payment_id: Any,
                      terms: Sequence[str], chains: Sequence[str],
                      limit: int = 1000) -> list[Any]:
    return [r["id"] for r in await conn.fetch(SEARCH_HITS, store_id, payment_id, list(terms),
                                              list(chains), limit)]


async def chains_in_use(conn: asyncpg.Connection, store_id: Any) -> list[str]:
    return [r["chain"] for r in await conn.fetch(SELECT_CHAINS_IN_USE, store_id)]


async def list_payments(conn: asyncpg.Connection, store_id: Any, filters: Filters,
                        search: Search | None, cursor: tuple[Any, Any], newer: bool,
                        limit: int) -> list[asyncpg.Record]:
    """A page of the store's payments, newest first; `newer`: the page before the cursor."""
    query = LIST_NEWER if newer else LIST_OLDER
    async with conn.transaction(readonly=True):
        await conn.execute(FORCE_CUSTOM_PLAN)
        rows = await conn.fetch(
            query, store_id, filters.status, filters.exception, filters.asset, filters.chain,
            filters.created_gte, filters.created_lt, search is not None,
            search.hits if search else [], search.addresses if search else [],
            cursor[0], cursor[1], limit)
    return list(reversed(rows)) if newer else rows


async def payment(conn: asyncpg.Connection, payment_id: Any,
                  store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_PAYMENT, payment_id, store_id)


async def transfers_of(conn: asyncpg.Connection, payment_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_TRANSFERS, payment_id)


async def events_of(conn: asyncpg.Connection, payment_id: Any,
                    store_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_EVENTS, payment_id, store_id)


async def deliveries_of(conn: asyncpg.Connection,
                        event_ids: Sequence[Any]) -> dict[Any, list[asyncpg.Record]]:
    found: dict[Any, list[asyncpg.Record]] = {i: [] for i in event_ids}
    for row in await conn.fetch(SELECT_DELIVERIES, list(event_ids)):
        found[row["event_id"]].append(row)
    return found


async def version(conn: asyncpg.Connection, payment_id: Any, store_id: Any) -> str | None:
    return await conn.fetchval(SELECT_VERSION, payment_id, store_id)


async def open_counts(conn: asyncpg.Connection, store_id: Any,
                      statuses: Sequence[str]) -> dict[str, int]:
    return {r["status"]: r["n"] for r in await conn.fetch(COUNT_OPEN, store_id, list(statuses))}


async def open_inbox(conn: asyncpg.Connection, store_id: Any) -> int:
    return int(await conn.fetchval(COUNT_OPEN_INBOX, store_id))


async def endpoints_health(conn: asyncpg.Connection, store_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(FAILING_ENDPOINTS, store_id)


async def chain_reports(conn: asyncpg.Connection, chains: Sequence[str],
                        lock_keys: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(CHAIN_REPORTS, list(chains), list(lock_keys))
