"""Store use cases: create and update, the one path the API, the CLI, the demo and the test
fixtures take. Each is one transaction with its audit row (the store as JSON before and after);
callers validate their input (addresses, assets against the chain registry) first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from db import audit, stores
from db import evm as db_evm
from paywatch.core.objects import store_object

# (symbol, mint or None for the native coin, decimals): a Solana asset
Asset = tuple[str, str | None, int]
# (chain, symbol, mint or contract or None, decimals): an asset on any chain
ChainAsset = tuple[str, str, str | None, int]


class SlugTaken(Exception):
    pass


class StoreGone(Exception):
    """The store was deleted since the caller read it."""


@dataclass(frozen=True)
class EvmMatching:
    """How a store's payments on one EVM chain are matched."""
    mode: str
    xpub: str | None
    address: str | None


@dataclass(frozen=True)
class StoreEdit:
    """What to change: columns (db/stores.STORE_UPDATE_FIELDS), EVM matching per chain (None
    removes a chain's), and accepted assets: `remove_assets` (chain, symbol) are disabled
    first, then `add_assets` upserted; `replace_assets` disables every other asset too."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    evm: Mapping[str, EvmMatching | None] = field(default_factory=dict)
    remove_assets: Sequence[tuple[str, str]] = ()
    add_assets: Sequence[ChainAsset] = ()
    replace_assets: bool = False


async def store_json(conn: asyncpg.Connection, row: asyncpg.Record) -> dict[str, Any]:
    return store_object(row, await stores.store_assets(conn, row["id"]),
                        await db_evm.store_chains(conn, row["id"]))


async def open_store(conn: asyncpg.Connection, slug: str, name: str, edit: StoreEdit,
                     actor: str) -> asyncpg.Record:
    """A new store with `edit` applied, audited in one transaction; SlugTaken when the slug is
    in use."""
    async with conn.transaction():
        try:
            row = await stores.insert_store(conn, slug, name, None)
        except asyncpg.UniqueViolationError:
            raise SlugTaken(slug) from None
        row = await _apply(conn, row["id"], edit)
        await audit.record(conn, store_id=row["id"], actor=actor, action="store.create",
                           object_type="store", object_id=row["id"],
                           after=await store_json(conn, row))
    return row


async def create_store(conn: asyncpg.Connection, slug: str, name: str, recipient: str | None,
                       assets: Sequence[Asset], actor: str,
                       currency: str = "USD") -> asyncpg.Record:
    """A store accepting Solana assets (SOL first when it has a recipient): the CLI's, the
    demo's and the test fixtures' shorthand for open_store."""
    sol: list[ChainAsset] = [("solana", "SOL", None, 9)] if recipient else []
    edit = StoreEdit(fields={"solana_recipient": recipient, "default_currency": currency},
                     add_assets=sol + [("solana", s, m, d) for s, m, d in assets])
    return await open_store(conn, slug, name, edit, actor)


async def update_store(conn: asyncpg.Connection, store_id: Any, edit: StoreEdit,
                       actor: str) -> asyncpg.Record:
    """Apply `edit`, audited with the store before and after; StoreGone when it went away."""
    async with conn.transaction():
        before = await stores.store_by_id(conn, store_id)
        if before is None:
            raise StoreGone(store_id)
        before_json = await store_json(conn, before)
        row = await _apply(conn, store_id, edit)
        await audit.record(conn, store_id=store_id, actor=actor, action="store.update",
                           object_type="store", object_id=store_id, before=before_json,
                           after=await store_json(conn, row))
    return row


async def _apply(conn: asyncpg.Connection, store_id: Any, edit: StoreEdit) -> asyncpg.Record:
    row = await stores.update_store(conn, store_id, dict(edit.fields))
    if row is None:  # an UPDATE finds no row only if the store went away meanwhile
        raise StoreGone(store_id)
    for chain, matching in edit.evm.items():
        if matching is None:
            await db_evm.delete_store_chain(conn, store_id, chain)
        else:
            await db_evm.upsert_store_chain(conn, store_id, chain, matching.mode,
                                            matching.xpub, matching.address)
    keep = {(chain, symbol) for chain, symbol, _mint, _decimals in edit.add_assets}
    removals = set(edit.remove_assets)
    if edit.replace_assets:
        removals |= {(a["chain"], a["asset"]) for a in await stores.store_assets(conn, store_id)
                     if (a["chain"], a["asset"]) not in keep}
    for chain, symbol in sorted(removals):
        await stores.disable_store_asset(conn, store_id, chain, symbol)
    for chain, symbol, mint, decimals in edit.add_assets:
        await stores.upsert_store_asset(conn, store_id, chain, symbol, mint, decimals)
    return row
