"""SQL for the event outbox. Events are written in the transaction that caused them."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_EVENT = """
INSERT INTO events (store_id, type, payment_id, order_id, data)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, seq, created_at
"""


async def emit(conn: asyncpg.Connection, *, store_id: Any, type_: str, data: Any,
               payment_id: Any = None, order_id: Any = None) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_EVENT, store_id, type_, payment_id, order_id, data)


async def emit_many(conn: asyncpg.Connection, rows: list[tuple[Any, str, Any, Any, Any]]) -> None:
    """Several events in one round trip: (store_id, type, payment_id, order_id, data) each."""
    await conn.executemany(INSERT_EVENT, rows)
