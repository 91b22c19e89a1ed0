"""One active watcher per chain, however many processes run: a watcher runs only while its
process holds the chain's advisory lock on a dedicated session. The others stand by on ONE
session each, waiting on the lock there (no reconnect every few seconds); when the leader dies
its session ends, PostgreSQL releases the lock, and a standby takes over at once (resuming from
the cursors in the database)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

import asyncpg

from db import queries
from paywatch.core.metrics import WATCHER_LEADER

log = logging.getLogger("paywatch.watcher.leader")
# A standby's wait is cut this often to prove its session still answers (a dead peer that
# sent no reset would otherwise leave it waiting forever); the session itself is kept.
WAIT_S = 30.0
DATABASE_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def lead(dsn: str, chain: str, run: Callable[[], Awaitable[None]],
               retry_s: float = 2.0, wait_s: float = WAIT_S) -> None:
    key = queries.watcher_lock_key(chain)
    WATCHER_LEADER.labels(chain).set(0)   # a standby reports 0: "no leader" is a max below 1
    failures = 0
    while True:
        try:
            conn = await asyncpg.connect(dsn, server_settings={
                "application_name": f"paywatch-watcher-{chain}-{os.getpid()}"})
        except DATABASE_LOST as exc:
            failures += 1
            log.warning("cannot reach the database for leadership", extra={"error": str(exc)})
            await asyncio.sleep(min(30.0, retry_s * 2 ** min(failures, 5)))
            continue
        failures = 0
        try:
            await _wait_for_lock(conn, key, wait_s)
            log.info("leading", extra={"chain": chain, "pid": os.getpid()})
            WATCHER_LEADER.labels(chain).set(1)
            await _while_holding(conn, run, retry_s)
        except DATABASE_LOST as exc:
            log.warning("lost the leadership session", extra={"chain": chain,
                                                              "error": str(exc)})
            await asyncio.sleep(retry_s)
        finally:
            WATCHER_LEADER.labels(chain).set(0)
            with contextlib.suppress(Exception):
                await conn.close()


async def _wait_for_lock(conn: asyncpg.Connection, key: int, wait_s: float) -> None:
    """Block on the lock on this session until it is ours. The bounded wait is cancelled
    server-side when it runs out, and the session is checked and reused."""
    while True:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that meets the
        # query's answer, and a cancelled standby would take the lead and run on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await conn.fetchval(queries.ADVISORY_LOCK, key)
            return
        async with asyncio.timeout(wait_s):
            await conn.fetchval(queries.PING)


async def _while_holding(conn: asyncpg.Connection,
                         run: Callable[[], Awaitable[None]],
                         check_s: float) -> None:
    """Run the watcher; stop it the moment the lock's session stops answering."""
    task = asyncio.ensure_future(run())  # the chain adapter's Runnable: any awaitable
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=check_s)
            if done:
                task.result()
                return
            async with asyncio.timeout(check_s):  # not wait_for: see _wait_for_lock
                await conn.fetchval(queries.PING)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
