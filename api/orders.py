"""Orders and customers: create (totals computed by the server), read, list, cancel, fulfil."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any, NoReturn

import asyncpg
from aiohttp import web

from api.auth import Principal, principal
from api.body import parse_body, parse_query, respond
from api.errors import ApiError
from api.idempotency import run_once
from api.keys import DB_POOL, SETTINGS
from api.models.orders import (
    AddressOut,
    CustomerOut,
    Fulfillment,
    HistoryEntry,
    ItemOut,
    Order,
    OrderCancel,
    OrderCreate,
    OrderList,
    OrderListQuery,
    PageQuery,
)
from api.openapi import Operation
from api.pagination import decode_cursor, encode_cursor
from api.payments import store_of
from db import audit, customers, events
from db import orders as db
from paywatch.core.money import fiat_shown, minor_units
from paywatch.services import payments as payment_service
from paywatch.services.payments import Change

# re.ASCII: `\d` would otherwise also take Arabic-Indic and other Unicode digits.
ORDER_NUMBER = re.compile(r"ORD-\d{8}-\d{4,}", re.ASCII)
MAX_EMAIL = 254
# target status -> the statuses a fulfilment step may start from
FULFILMENT_FROM: dict[str, tuple[str, ...]] = {
    "fulfilled": ("paid",), "shipped": ("paid", "fulfilled"), "delivered": ("shipped",)}


# ----- rows -> response models -----

def order_out(row: asyncpg.Record, items: list[asyncpg.Record],
              history: list[asyncpg.Record]) -> Order:
    currency = row["currency"].strip()
    customer = None
    if row["customer_id"] is not None:
        customer = CustomerOut(email=row["customer_email"], name=row["customer_name"],
                               wallet=row["customer_wallet"])
    address = row["shipping_address"]
    return Order(
        id=str(row["id"]), number=row["number"], status=row["status"], currency=currency,
        customer=customer,
        items=[ItemOut(sku=i["sku"], name=i["name"], quantity=i["quantity"],
                       unit_price=fiat_shown(i["unit_price"], currency),
                       total=fiat_shown(i["total"], currency)) for i in items],
        subtotal=fiat_shown(row["subtotal"], currency),
        shipping=fiat_shown(row["shipping"], currency),
        tax=fiat_shown(row["tax"], currency), total=fiat_shown(row["total"], currency),
        shipping_address=AddressOut(**address) if address is not None else None,
        carrier=row["carrier"], tracking_number=row["tracking_number"],
        metadata=row["metadata"],
        status_history=[HistoryEntry(from_status=h["from_status"], to_status=h["to_status"],
                                     reason=h["reason"], actor=h["actor"], at=h["created_at"])
                        for h in history],
        created_at=row["created_at"], updated_at=row["updated_at"], paid_at=row["paid_at"],
        cancelled_at=row["cancelled_at"])


async def orders_out(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Order]:
    """A page of orders with two more queries in all, not two per order."""
    ids = [r["id"] for r in rows]
    items: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    history: dict[uuid.UUID, list[asyncpg.Record]] = defaultdict(list)
    for item in await db.items_of(conn, ids):
        items[item["order_id"]].append(item)
    for entry in await db.history_of(conn, ids):
        history[entry["order_id"]].append(entry)
    return [order_out(r, items[r["id"]], history[r["id"]]) for r in rows]


async def _out_by_id(conn: asyncpg.Connection, order_id: uuid.UUID,
                     store_id: uuid.UUID) -> dict[str, Any]:
    row = await db.order_by_id(conn, order_id, store_id)
    return (await orders_out(conn, [row]))[0].model_dump(mode="json")


async def find_order(conn: asyncpg.Connection, store_id: uuid.UUID,
                     ref: str) -> asyncpg.Record:
    """By id or by order number. Another store's order, an unknown id and a malformed one all
    get the same 404: the answer never confirms that an id exists elsewhere."""
    row = None
    if ORDER_NUMBER.fullmatch(ref):
        row = await db.order_by_number(conn, ref, store_id)
    else:
        try:
            row = await db.order_by_id(conn, uuid.UUID(ref), store_id)
        except ValueError:
            row = None
    if row is None:
        raise ApiError(404, "resource_missing", f"no order {ref!r}")
    return row


# ----- create -----

def _decimals(value: Decimal) -> int:
    return max(0, -int(value.normalize().as_tuple().exponent))


def _check_minor_units(body: OrderCreate) -> None:
    """A price the customer cannot pay (0.001 USD, 1.5 JPY) is a client bug: refuse it rather
    than round someone's money."""
    digits = minor_units(body.currency)
    amounts = [(f"items.{n}.unit_price", i.unit_price) for n, i in enumerate(body.items)]
    amounts += [("shipping", body.shipping), ("tax", body.tax)]
    for param, value in amounts:
        if _decimals(value) > digits:
            raise ApiError(422, "parameter_invalid",
                           f"{param}: {value} has more decimals than {body.currency} has "
                           f"minor units ({digits})", param=param)


def _check_client_totals(body: OrderCreate) -> None:
    """Clients may send their totals; they must agree with ours exactly."""
    for field, ours in (("subtotal", body.computed_subtotal()), ("total", body.computed_total())):
        theirs = getattr(body, field)
        if theirs is not None and theirs != ours:
            raise ApiError(422, "total_mismatch",
                           f"{field} {theirs} does not match the items: {ours}", param=field)


def _order_values(body: OrderCreate, store_id: uuid.UUID, number: str,
                  customer_id: uuid.UUID) -> dict[str, Any]:
    address = body.shipping_address
    return {
        "store_id": store_id, "number": number, "customer_id": customer_id,
        "currency": body.currency, "subtotal": body.computed_subtotal(),
        "shipping": body.shipping, "tax": body.tax, "total": body.computed_total(),
        "shipping_address": address.model_dump() if address is not None else None,
        "metadata": body.metadata}


async def create_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:write")
    store_id = store_of(who)
    body = await parse_body(request, OrderCreate)
    _check_minor_units(body)
    _check_client_totals(body)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        customer = await customers.upsert_customer(
            conn, store_id, body.customer.email, body.customer.name, body.customer.wallet)
        # Allocated as late as possible: the counter's row lock is held until commit.
        number = await db.next_order_number(conn, store_id)
        order_id = await db.insert_order(
            conn, _order_values(body, store_id, number, customer["id"]))
        await db.insert_items(conn, order_id, [
            {"position": n, "sku": i.sku, "name": i.name, "quantity": i.quantity,
             "unit_price": i.unit_price, "total": i.unit_price * i.quantity}
            for n, i in enumerate(body.items)])
        await db.add_history(conn, order_id, None, "pending_payment", "created", who.actor)
        out = await _out_by_id(conn, order_id, store_id)
        await events.emit(conn, store_id=store_id, type_="order.created", data=out,
                          order_id=order_id)
        await audit.record(conn, store_id=store_id, actor=who.actor, action="order.create",
                           object_type="order", object_id=order_id, after=out)
        return 201, out

    return await run_once(request, who, work)


# ----- read -----

async def get_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:read")
    async with request.app[DB_POOL].acquire() as conn:
        row = await find_order(conn, store_of(who), request.match_info["ref"])
        return respond((await orders_out(conn, [row]))[0])


async def _page(conn: asyncpg.Connection, store_id: uuid.UUID, q: OrderListQuery) -> OrderList:
    # One row more than asked tells whether there is a next page without a count(*).
    rows = await db.list_orders(conn, store_id, status=q.status, email=q.customer_email,
                                created_gte=q.created_gte, created_lt=q.created_lt,
                                after=decode_cursor(q.cursor), limit=q.limit + 1)
    page, more = rows[: q.limit], len(rows) > q.limit
    cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return OrderList(data=await orders_out(conn, page), has_more=more, next_cursor=cursor)


async def list_orders(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:read")
    q = parse_query(request, OrderListQuery)
    async with request.app[DB_POOL].acquire() as conn:
        return respond(await _page(conn, store_of(who), q))


async def customer_orders(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:read")
    page = parse_query(request, PageQuery)
    email = request.match_info["email"]
    async with request.app[DB_POOL].acquire() as conn:
        if len(email) > MAX_EMAIL or await customers.customer_by_email(
                conn, store_of(who), email) is None:
            raise ApiError(404, "resource_missing", f"no customer {email!r}")
        q = OrderListQuery(customer_email=email, limit=page.limit, cursor=page.cursor)
        return respond(await _page(conn, store_of(who), q))


# ----- cancel -----

async def cancel_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:write")
    store_id = store_of(who)
    body = await parse_body(request, OrderCancel)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        order = await find_order(conn, store_id, request.match_info["ref"])
        # Payments first, the order second: the watcher's lock order (see db/orders.py).
        payments = await db.lock_payments_of(conn, order["id"])
        if not await db.cancel_order(conn, order["id"], store_id):
            await _refuse_cancel(conn, store_id, order["id"])
        if any(p["status"] == "detected" for p in payments):
            # Raising rolls the order's update back with the rest of the transaction.
            raise ApiError(409, "payment_in_progress",
                           "a payment for this order has been seen on chain and is not yet "
                           "confirmed; wait for it, or refund it after it confirms")
        await _cancel_payments(conn, who, order, body.reason,
                               request.app[SETTINGS].public_url)
        await db.add_history(conn, order["id"], "pending_payment", "cancelled", body.reason,
                             who.actor)
        out = await _out_by_id(conn, order["id"], store_id)
        await events.emit(conn, store_id=store_id, type_="order.cancelled", data=out,
                          order_id=order["id"])
        await audit.record(conn, store_id=store_id, actor=who.actor, action="order.cancel",
                           object_type="order", object_id=order["id"],
                           before={"status": "pending_payment"},
                           after={"status": "cancelled", "reason": body.reason})
        return 200, out

    return await run_once(request, who, work)


async def _order_or_404(conn: asyncpg.Connection, order_id: uuid.UUID,
                        store_id: uuid.UUID) -> asyncpg.Record:
    row = await db.order_by_id(conn, order_id, store_id)
    if row is None:  # gone since it was read: a 404, never a 500
        raise ApiError(404, "resource_missing", f"no order {order_id}")
    return row


async def _refuse_cancel(conn: asyncpg.Connection, store_id: uuid.UUID,
                         order_id: uuid.UUID) -> NoReturn:
    # Read again: the status may have changed while the payments' locks were awaited.
    now = await _order_or_404(conn, order_id, store_id)
    raise ApiError(409, "order_not_cancellable",
                   f"order {now['number']} is {now['status']}; only an order pending payment "
                   "can be cancelled")


async def _cancel_payments(conn: asyncpg.Connection, who: Principal, order: asyncpg.Record,
                           reason: str | None, public_url: str | None) -> None:
    """Pending payments of a cancelled order must not be paid any more."""
    change = Change(who.actor, public_url, f"order {order['number']} cancelled")
    for row in await payment_service.cancel_for_order(conn, order, change):
        await audit.record(conn, store_id=order["store_id"], actor=who.actor,
                           action="payment.cancel", object_type="payment", object_id=row["id"],
                           before={"status": "pending"},
                           after={"status": "cancelled", "reason": reason,
                                  "order": order["number"]})


# ----- fulfil -----

async def fulfil_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:write")
    store_id = store_of(who)
    body = await parse_body(request, Fulfillment)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        order = await find_order(conn, store_id, request.match_info["ref"])
        expected = FULFILMENT_FROM[body.status]
        left = await db.fulfill_order(conn, order["id"], store_id, body.status, body.carrier,
                                      body.tracking_number, expected)
        if left is None:
            now = await _order_or_404(conn, order["id"], store_id)
            raise ApiError(409, "invalid_transition",
                           f"order {now['number']} is {now['status']}; {body.status} "
                           f"needs {' or '.join(expected)}")
        await db.add_history(conn, order["id"], left, body.status, _tracking(body), who.actor)
        out = await _out_by_id(conn, order["id"], store_id)
        await events.emit(conn, store_id=store_id, type_="order.fulfilled", data=out,
                          order_id=order["id"])
        await audit.record(conn, store_id=store_id, actor=who.actor, action="order.fulfil",
                           object_type="order", object_id=order["id"],
                           before={"status": left}, after=body.model_dump(mode="json"))
        return 200, out

    return await run_once(request, who, work)


def _tracking(body: Fulfillment) -> str | None:
    parts = [p for p in (body.carrier, body.tracking_number) if p]
    return " ".join(parts) or None


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/orders", create_order)
    app.router.add_get("/v1/orders", list_orders)
    app.router.add_get("/v1/orders/{ref}", get_order)
    app.router.add_post("/v1/orders/{ref}/cancel", cancel_order)
    app.router.add_post("/v1/orders/{ref}/fulfillment", fulfil_order)
    app.router.add_get("/v1/customers/{email}/orders", customer_orders)


# 409 on every POST: an Idempotency-Key reused with another body.
OPERATIONS = [
    Operation("POST", "/v1/orders", "Create an order (totals computed by the server)", Order,
              201, "orders:write", request=OrderCreate, errors=(409,)),
    Operation("GET", "/v1/orders", "List orders, newest first", OrderList,
              scope="orders:read", query=OrderListQuery),
    Operation("GET", "/v1/orders/{ref}", "Retrieve an order by id or order number", Order,
              scope="orders:read"),
    Operation("POST", "/v1/orders/{ref}/cancel",
              "Cancel an order pending payment, and its pending payments", Order,
              scope="orders:write", request=OrderCancel, errors=(409,)),
    Operation("POST", "/v1/orders/{ref}/fulfillment",
              "Record fulfilment, shipping (carrier, tracking) or delivery", Order,
              scope="orders:write", request=Fulfillment, errors=(409,)),
    Operation("GET", "/v1/customers/{email}/orders", "A customer's orders, newest first",
              OrderList, scope="orders:read", query=PageQuery),
]
