"""One active watcher per chain, however many processes run: a watcher runs only while its
process holds the chain's advisory lock on a dedicated session. The others stand by and try
again every `retry_s`; when the leader dies its session ends, PostgreSQL releases the lock,
and a standby takes over within seconds (resuming from the cursors in the database)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

import asyncpg

from db import queries

log = logging.getLogger("paywatch.watcher.leader")


async def lead(dsn: str, chain: str, run: Callable[[], Awaitable[None]],
               retry_s: float = 2.0) -> None:
    key = queries.watcher_lock_key(chain)
    while True:
        try:
            conn = await asyncpg.connect(dsn, server_settings={
                "application_name": f"paywatch-watcher-{chain}-{os.getpid()}"})
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot reach the database for leadership", extra={"error": str(exc)})
            await asyncio.sleep(retry_s)
            continue
        try:
            if await conn.fetchval(queries.TRY_ADVISORY_LOCK, key):
                log.info("leading", extra={"chain": chain, "pid": os.getpid()})
                await _while_holding(conn, run, retry_s)
            else:
                await asyncio.sleep(retry_s)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("lost the leadership session", extra={"chain": chain,
                                                              "error": str(exc)})
        finally:
            with contextlib.suppress(Exception):
                await conn.close()


async def _while_holding(conn: asyncpg.Connection, run: Callable[[], Awaitable[None]],
                         check_s: float) -> None:
    """Run the watcher; stop it the moment the lock's session stops answering."""
    task = asyncio.create_task(run())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=check_s)
            if done:
                task.result()
                return
            await asyncio.wait_for(conn.fetchval(queries.PING), check_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
