"""SQL for orders, their items and their status history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

# One statement allocates the day's next number for the store (UTC day), so concurrent orders
# never share one: the upsert's row lock on the counter serialises them.
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
RETURNING id
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

# Newest first by (created_at, id): the cursor is the last row's pair, so a page never repeats
# or skips a row even when many orders share a timestamp. orders_store_created_idx serves it.
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

# Items and history for a whole page in one query each (not one per order).
SELECT_ITEMS = """
SELECT order_id, position, sku, name, quantity, unit_price, total FROM order_items
WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, position
"""

SELECT_HISTORY = """
SELECT order_id, from_status, to_status, reason, actor, created_at FROM order_status_history
WHERE order_id = ANY($1::uuid[]) ORDER BY order_id, id
"""

# Guarded transitions: the WHERE names the states the change may start from, so a concurrent
# change (the watcher marking the order paid) turns this into a no-op instead of a lost update.
CANCEL_ORDER = """
UPDATE orders SET status = 'cancelled', cancelled_at = now(), updated_at = now()
WHERE id = $1 AND store_id = $2 AND status = 'pending_payment'
RETURNING id
"""

# The CTE locks the row only if it is in an expected state and hands back the status it left,
# so the history row names the true "from" even if the order changed since the caller read it.
FULFILL_ORDER = """
WITH prior AS (
    SELECT id, status FROM orders
    WHERE id = $1 AND store_id = $2 AND status = ANY($6::text[])
    FOR UPDATE
)
UPDATE orders o SET status = $3, carrier = COALESCE($4, o.carrier),
    tracking_number = COALESCE($5, o.tracking_number), updated_at = now()
FROM prior WHERE o.id = prior.id
RETURNING prior.status
"""

# The watcher locks a payment and then marks its order paid; cancelling takes its locks in
# that same order (payments first, by id) so the two can wait for each other but never
# deadlock, and whatever the watcher committed first is what the cancel sees.
LOCK_PAYMENTS_OF_ORDER = """
SELECT id, status FROM payments WHERE order_id = $1 ORDER BY id FOR UPDATE
"""

# The dashboard's list: LIST_ORDERS's keyset, searched by a customer's email, an order number
# ($4) or a number's prefix ($5: "ORD-20250101" finds that day's orders; the caller allows only
# digits and dashes after "ORD-", so the pattern holds no LIKE wildcard of the user's).
SEARCH_ORDERS = ORDER_VIEW + """
WHERE o.store_id = $1
  AND ($2::text IS NULL OR o.status = $2)
  AND ($3::text IS NULL OR lower(c.email) = lower($3))
  AND ($4::text IS NULL OR o.number = $4)
  AND ($5::text IS NULL OR o.number LIKE $5 || '%')
  AND ($6::timestamptz IS NULL OR (o.created_at, o.id) < ($6, $7::uuid))
ORDER BY o.created_at DESC, o.id DESC
LIMIT $8
"""

# Who did what to an order (audit_log_object_idx).
ORDER_AUDIT = """
SELECT a.id, a.action, a.actor, a.before, a.after, a.created_at
FROM audit_log a
WHERE a.object_type = 'order' AND a.object_id = $1 AND a.store_id = $2
ORDER BY a.id
LIMIT $3
"""


# The keys behind "key:<id>" actors (history rows, audit rows), to name them as a person knows
# them: by prefix and name.
ACTOR_KEYS = """
SELECT 'key:' || k.id::text AS actor, k.prefix, k.name FROM api_keys k
WHERE 'key:' || k.id::text = ANY($1::text[])
"""


async def next_order_number(conn: asyncpg.Connection, store_id: Any) -> str:
    row = await conn.fetchrow(NEXT_ORDER_NUMBER, store_id)
    return f"ORD-{row['day']:%Y%m%d}-{row['last']:04d}"


async def insert_order(conn: asyncpg.Connection, values: dict[str, Any]) -> Any:
    """Returns the new order's id."""
    return await conn.fetchval(
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


async def items_of(conn: asyncpg.Connection, order_ids: list[Any]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ITEMS, order_ids)


async def history_of(conn: asyncpg.Connection, order_ids: list[Any]) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_HISTORY, order_ids)


async def cancel_order(conn: asyncpg.Connection, order_id: Any, store_id: Any) -> bool:
    return await conn.fetchval(CANCEL_ORDER, order_id, store_id) is not None


async def fulfill_order(conn: asyncpg.Connection, order_id: Any, store_id: Any, to_status: str,
                        carrier: str | None, tracking: str | None,
                        expected: tuple[str, ...]) -> str | None:
    """The status the order left, or None when it was in none of `expected`."""
    return await conn.fetchval(FULFILL_ORDER, order_id, store_id, to_status, carrier, tracking,
                               list(expected))


async def lock_payments_of(conn: asyncpg.Connection, order_id: Any) -> list[asyncpg.Record]:
    return await conn.fetch(LOCK_PAYMENTS_OF_ORDER, order_id)


async def search_orders(conn: asyncpg.Connection, store_id: Any, *, status: str | None,
                        email: str | None, number: str | None, number_prefix: str | None,
                        after: tuple[Any, Any], limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(SEARCH_ORDERS, store_id, status, email, number, number_prefix,
                            after[0], after[1], limit)


async def order_audit(conn: asyncpg.Connection, order_id: Any, store_id: Any,
                      limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch(ORDER_AUDIT, str(order_id), store_id, limit)


async def actor_keys(conn: asyncpg.Connection, actors: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(ACTOR_KEYS, actors)
