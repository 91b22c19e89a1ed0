"""SQL for orders, their items and their status history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

# One statement allocates the day's next number for the store, so concurrent orders never
# share one (the row lock on the counter serialises them).
NEXT_ORDER_NUMBER = """
INSERT INTO order_number_counters (store_id, day, last)
VALUES ($1, (now() AT TIME ZONE 'UTC')::date, 1)
ON CONFLICT (store_id, day) DO UPDATE SET last = order_number_counters.last + 1
RETURNING day, last
"""

INSERT_ORDER = """
INSERT INTO orders (store_id, number, customer_id, currency, subtotal, shipping, tax, total,
                    shipping_address, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *
"""

INSERT_ITEMS = """
INSERT INTO order_items (order_id, position, sku, name, quantity, unit_price, total)
SELECT $1, i.position, i.sku, i.name, i.quantity, i.unit_price, i.total
FROM unnest($2::smallint[], $3::text[], $4::text[], $5::integer[], $6::numeric[],
            $7::numeric[]) AS i(position, sku, name, quantity, unit_price, total)
"""

INSERT_HISTORY = """
INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor)
VALUES ($1, $2, $3, $4, $5)
"""

ORDER_VIEW = """
SELECT o.*, c.email AS customer_email, c.name AS customer_name, c.wallet AS customer_wallet
FROM orders o LEFT JOIN customers c ON c.id = o.customer_id
"""

SELECT_ORDER_BY_ID = ORDER_VIEW + "WHERE o.id = $1 AND o.store_id = $2"
SELECT_ORDER_BY_NUMBER = ORDER_VIEW + "WHERE o.number = $1 AND o.store_id = $2"

LIST_ORDERS = ORDER_VIEW + """
WHERE o.store_id = $1
  AND ($2::text IS NULL OR o.status = $2)
  AND ($3::text IS NULL OR lower(c.email) = lower($3))
  AND ($4::timestamptz IS NULL OR o.created_at >= $4)
  AND ($5::timestamptz IS NULL OR o.created_at < $5)
  AND ($6::timestamptz IS NULL OR (o.created_at, o.id) < ($6, $7::uuid))
ORDER BY o.created_at DESC, o.id DESC
LIMIT $8
"""

SELECT_ITEMS = """
SELECT position, sku, name, quantity, unit_price, total FROM order_items
WHERE order_id = $1 ORDER BY position
"""

SELECT_HISTORY = """
SELECT from_status, to_status, reason, actor, created_at FROM order_status_history
WHERE order_id = $1 ORDER BY id
"""

# Guarded transitions: the WHERE names the states the change may start from.
CANCEL_ORDER = """
UPDATE orders SET status = 'cancelled', cancelled_at = now(), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = 'pending_payment'
RETURNING *
"""

FULFILL_ORDER = """
UPDATE orders SET status = $3, carrier = COALESCE($4, carrier),
    tracking_number = COALESCE($5, tracking_number), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = ANY($6::text[])
RETURNING *
"""

DETECTED_PAYMENTS_OF_ORDER = """
SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'detected'
"""

CANCEL_PENDING_PAYMENTS_OF_ORDER = """
UPDATE payments SET status = 'cancelled', closed_at = now(), updated_at = now()
WHERE order_id = $1 AND status = 'pending'
RETURNING id
"""


async def next_order_number(conn: asyncpg.Connection, store_id: Any) -> str:
    row = await conn.fetchrow(NEXT_ORDER_NUMBER, store_id)
    return f"ORD-{row['day']:%Y%m%d}-{row['last']:04d}"


async def insert_order(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        INSERT_ORDER, values["store_id"], values["number"], values["customer_id"],
        values["currency"], values["subtotal"], values["shipping"], values["tax"],
        values["total"], values["shipping_address"], values["metadata"])


async def insert_items(conn: asyncpg.Connection, order_id: Any,
                       items: list[dict[str, Any]]) -> None:
    columns = ("position", "sku", "name", "quantity", "unit_price", "total")
    await conn.execute(INSERT_ITEMS, order_id, *([i[c] for i in items] for c in columns))


async def add_history(conn: asyncpg.Connection, order_id: Any, from_status: str | None,
                      to_status: str, reason: str | None, actor: str) -> None:
    await conn.execute(INSERT_HISTORY, order_id, from_status, to_status, reason, actor)


async def order_by_id(conn: asyncpg.Connection, order_id: Any,
                      store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ORDER_BY_ID, order_id, store_id)


async def order_by_number(conn: asyncpg.Connection, number: str,
                          store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ORDER_BY_NUMBER, number, store_id)


async def list_orders(conn: asyncpg.Connection, store_id: Any, *, status: str | None,
                      email: str | None, created_gte: datetime | None,
                      created_lt: datetime | None, after: tuple[Any, Any],
                      limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(LIST_ORDERS, store_id, status, email, created_gte, created_lt,
                            after[0], after[1], limit)


async def items_of(conn: asyncpg.Connection, order_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ITEMS, order_id)


async def history_of(conn: asyncpg.Connection, order_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_HISTORY, order_id)


async def cancel_order(conn: asyncpg.Connection, order_id: Any,
                       store_id: Any) -> asyncpg.Record | None:
    return await conn.fetchrow(CANCEL_ORDER, order_id, store_id)


async def fulfill_order(conn: asyncpg.Connection, order_id: Any, store_id: Any, to_status: str,
                        carrier: str | None, tracking: str | None,
                        expected: tuple[str, ...]) -> asyncpg.Record | None:
    return await conn.fetchrow(FULFILL_ORDER, order_id, store_id, to_status, carrier, tracking,
                               list(expected))


async def detected_payments(conn: asyncpg.Connection, order_id: Any) -> int:
    return int(await conn.fetchval(DETECTED_PAYMENTS_OF_ORDER, order_id))


async def cancel_pending_payments(conn: asyncpg.Connection, order_id: Any) -> list[Any]:
    return [r["id"] for r in await conn.fetch(CANCEL_PENDING_PAYMENTS_OF_ORDER, order_id)]
