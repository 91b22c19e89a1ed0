"""`paywatch stores ...` and `paywatch keys ...`: the operator's one-liners."""

from __future__ import annotations

import argparse
import re

import asyncpg

from db import api_keys, audit, stores
from paywatch.apikeys import (
    DEFAULT_SCOPES,
    display_prefix,
    generate_key,
    hash_key,
    parse_scopes,
)
from paywatch.cli.common import CommandError, add_command, with_connection
from paywatch.validation import solana_address

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
    add_command(sub, "list", "List stores.", _stores_list)


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
    currency = args.currency.upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise SystemExit(f"paywatch: --currency {args.currency!r}: expected an ISO 4217 code")

    async def work(conn: asyncpg.Connection) -> int:
        async with conn.transaction():
            try:
                store = await stores.insert_store(conn, slug, args.name, recipient, currency)
            except asyncpg.UniqueViolationError:
                raise CommandError(f"a store with slug {slug!r} already exists") from None
            if recipient:
                await stores.upsert_store_asset(conn, store["id"], "solana", "SOL", None, 9)
            await audit.record(conn, store_id=store["id"], actor=ACTOR, action="store.create",
                               object_type="store", object_id=store["id"],
                               after={"slug": slug, "name": args.name,
                                      "solana_recipient": recipient})
        print(f"created store {slug} ({store['id']})")
        return 0

    return with_connection(work)


def _stores_list(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        for s in await stores.list_stores(conn):
            print(f"{s['slug']:<24} {s['id']}  {s['name']}  solana={s['solana_recipient'] or '-'}")
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
        key = generate_key()
        chosen = scopes or (list(DEFAULT_SCOPES) if store_id else ["admin"])
        async with conn.transaction():
            row = await api_keys.insert_key(conn, store_id, args.name, display_prefix(key),
                                            hash_key(key), chosen)
            await audit.record(conn, store_id=store_id, actor=ACTOR, action="api_key.create",
                               object_type="api_key", object_id=row["id"],
                               after={"prefix": row["prefix"], "scopes": chosen})
        print(key)
        print(f"(key {row['id']}, scopes {','.join(chosen)}; shown once: store it now)",
              flush=True)
        return 0

    return with_connection(work)


def _keys_revoke(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        async with conn.transaction():
            revoked = await api_keys.revoke_key(conn, args.key)
            if len(revoked) > 1:
                raise CommandError(f"{args.key!r} matches {len(revoked)} keys; use the key id")
            for row in revoked:
                await audit.record(conn, store_id=None, actor=ACTOR, action="api_key.revoke",
                                   object_type="api_key", object_id=row["id"])
        if not revoked:
            raise CommandError(f"no active key with id or prefix {args.key!r}")
        print(f"revoked key {revoked[0]['id']} ({revoked[0]['prefix']}...)")
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
