"""SQL for the event outbox. Events are written in the transaction that caused them."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_EVENT = """
INSERT INTO events (store_id, type, payment_id, order_id, data)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, seq, created_at
"""

# Every new event wakes the webhook dispatchers (watcher/webhooks.py listens on
# `paywatch_events`), delivered with the commit like any NOTIFY: a rolled-back event wakes
# no one. Empty payload: a dispatcher's pass takes everything due, and PostgreSQL folds a
# transaction's identical notifications into one. In this module rather than a trigger, so a
# batch of a sweep notifies once, not once per row.
NOTIFY_EVENTS = "SELECT pg_notify('paywatch_events', '')"

EMIT_EVENT = """
WITH event AS (
    INSERT INTO events (store_id, type, payment_id, order_id, data)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING id, seq, created_at
)
SELECT id, seq, created_at, pg_notify('paywatch_events', '') IS NULL AS notified FROM event
"""

# A batch (a sweep's thousands of events) from arrays, column by column: one statement and one
# notification rather than executemany's bind and execute per row.
EMIT_EVENTS = """
WITH inserted AS (
    INSERT INTO events (store_id, type, payment_id, order_id, data)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::jsonb[])
    RETURNING 1
)
SELECT pg_notify('paywatch_events', '') FROM (SELECT count(*) FROM inserted) AS batch
"""


async def emit(conn: asyncpg.Connection, *, store_id: Any, type_: str, data: Any,
               payment_id: Any = None, order_id: Any = None) -> asyncpg.Record:
    return await conn.fetchrow(EMIT_EVENT, store_id, type_, payment_id, order_id, data)


async def emit_many(conn: asyncpg.Connection, rows: list[tuple[Any, str, Any, Any, Any]]) -> None:
    """Several events in one statement: (store_id, type, payment_id, order_id, data) each."""
    if not rows:
        return
    await conn.execute(EMIT_EVENTS, *(list(column) for column in zip(*rows, strict=True)))


async def announce(conn: asyncpg.Connection) -> None:
    """Wake the dispatchers for deliveries made due without a new event (a redelivery)."""
    await conn.execute(NOTIFY_EVENTS)
