"""Order use cases: create, cancel, fulfil. Each runs in one transaction (the caller's, when it
has one), writes the order's history and audit rows and emits its order.* event (see
services/order_events.py). Callers parse and check their input first; these only enforce the
rules that need the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from db import audit, customers
from db import orders as db
from db import refunds as db_refunds
from db.pool import transaction
from paywatch.core.states import ORDER_REFUND_TRANSITIONS
from paywatch.services import order_events
from paywatch.services import payments as payment_service
from paywatch.services.order_events import OrderGone
from paywatch.services.payments import Change

# target status -> the statuses a fulfilment step may start from
FULFILMENT_FROM: dict[str, tuple[str, ...]] = {
    "fulfilled": ("paid",), "shipped": ("paid", "fulfilled"), "delivered": ("shipped",)}


@dataclass(frozen=True)
class Customer:
    email: str
    name: str | None = None
    wallet: str | None = None


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal


class OrderNotCancellable(Exception):
    """Only an order pending payment can be cancelled; carries what the order is now."""

    def __init__(self, number: str, status: str) -> None:
        super().__init__(f"order {number} is {status}")
        self.number, self.status = number, status


class PaymentInProgress(Exception):
    """A payment of the order has been seen on chain and is not confirmed yet."""


class StepRefused(Exception):
    """A fulfilment step the order's status does not allow; carries what the order is now."""

    def __init__(self, number: str, status: str, expected: tuple[str, ...]) -> None:
        super().__init__(f"order {number} is {status}")
        self.number, self.status, self.expected = number, status, expected


# ----- create --------------------------------------------------------------------------------

async def create_order(conn: asyncpg.Connection, store_id: Any, customer: Customer,
                       items: Sequence[Item], values: Mapping[str, Any],
                       actor: str) -> dict[str, Any]:
    """A new order pending payment; `values` holds currency, subtotal, shipping, tax, total,
    shipping_address and metadata (the totals already checked against the items)."""
    async with transaction(conn):
        row = await customers.upsert_customer(conn, store_id, customer.email, customer.name,
                                              customer.wallet)
        # Allocated as late as possible: the counter's row lock is held until commit.
        number = await db.next_order_number(conn, store_id)
        order_id = await db.insert_order(conn, {**values, "store_id": store_id,
                                                "number": number, "customer_id": row["id"]})
        await db.insert_items(conn, order_id, [
            {"position": n, "sku": i.sku, "name": i.name, "quantity": i.quantity,
             "unit_price": i.unit_price, "total": i.unit_price * i.quantity}
            for n, i in enumerate(items)])
        await db.add_history(conn, order_id, None, "pending_payment", "created", actor)
        out = await order_events.emit(conn, "order.created", order_id, store_id)
        await audit.record(conn, store_id=store_id, actor=actor, action="order.create",
                           object_type="order", object_id=order_id, after=out)
    return out


# ----- cancel --------------------------------------------------------------------------------

async def cancel_order(conn: asyncpg.Connection, order: asyncpg.Record, reason: str | None,
                       actor: str, public_url: str | None) -> dict[str, Any]:
    """Cancel an order pending payment and its pending payments; OrderNotCancellable,
    PaymentInProgress or OrderGone otherwise, with nothing changed."""
    store_id = order["store_id"]
    async with transaction(conn):
        # Payments first, the order second: the watcher's lock order (see db/orders.py).
        payments = await db.lock_payments_of(conn, order["id"])
        if not await db.cancel_order(conn, order["id"], store_id):
            # Read again: the status may have changed while the payments' locks were awaited.
            now = await db.order_by_id(conn, order["id"], store_id)
            if now is None:
                raise OrderGone(order["id"])
            raise OrderNotCancellable(now["number"], now["status"])
        if any(p["status"] == "detected" for p in payments):
            # Raising rolls the order's update back with the rest of the transaction.
            raise PaymentInProgress(order["number"])
        await _cancel_payments(conn, actor, order, reason, public_url)
        await db.add_history(conn, order["id"], "pending_payment", "cancelled", reason, actor)
        out = await order_events.emit(conn, "order.cancelled", order["id"], store_id,
                                      previous_status="pending_payment", reason=reason)
        await audit.record(conn, store_id=store_id, actor=actor, action="order.cancel",
                           object_type="order", object_id=order["id"],
                           before={"status": "pending_payment"},
                           after={"status": "cancelled", "reason": reason})
    return out


async def _cancel_payments(conn: asyncpg.Connection, actor: str, order: asyncpg.Record,
                           reason: str | None, public_url: str | None) -> None:
    """Pending payments of a cancelled order must not be paid any more."""
    change = Change(actor, public_url, f"order {order['number']} cancelled")
    for row in await payment_service.cancel_for_order(conn, order, change):
        await audit.record(conn, store_id=order["store_id"], actor=actor,
                           action="payment.cancel", object_type="payment", object_id=row["id"],
                           before={"status": "pending"},
                           after={"status": "cancelled", "reason": reason,
                                  "order": order["number"]})


# ----- fulfil --------------------------------------------------------------------------------

async def fulfil_order(conn: asyncpg.Connection, order: asyncpg.Record, status: str,
                       carrier: str | None, tracking_number: str | None,
                       actor: str) -> dict[str, Any]:
    """Record a fulfilment step (fulfilled, shipped, delivered); StepRefused or OrderGone when
    the order's status does not allow it."""
    store_id, expected = order["store_id"], FULFILMENT_FROM[status]
    async with transaction(conn):
        left = await db.fulfill_order(conn, order["id"], store_id, status, carrier,
                                      tracking_number, expected)
        if left is None:
            now = await db.order_by_id(conn, order["id"], store_id)
            if now is None:
                raise OrderGone(order["id"])
            raise StepRefused(now["number"], now["status"], expected)
        tracking = " ".join(p for p in (carrier, tracking_number) if p) or None
        await db.add_history(conn, order["id"], left, status, tracking, actor)
        out = await order_events.emit(conn, "order.fulfilled", order["id"], store_id,
                                      previous_status=left)
        await audit.record(conn, store_id=store_id, actor=actor, action="order.fulfil",
                           object_type="order", object_id=order["id"], before={"status": left},
                           after={"status": status, "carrier": carrier,
                                  "tracking_number": tracking_number})
    return out


# ----- refunds -------------------------------------------------------------------------------

async def follow_refunds(conn: asyncpg.Connection, payment: asyncpg.Record, actor: str,
                         reason: str) -> None:
    """A payment's order follows what the payment gave back (paywatch/services/refunds.py calls
    it in the transaction that confirms or reverts a refund): all it received -> `refunded`,
    some -> `partially_refunded`, nothing any more -> the status it had before its refunds.
    Each move writes a history row and emits order.refunded, order.partially_refunded or
    order.refund_reverted."""
    order_id = payment["order_id"]
    if order_id is None:
        return
    refunded, received = int(payment["amount_refunded"]), int(payment["amount_received"])
    if refunded == 0:
        target = await db_refunds.status_before_refunds(conn, order_id) or "paid"
        kind = "order.refund_reverted"
    else:
        target = "refunded" if refunded >= received else "partially_refunded"
        kind = f"order.{target}"
    left = await db_refunds.move_order(conn, order_id, target,
                                       ORDER_REFUND_TRANSITIONS.get(target, ()), reason, actor)
    if left is not None:
        await order_events.emit(conn, kind, order_id, payment["store_id"],
                                payment_id=payment["id"], previous_status=left, reason=reason)
