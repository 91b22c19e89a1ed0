"""Sweeps run by the scheduler: batched, so a million stale payments never hold one long
transaction, and safe to run in several processes at once (see db/sweeps.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from db import dashboard as sessions
from db import sweeps
from paywatch.services import payments, refunds

log = logging.getLogger("paywatch.services.sweeps")
BATCH = 5_000
# Two sweepers side by side measured slower than one on the 2-core machine under API load
# (1,025-1,493 against 1,328-2,433 payments/s, back to back): the cores are already busy.
EXPIRY_WORKERS = 1

Batch = Callable[[asyncpg.Connection, int], Awaitable[int]]


async def sweep(pool: asyncpg.Pool, batch: Batch, name: str, size: int = BATCH,
                workers: int = 1) -> int:
    """Run `batch` until a batch comes back short; each batch commits on its own. With
    `workers` > 1, that many run side by side on their own connections (FOR UPDATE SKIP LOCKED
    gives each its own rows): one builds its events in Python while another's statement runs
    in PostgreSQL."""
    total = 0

    async def one() -> None:
        nonlocal total
        while True:
            async with pool.acquire() as conn, conn.transaction():
                done = await batch(conn, size)
            total += done
            if done:
                log.info("%s: %d so far", name, total)
            if done < size:
                return

    if workers == 1:
        await one()
        return total
    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(workers):
                tg.create_task(one())
    except ExceptionGroup as group:
        # One failure is the sweep's failure, raised as itself: the job wrapper tells a
        # database restart (a warning) from a bug (an error), which it cannot through a group.
        raise group.exceptions[0] from None
    return total


async def expire_payments(pool: asyncpg.Pool, size: int = BATCH,
                          public_url: str | None = None, workers: int = EXPIRY_WORKERS) -> int:
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        return await payments.expire_due(conn, limit, public_url)

    return await sweep(pool, batch, "expired payments", size, workers)


async def invalidate_payments(pool: asyncpg.Pool, size: int = BATCH,
                              public_url: str | None = None) -> int:
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        return await payments.invalidate_due(conn, limit, public_url)

    return await sweep(pool, batch, "invalid payments", size)


async def expire_refunds(pool: asyncpg.Pool, size: int = BATCH,
                         public_url: str | None = None) -> int:
    """Pending refunds the merchant never sent, past their lifetime (default 24 hours)."""
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        return await refunds.expire_due(conn, limit, public_url)

    return await sweep(pool, batch, "expired refunds", size)


async def purge_events(pool: asyncpg.Pool, days: int, size: int = BATCH) -> int:
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        return await sweeps.purge_events_batch(conn, days, limit)

    return await sweep(pool, batch, "purged events", size)


async def purge_sessions(pool: asyncpg.Pool, size: int = BATCH) -> int:
    """Dashboard sessions over for a week (signed out or expired): the audit log keeps who
    signed in; the rows themselves are only for checking live cookies."""
    return await sweep(pool, sessions.delete_over, "purged dashboard sessions", size)
