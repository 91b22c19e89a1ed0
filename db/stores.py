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
