"""Creating a store with its Solana assets: the one path the CLI, the demo and the test
fixtures take (the API's create also sets per-chain settings, then shares the audit rule)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from db import audit, stores

# (symbol, mint or None for the native coin, decimals)
Asset = tuple[str, str | None, int]


class SlugTaken(Exception):
    pass


async def create_store(conn: asyncpg.Connection, slug: str, name: str, recipient: str | None,
                       assets: Sequence[Asset], actor: str,
                       currency: str = "USD") -> asyncpg.Record:
    """The store and its accepted Solana assets (SOL first when it has a recipient), audited
    in one transaction; SlugTaken when the slug is in use."""
    async with conn.transaction():
        try:
            store = await stores.insert_store(conn, slug, name, recipient, currency)
        except asyncpg.UniqueViolationError:
            raise SlugTaken(slug) from None
        if recipient:
            await stores.upsert_store_asset(conn, store["id"], "solana", "SOL", None, 9)
        for symbol, mint, decimals in assets:
            await stores.upsert_store_asset(conn, store["id"], "solana", symbol, mint, decimals)
        await audit.record(conn, store_id=store["id"], actor=actor, action="store.create",
                           object_type="store", object_id=store["id"],
                           after={"slug": slug, "name": name, "solana_recipient": recipient})
    return store
