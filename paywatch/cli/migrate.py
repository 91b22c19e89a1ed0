"""`paywatch migrate status | up | down | validate`."""

from __future__ import annotations

import argparse

import asyncpg

from db.migrator import Migrator
from paywatch.cli.common import add_command, with_connection


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("migrate", help="Inspect and apply database migrations.",
                                 description="Inspect and apply database migrations.")
    sub = parser.add_subparsers(dest="migrate_command", metavar="SUBCOMMAND", required=True)
    add_command(sub, "status", "List migrations and whether each is applied.", _status)
    up = add_command(sub, "up", "Apply pending migrations.", _up)
    up.add_argument("--to", type=int, metavar="N", help="stop after version N")
    up.add_argument("--dry-run", action="store_true", help="print what would run; change nothing")
    down = add_command(sub, "down", "Revert applied migrations (needs their .down.sql).", _down)
    target = down.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", type=int, metavar="N", help="revert everything above version N")
    target.add_argument("--steps", type=int, metavar="K", help="revert the newest K migrations")
    down.add_argument("--dry-run", action="store_true", help="print what would run; change nothing")
    add_command(sub, "validate", "Check applied migrations against the files and the schema.",
                _validate)


def _status(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        rows = await Migrator(conn, progress=print).status()
        for row in rows:
            print(f"{row.version:04d}  {row.name:<32} {row.state:<12} {row.applied_at or ''}")
        return 0 if all(r.state in ("applied", "pending") for r in rows) else 1

    return with_connection(work)


def _up(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        done = await Migrator(conn, progress=print).up(to=args.to, dry_run=args.dry_run)
        if not done:
            print("nothing to apply: the database is up to date")
        return 0

    return with_connection(work)


def _down(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        done = await Migrator(conn, progress=print).down(
            to=args.to, steps=args.steps, dry_run=args.dry_run)
        if not done:
            print("nothing to revert")
        return 0

    return with_connection(work)


def _validate(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        problems = await Migrator(conn, progress=print).validate()
        for problem in problems:
            print(f"invalid: {problem}")
        if not problems:
            print("ok: applied migrations match the files and the schema")
        return 1 if problems else 0

    return with_connection(work)
