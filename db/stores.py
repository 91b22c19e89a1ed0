"""SQL for stores and their accepted assets."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_STORE = """
INSERT INTO stores (slug, name, solana_recipient, default_currency)
VALUES ($1, $2, $3, $4)
RETURNING *
"""

SELECT_STORE_BY_SLUG = "SELECT * FROM stores WHERE slug = $1"
SELECT_STORE_BY_ID = "SELECT * FROM stores WHERE id = $1"
SELECT_STORES = "SELECT * FROM stores ORDER BY created_at, slug"

UPSERT_STORE_ASSET = """
INSERT INTO store_assets (store_id, chain, asset, mint, decimals, enabled)
VALUES ($1, $2, $3, $4, $5, true)
ON CONFLICT (store_id, chain, asset) DO UPDATE
SET mint = EXCLUDED.mint, decimals = EXCLUDED.decimals, enabled = true
"""

SELECT_STORE_ASSETS = """
SELECT chain, asset, mint, decimals, enabled FROM store_assets
WHERE store_id = $1 ORDER BY chain, asset
"""


async def insert_store(conn: asyncpg.Connection, slug: str, name: str,
                       solana_recipient: str | None, currency: str = "USD") -> asyncpg.Record:
    return await conn.fetchrow(INSERT_STORE, slug, name, solana_recipient, currency)


async def store_by_slug(conn: asyncpg.Connection, slug: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_STORE_BY_SLUG, slug)


async def store_by_id(conn: asyncpg.Connection, store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_STORE_BY_ID, store_id)


async def list_stores(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_STORES)


async def upsert_store_asset(conn: asyncpg.Connection, store_id: Any, chain: str, asset: str,
                             mint: str | None, decimals: int) -> None:
    await conn.execute(UPSERT_STORE_ASSET, store_id, chain, asset, mint, decimals)


async def store_assets(conn: asyncpg.Connection, store_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_STORE_ASSETS, store_id)

SELECT_STORE_ASSET = """
SELECT chain, asset, mint, decimals FROM store_assets
WHERE store_id = $1 AND chain = $2 AND asset = $3 AND enabled
"""


async def store_asset(conn: asyncpg.Connection, store_id: Any, chain: str,
                      asset: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_STORE_ASSET, store_id, chain, asset)

# Partial update: each column has a "given" flag, so a field can be set to NULL on purpose
# (finalized_above) and fields not sent stay as they are. One statement, guarded by id.
UPDATE_STORE = """
UPDATE stores SET
    name = CASE WHEN $2 THEN $3 ELSE name END,
    default_currency = CASE WHEN $4 THEN $5 ELSE default_currency END,
    solana_recipient = CASE WHEN $6 THEN $7 ELSE solana_recipient END,
    commitment = CASE WHEN $8 THEN $9 ELSE commitment END,
    finalized_above = CASE WHEN $10 THEN $11 ELSE finalized_above END,
    underpaid_tolerance_percent = CASE WHEN $12 THEN $13 ELSE underpaid_tolerance_percent END,
    underpaid_tolerance_amount = CASE WHEN $14 THEN $15 ELSE underpaid_tolerance_amount END,
    payment_lifetime = CASE WHEN $16 THEN $17::integer * interval '1 second'
                            ELSE payment_lifetime END,
    monitoring_window = CASE WHEN $18 THEN $19::integer * interval '1 second'
                             ELSE monitoring_window END,
    confirmation_window = CASE WHEN $20 THEN $21::integer * interval '1 second'
                               ELSE confirmation_window END,
    accept_late_payments = CASE WHEN $22 THEN $23 ELSE accept_late_payments END,
    cfv_policy = CASE WHEN $24 THEN $25 ELSE cfv_policy END,
    allow_framing = CASE WHEN $26 THEN $27 ELSE allow_framing END,
    solana_unique_amount = CASE WHEN $28 THEN $29 ELSE solana_unique_amount END,
    updated_at = now()
WHERE id = $1
RETURNING *
"""

STORE_UPDATE_FIELDS = (
    "name", "default_currency", "solana_recipient", "commitment", "finalized_above",
    "underpaid_tolerance_percent", "underpaid_tolerance_amount", "payment_lifetime_seconds",
    "monitoring_window_seconds", "confirmation_window_seconds", "accept_late_payments",
    "cfv_policy", "allow_framing", "solana_unique_amount",
)

DISABLE_STORE_ASSET = """
UPDATE store_assets SET enabled = false WHERE store_id = $1 AND chain = $2 AND asset = $3
"""


async def update_store(conn: asyncpg.Connection, store_id: Any,
                       changes: dict[str, Any]) -> asyncpg.Record | None:
    unknown = set(changes) - set(STORE_UPDATE_FIELDS)
    if unknown:
        raise ValueError(f"not store fields: {sorted(unknown)}")
    args: list[Any] = [store_id]
    for name in STORE_UPDATE_FIELDS:
        args += [name in changes, changes.get(name)]
    return await conn.fetchrow(UPDATE_STORE, *args)


async def disable_store_asset(conn: asyncpg.Connection, store_id: Any, chain: str,
                              asset: str) -> None:
    await conn.execute(DISABLE_STORE_ASSET, store_id, chain, asset)

SELECT_PRICED_PAIRS = """
SELECT DISTINCT a.asset, s.default_currency AS currency
FROM store_assets a JOIN stores s ON s.id = a.store_id WHERE a.enabled
"""


async def priced_pairs(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every (asset, currency) a store may quote: what the price cache should keep warm."""
    return await conn.fetch(SELECT_PRICED_PAIRS)
