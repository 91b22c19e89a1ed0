"""Orders as JSON, and the order.* events built from them.

One loader and one payload shape, so an order event carries the same `data` whichever path
emitted it (an API call, or a payment that paid the order): `data.object` is the order exactly
as GET /v1/orders/{id} shows it at that moment, event-specific fields sit beside it. Kept apart
from services/orders.py because services/payments.py pays orders and orders cancel payments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg

from db import events
from db import orders as db
from paywatch.core.objects import order_object


async def order_objects(conn: asyncpg.Connection,
                        rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    """A page of orders with two more queries in all, not two per order."""
    ids = [r["id"] for r in rows]
    items: dict[Any, list[asyncpg.Record]] = defaultdict(list)
    history: dict[Any, list[asyncpg.Record]] = defaultdict(list)
    for item in await db.items_of(conn, ids):
        items[item["order_id"]].append(item)
    for entry in await db.history_of(conn, ids):
        history[entry["order_id"]].append(entry)
    return [order_object(r, items[r["id"]], history[r["id"]]) for r in rows]


class OrderGone(Exception):
    """The order was deleted (or never was this store's) since the caller read it."""


async def order_object_by_id(conn: asyncpg.Connection, order_id: Any,
                             store_id: Any) -> dict[str, Any]:
    row = await db.order_by_id(conn, order_id, store_id)
    if row is None:
        raise OrderGone(order_id)
    return (await order_objects(conn, [row]))[0]


async def emit(conn: asyncpg.Connection, type_: str, order_id: Any, store_id: Any,
               payment_id: Any = None, **extra: Any) -> dict[str, Any]:
    """Emit `type_` with the order as it is now under `data.object` and `extra` beside it;
    returns the order object (the API answers with the very same JSON)."""
    order = await order_object_by_id(conn, order_id, store_id)
    data = {"object": order, **extra}
    if payment_id is not None:
        data["payment_id"] = str(payment_id)
    await events.emit(conn, store_id=store_id, type_=type_, data=data, order_id=order_id,
                      payment_id=payment_id)
    return order
