"""`paywatch export KIND --from --to --out FILE`: the books for a period as a CSV or JSON file,
the same rows and columns as GET /v1/exports/{kind}, with a progress bar on stderr."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import aclosing
from datetime import datetime
from pathlib import Path
from typing import TextIO

import asyncpg

from db import exports, stores
from paywatch.cli.common import CommandError, add_command, run_command, settings_or_exit
from paywatch.core import books
from paywatch.database import open_database

BAR_WIDTH = 30
REDRAW_SECONDS = 0.2


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = add_command(commands, "export", "Write a store's payments, transfers or refunds "
                         "for a period to a CSV or JSON file.", _export)
    parser.add_argument("kind", choices=books.KINDS)
    parser.add_argument("--from", dest="start", required=True, type=_time, metavar="TIME",
                        help="the period's start, inclusive (RFC 3339, e.g. 2026-11-01T00:00:00Z)")
    parser.add_argument("--to", dest="end", required=True, type=_time, metavar="TIME",
                        help="the period's end, exclusive")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE",
                        help="the file to write (replaced only once the export is complete)")
    parser.add_argument("--format", choices=books.FORMATS, default="csv")
    parser.add_argument("--store", metavar="SLUG",
                        help="the store (needed when there is more than one)")


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone, e.g. Z")
    return value


class Progress:
    """`[#####.....] 1,234/10,000 rows` redrawn in place on a terminal; on anything else one
    line at the end, so a log file is not flooded with carriage returns."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.out, self.done = total, out, 0
        self.tty = out.isatty()
        self.drawn_at = 0.0

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.tty and now - self.drawn_at >= REDRAW_SECONDS:
            self.drawn_at = now
            self._draw("\r")

    def finish(self) -> None:
        self._draw("\r" if self.tty else "")
        self.out.write("\n")
        self.out.flush()

    def _draw(self, start: str) -> None:
        share = self.done / self.total if self.total else 1.0
        filled = int(BAR_WIDTH * min(share, 1.0))
        self.out.write(f"{start}[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                       f"{self.done:,}/{self.total:,} rows")
        self.out.flush()


def _export(args: argparse.Namespace) -> int:
    from paywatch.chains import build_chains  # every chain's client: this command only

    try:
        books.check_period(args.start, args.end)
    except books.PeriodError as exc:
        print(f"paywatch: {exc}", file=sys.stderr)
        return 2
    settings = settings_or_exit()
    explorer = books.explorer_of(build_chains(settings))

    async def go() -> int:
        async with open_database(settings) as db, db.pool.acquire() as conn:
            store_id = await _store(conn, args.store)
            total = await exports.count(conn, args.kind, store_id, args.start, args.end)
            progress = Progress(total, sys.stderr)
            await _write(conn, args, store_id, explorer, progress)
            progress.finish()
        print(f"wrote {progress.done:,} {args.kind} to {args.out}", file=sys.stderr)
        return 0

    return run_command(go)


async def _store(conn: asyncpg.Connection, slug: str | None) -> object:
    if slug is not None:
        store = await stores.store_by_slug(conn, slug)
        if store is None:
            raise CommandError(f"no store {slug!r}")
        return store["id"]
    every = await stores.list_stores(conn)
    if len(every) != 1:
        raise CommandError("give --store SLUG; stores: "
                           + (", ".join(s["slug"] for s in every) or "none"))
    return every[0]["id"]


async def _write(conn: asyncpg.Connection, args: argparse.Namespace, store_id: object,
                 explorer: books.Explorer, progress: Progress) -> None:
    """Into a temporary file beside the target, renamed over it at the end: an export that
    fails halfway never leaves a plausible-looking partial file under the name asked for."""
    partial = args.out.with_name(f".{args.out.name}.partial")
    try:
        with partial.open("wb") as out:
            async with aclosing(exports.rows(conn, args.kind, store_id, args.start,
                                             args.end)) as rows, \
                    aclosing(books.encode(args.kind, args.format, rows, explorer,
                                          on_row=progress.step)) as chunks:
                async for chunk in chunks:
                    out.write(chunk)
        os.replace(partial, args.out)
    finally:
        partial.unlink(missing_ok=True)
