"""Sweeps run by the scheduler: batched, so a million stale payments never hold one long
transaction, and safe to run in several processes at once (see db/sweeps.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from db import dashboard as sessions
from db import sweeps
from paywatch.services import payments, refunds

log = logging.getLogger("paywatch.services.sweeps")
BATCH = 5_000

Batch = Callable[[asyncpg.Connection, int], Awaitable[int]]


async def sweep(pool: asyncpg.Pool, batch: Batch, name: str, size: int = BATCH) -> int:
    """Run `batch` until a batch comes back short; each batch commits on its own. (One sweeper
    at a time: two side by side on their own connections measured slower on the 2-core
    machine under API load, 1,025-1,493 against 1,328-2,433 payments/s: the cores are busy.)"""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            done = await batch(conn, size)
        total += done
        if done:
            log.info("%s: %d so far", name, total)
        if done < size:
            return total


async def expire_payments(pool: asyncpg.Pool, size: int = BATCH,
                          public_url: str | None = None) -> int:
    async def batch(conn: asyncpg.Connection, limit: int) -> int:
        return await payments.expire_due(conn, limit, public_url)

    return await sweep(pool, batch, "expired payments", size)


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
