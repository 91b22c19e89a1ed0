"""`paywatch stores ...` and `paywatch keys ...`: the operator's one-liners."""

from __future__ import annotations

import argparse
import re
import sys

import asyncpg

from db import api_keys, stores
from paywatch.cli.common import CommandError, add_command, with_connection
from paywatch.cli.evm import add_evm_command
from paywatch.core.apikeys import (
    DEFAULT_SCOPES,
    parse_scopes,
)
from paywatch.core.money import currency_code, parse_fiat
from paywatch.core.validation import solana_address
from paywatch.services.keys import AmbiguousKey, create_key, revoke_key
from paywatch.services.stores import (
    SlugTaken,
    StoreEdit,
    StoreGone,
    create_store,
    update_store,
)

ACTOR = "cli"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    _add_stores(commands)
    _add_keys(commands)


def _add_stores(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("stores", help="Create and list stores.",
                                 description="Create and list stores.")
    sub = parser.add_subparsers(dest="stores_command", metavar="SUBCOMMAND", required=True)
    create = add_command(sub, "create", "Create a store.", _stores_create)
    create.add_argument("name", help="the store's display name")
    create.add_argument("--slug", help="URL-safe id (default: derived from the name)")
    create.add_argument("--solana-recipient", metavar="PUBKEY",
                        help="the merchant's Solana wallet that receives payments")
    create.add_argument("--currency", default="USD", help="default fiat currency (ISO 4217)")
    _asset_option(create)
    add_command(sub, "list", "List stores.", _stores_list)
    update = add_command(sub, "update", "Change a store's recipient, policy or assets.",
                         _stores_update)
    update.add_argument("slug")
    update.add_argument("--name")
    update.add_argument("--solana-recipient", metavar="PUBKEY")
    update.add_argument("--commitment", choices=["confirmed", "finalized"])
    update.add_argument("--finalized-above", metavar="AMOUNT",
                        help="require `finalized` at or above this fiat amount")
    update.add_argument("--payment-lifetime", type=int, metavar="SECONDS")
    update.add_argument("--accept-late-payments", choices=["yes", "no"])
    update.add_argument("--cfv", choices=["on", "off"], help="CFV discounts on or off")
    update.add_argument("--solana-unique-amount", action=argparse.BooleanOptionalAction,
                        help="make each Solana payment's amount unique, so a transfer without "
                        "the reference (an exchange withdrawal) matches by its exact amount")
    _asset_option(update)
    update.add_argument("--remove-asset", action="append", default=[], metavar="SYMBOL")
    add_evm_command(sub)


def _asset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--asset", action="append", default=[], metavar="SYMBOL:MINT:DECIMALS",
                        help="accept an SPL token, e.g. USDC:EPjFWdd5...Dt1v:6 (repeatable)")


def parse_asset(text: str) -> tuple[str, str, int]:
    try:
        symbol, mint, decimals = text.split(":")
        return symbol.upper(), solana_address(mint), int(decimals)
    except ValueError as exc:
        raise SystemExit(f"paywatch: --asset {text!r}: expected SYMBOL:MINT:DECIMALS ({exc})"
                         ) from None


def _add_keys(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("keys", help="Create, list and revoke API keys.",
                                 description="Create, list and revoke API keys.")
    sub = parser.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    create = add_command(sub, "create", "Create an API key; it is printed once.", _keys_create)
    create.add_argument("--store", metavar="SLUG",
                        help="the store the key belongs to (omit for an operator admin key)")
    create.add_argument("--scopes", nargs="+", metavar="SCOPE",
                        help=f"scopes (default: {' '.join(DEFAULT_SCOPES)}; operator: admin)")
    create.add_argument("--name", default="", help="a note to tell keys apart")
    revoke = add_command(sub, "revoke", "Revoke a key by id or prefix.", _keys_revoke)
    revoke.add_argument("key", metavar="ID_OR_PREFIX")
    listing = add_command(sub, "list", "List keys (never the keys themselves).", _keys_list)
    listing.add_argument("--store", metavar="SLUG")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63]
    if not slug:
        raise CommandError(f"cannot derive a slug from {name!r}; pass --slug")
    return slug


async def _store_or_fail(conn: asyncpg.Connection, slug: str) -> asyncpg.Record:
    store = await stores.store_by_slug(conn, slug)
    if store is None:
        raise CommandError(f"no store with slug {slug!r} (see `paywatch stores list`)")
    return store


def _stores_create(args: argparse.Namespace) -> int:
    slug = args.slug or slugify(args.name)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", slug):
        raise SystemExit(f"paywatch: --slug {slug!r}: use a-z, 0-9 and '-', up to 63 characters")
    recipient = None
    if args.solana_recipient:
        try:
            recipient = solana_address(args.solana_recipient)
        except ValueError as exc:
            raise SystemExit(f"paywatch: --solana-recipient: {exc}") from None
    assets = [parse_asset(a) for a in args.asset]
    try:  # the API's check: any three letters are not a currency
        currency = currency_code(args.currency)
    except ValueError:
        raise SystemExit(f"paywatch: --currency {args.currency!r}: expected an ISO 4217 code"
                         ) from None

    async def work(conn: asyncpg.Connection) -> int:
        try:
            store = await create_store(conn, slug, args.name, recipient, assets, ACTOR,
                                       currency)
        except SlugTaken:
            raise CommandError(f"a store with slug {slug!r} already exists") from None
        print(f"created store {slug} ({store['id']})")
        return 0

    return with_connection(work)


def _stores_list(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        for s in await stores.list_stores(conn):
            print(f"{s['slug']:<24} {s['id']}  {s['name']}  solana={s['solana_recipient'] or '-'}")
        return 0

    return with_connection(work)


def _update_changes(args: argparse.Namespace) -> dict[str, object]:
    changes: dict[str, object] = {}
    if args.name:
        changes["name"] = args.name
    if args.solana_recipient:
        try:
            changes["solana_recipient"] = solana_address(args.solana_recipient)
        except ValueError as exc:
            raise SystemExit(f"paywatch: --solana-recipient: {exc}") from None
    if args.commitment:
        changes["commitment"] = args.commitment
    if args.finalized_above is not None:
        try:
            changes["finalized_above"] = parse_fiat(args.finalized_above)
        except ValueError as exc:
            raise SystemExit(f"paywatch: --finalized-above: {exc}") from None
    if args.payment_lifetime is not None:
        changes["payment_lifetime_seconds"] = args.payment_lifetime
    if args.accept_late_payments:
        changes["accept_late_payments"] = args.accept_late_payments == "yes"
    if args.cfv:
        changes["cfv_policy"] = {"enabled": args.cfv == "on"}
    if args.solana_unique_amount is not None:
        changes["solana_unique_amount"] = args.solana_unique_amount
    return changes


def _stores_update(args: argparse.Namespace) -> int:
    changes = _update_changes(args)
    removals = [s.upper() for s in args.remove_asset]
    # Removals first, then additions: `--remove-asset USDC --asset USDC:NEW:6` swaps the mint
    # instead of leaving USDC disabled. SOL comes (back) only with a recipient set in this very
    # command, so an unrelated update never re-enables a SOL the operator removed.
    sol = [("solana", "SOL", None, 9)] if ("solana_recipient" in changes
                                           and "SOL" not in removals) else []
    edit = StoreEdit(fields=changes, remove_assets=[("solana", s) for s in removals],
                     add_assets=sol + [("solana", symbol, mint, decimals)
                                       for symbol, mint, decimals in
                                       (parse_asset(a) for a in args.asset)])

    async def work(conn: asyncpg.Connection) -> int:
        before = await _store_or_fail(conn, args.slug)
        try:
            row = await update_store(conn, before["id"], edit, ACTOR)
        except asyncpg.CheckViolationError as exc:
            raise CommandError(f"refused by the database: {exc.constraint_name}") from None
        except StoreGone:  # deleted since it was read
            raise CommandError(f"no store with slug {args.slug!r}") from None
        accepted = [a["asset"] for a in await stores.store_assets(conn, row["id"])
                    if a["enabled"]]
        print(f"updated store {args.slug}; accepts {', '.join(accepted) or 'nothing yet'}")
        return 0

    return with_connection(work)


def _keys_create(args: argparse.Namespace) -> int:
    try:
        scopes = parse_scopes(args.scopes) if args.scopes else None
    except ValueError as exc:
        raise SystemExit(f"paywatch: --scopes: {exc}") from None
    if args.store is None and scopes not in (None, ["admin"]):
        raise SystemExit("paywatch: a key without --store is an operator key: scope admin only")

    async def work(conn: asyncpg.Connection) -> int:
        store_id = (await _store_or_fail(conn, args.store))["id"] if args.store else None
        chosen = scopes or (list(DEFAULT_SCOPES) if store_id else ["admin"])
        key, row = await create_key(conn, store_id, args.name, chosen, ACTOR)
        # The key alone on stdout, so `KEY=$(paywatch keys create ...)` captures it; the note
        # for the person goes to stderr.
        print(key, flush=True)
        print(f"(key {row['id']}, scopes {','.join(chosen)}; shown once: store it now)",
              file=sys.stderr, flush=True)
        return 0

    return with_connection(work)


def _keys_revoke(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        try:
            revoked = await revoke_key(conn, args.key, ACTOR)
        except AmbiguousKey as exc:
            raise CommandError(str(exc)) from None
        if revoked is None:
            raise CommandError(f"no active key with id or prefix {args.key!r}")
        print(f"revoked key {revoked['id']} ({revoked['prefix']}...)")
        return 0

    return with_connection(work)


def _keys_list(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        store_id = (await _store_or_fail(conn, args.store))["id"] if args.store else None
        for k in await api_keys.list_keys(conn, store_id):
            state = "revoked" if k["revoked_at"] else "active"
            print(f"{k['id']}  {k['prefix']}...  {state:<8} {k['store_slug'] or '(operator)':<20}"
                  f" {','.join(k['scopes'])}  {k['name']}")
        return 0

    return with_connection(work)
