"""What every command shares: settings (exit 2 on a bad one), logging, the database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import asyncpg

from db.migrator import MigrationError
from paywatch.core.settings import Settings, SettingsError, load_settings
from paywatch.database import open_database
from paywatch.logs import configure_logging

T = TypeVar("T")


class CommandError(Exception):
    """An error meant for the person at the terminal: printed without a traceback, exit 1."""


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        for line in exc.lines:
            print(f"paywatch: invalid configuration: {line}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def with_connection(work: Callable[[asyncpg.Connection], Awaitable[int]]) -> int:
    """Open the configured database, run `work` on one connection, close everything."""
    settings = settings_or_exit()

    async def go() -> int:
        async with open_database(settings) as db, db.pool.acquire() as conn:
            return await work(conn)

    return run_command(go)


def run_command(go: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(go())
    except (CommandError, MigrationError) as exc:
        print(f"paywatch: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"paywatch: database error: {exc}", file=sys.stderr)
        return 1


def add_command(commands: argparse._SubParsersAction, name: str, help_: str,
                func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_, description=help_)
    parser.set_defaults(func=func)
    return parser
