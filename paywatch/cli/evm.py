"""`paywatch stores evm SLUG CHAIN ...`: how a store's payments on an EVM chain are matched
(an account xpub for deposit addresses, or one shared address) and which of the chain's assets
it accepts. The chain itself comes from PAYWATCH_EVM_CHAINS."""

from __future__ import annotations

import argparse

import asyncpg

from db import stores
from paywatch.cli.common import CommandError, add_command, settings_or_exit, with_connection
from paywatch.core.evm import EvmChain, checksum, validate_xpub
from paywatch.services.stores import ChainAsset, EvmMatching, StoreEdit, StoreGone, update_store

ACTOR = "cli"


def add_evm_command(sub: argparse._SubParsersAction) -> None:
    evm = add_command(sub, "evm", "Set how a store is paid on an EVM chain.", _stores_evm)
    evm.add_argument("slug")
    evm.add_argument("chain", help="a chain name from PAYWATCH_EVM_CHAINS")
    how = evm.add_mutually_exclusive_group(required=True)
    how.add_argument("--xpub", help="account-level xpub (m/44'/60'/0'): a fresh deposit "
                     "address per payment")
    how.add_argument("--shared-address", metavar="0x...", help="one address for every "
                     "payment; amounts are made unique")
    evm.add_argument("--accept", nargs="+", metavar="SYMBOL",
                     help="assets to accept (default: every asset the chain configures)")


def _resolve(args: argparse.Namespace) -> tuple[EvmChain, str | None, str | None, list[str]]:
    chain = settings_or_exit().evm_chain(args.chain)
    if chain is None:
        raise SystemExit(f"paywatch: no EVM chain {args.chain!r} in PAYWATCH_EVM_CHAINS")
    try:
        xpub = validate_xpub(args.xpub) if args.xpub else None
        address = checksum(args.shared_address) if args.shared_address else None
    except ValueError as exc:
        raise SystemExit(f"paywatch: {exc}") from None
    symbols = [s.upper() for s in args.accept] if args.accept else chain.symbols()
    unknown = [s for s in symbols if chain.asset(s) is None]
    if unknown:
        raise SystemExit(f"paywatch: {args.chain} has no {', '.join(unknown)}; configured: "
                         f"{', '.join(chain.symbols())}")
    return chain, xpub, address, symbols


def _stores_evm(args: argparse.Namespace) -> int:
    chain, xpub, address, symbols = _resolve(args)
    mode = "deposit_address" if xpub else "shared_address"
    assets: list[ChainAsset] = []
    for symbol in symbols:
        contract, decimals = chain.asset(symbol) or (None, 0)
        assets.append((chain.name, symbol, contract, decimals))
    edit = StoreEdit(evm={chain.name: EvmMatching(mode, xpub, address)}, add_assets=assets)

    async def work(conn: asyncpg.Connection) -> int:
        store = await stores.store_by_slug(conn, args.slug)
        if store is None:
            raise CommandError(f"no store {args.slug!r}")
        try:
            await update_store(conn, store["id"], edit, ACTOR)
        except StoreGone:
            raise CommandError(f"no store {args.slug!r}") from None
        print(f"store {args.slug} on {chain.name}: {mode}; accepts {', '.join(symbols)}")
        return 0

    return with_connection(work)
