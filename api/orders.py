"""Orders and customers: create (totals computed by the server), read, list, cancel, fulfil."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
from aiohttp import web

from api.auth import Principal, principal
from api.body import parse_body, parse_query, respond
from api.errors import ApiError
from api.idempotency import run_once
from api.keys import DB_POOL
from api.models.orders import (
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

ORDER_NUMBER = re.compile(r"^ORD-\d{8}-\d{4,}$")
# target status -> the statuses a fulfilment step may start from
FULFILMENT_FROM = {"fulfilled": ("paid",), "shipped": ("paid", "fulfilled"),
                   "delivered": ("shipped",)}


async def order_out(conn: asyncpg.Connection, row: asyncpg.Record) -> Order:
    customer = None
    if row["customer_id"] is not None:
        customer = CustomerOut(email=row["customer_email"], name=row["customer_name"],
                               wallet=row["customer_wallet"])
    return Order(
        id=str(row["id"]), number=row["number"], status=row["status"],
        currency=row["currency"].strip(), customer=customer,
        items=[ItemOut(**{k: i[k] for k in ("sku", "name", "quantity", "unit_price", "total")})
               for i in await db.items_of(conn, row["id"])],
        subtotal=row["subtotal"], shipping=row["shipping"], tax=row["tax"],
        total=row["total"], shipping_address=row["shipping_address"], carrier=row["carrier"],
        tracking_number=row["tracking_number"], metadata=row["metadata"],
        status_history=[HistoryEntry(from_status=h["from_status"], to_status=h["to_status"],
                                     reason=h["reason"], actor=h["actor"], at=h["created_at"])
                        for h in await db.history_of(conn, row["id"])],
        created_at=row["created_at"], updated_at=row["updated_at"], paid_at=row["paid_at"],
        cancelled_at=row["cancelled_at"])


async def find_order(conn: asyncpg.Connection, store_id: uuid.UUID,
                     ref: str) -> asyncpg.Record:
    """By id or by order number; another store's order is simply not found."""
    row = None
    if ORDER_NUMBER.match(ref):
        row = await db.order_by_number(conn, ref, store_id)
    else:
        try:
            row = await db.order_by_id(conn, uuid.UUID(ref), store_id)
        except ValueError:
            row = None
    if row is None:
        raise ApiError(404, "resource_missing", f"no order {ref!r}")
    return row


def _check_client_totals(body: OrderCreate) -> None:
    """Clients may send their totals; they must agree with ours to the last digit."""
    for field, ours in (("subtotal", body.computed_subtotal()), ("total", body.computed_total())):
        theirs = getattr(body, field)
        if theirs is not None and theirs != ours:
            raise ApiError(422, "total_mismatch",
                           f"{field} {theirs} does not match the items: {ours}", param=field)


async def create_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:write")
    store_id = store_of(who)
    body = await parse_body(request, OrderCreate)
    _check_client_totals(body)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        customer = await customers.upsert_customer(
            conn, store_id, body.customer.email, body.customer.name, body.customer.wallet)
        row = await db.insert_order(conn, {
            "store_id": store_id, "number": await db.next_order_number(conn, store_id),
            "customer_id": customer["id"], "currency": body.currency,
            "subtotal": body.computed_subtotal(), "shipping": body.shipping, "tax": body.tax,
            "total": body.computed_total(),
            "shipping_address": body.shipping_address.model_dump()
            if body.shipping_address else None,
            "metadata": body.metadata})
        await db.insert_items(conn, row["id"], [
            {"position": n, "sku": i.sku, "name": i.name, "quantity": i.quantity,
             "unit_price": i.unit_price, "total": i.unit_price * i.quantity}
            for n, i in enumerate(body.items)])
        await db.add_history(conn, row["id"], None, "pending_payment", "created", who.actor)
        out = await _out_by_id(conn, row["id"], store_id)
        await events.emit(conn, store_id=store_id, type_="order.created", data=out,
                          order_id=row["id"])
        await audit.record(conn, store_id=store_id, actor=who.actor, action="order.create",
                           object_type="order", object_id=row["id"], after=out)
        return 201, out

    return await run_once(request, who, work)


async def _out_by_id(conn: asyncpg.Connection, order_id: uuid.UUID,
                     store_id: uuid.UUID) -> dict[str, Any]:
    row = await db.order_by_id(conn, order_id, store_id)
    return (await order_out(conn, row)).model_dump(mode="json")


async def get_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:read")
    async with request.app[DB_POOL].acquire() as conn:
        row = await find_order(conn, store_of(who), request.match_info["ref"])
        return respond(await order_out(conn, row))


async def _page(conn: asyncpg.Connection, store_id: uuid.UUID, q: OrderListQuery) -> OrderList:
    rows = await db.list_orders(conn, store_id, status=q.status, email=q.customer_email,
                                created_gte=q.created_gte, created_lt=q.created_lt,
                                after=decode_cursor(q.cursor), limit=q.limit + 1)
    page, more = rows[: q.limit], len(rows) > q.limit
    return OrderList(data=[await order_out(conn, r) for r in page], has_more=more,
                     next_cursor=encode_cursor(page[-1]["created_at"], page[-1]["id"])
                     if more else None)


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
        if await customers.customer_by_email(conn, store_of(who), email) is None:
            raise ApiError(404, "resource_missing", f"no customer {email!r}")
        q = OrderListQuery(customer_email=email, limit=page.limit, cursor=page.cursor)
        return respond(await _page(conn, store_of(who), q))


async def cancel_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:write")
    store_id = store_of(who)
    body = await parse_body(request, OrderCancel)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        before = await find_order(conn, store_id, request.match_info["ref"])
        if await db.detected_payments(conn, before["id"]):
            raise ApiError(409, "payment_in_progress",
                           "a payment for this order has been seen on chain and is not yet "
                           "confirmed; wait for it, or refund it after it confirms")
        row = await db.cancel_order(conn, before["id"], store_id)
        if row is None:
            raise ApiError(409, "order_not_cancellable",
                           f"order {before['number']} is {before['status']}; only an order "
                           "pending payment can be cancelled")
        await _cancel_payments(conn, who, row, body.reason)
        await db.add_history(conn, row["id"], "pending_payment", "cancelled", body.reason,
                             who.actor)
        out = await _out_by_id(conn, row["id"], store_id)
        await events.emit(conn, store_id=store_id, type_="order.cancelled", data=out,
                          order_id=row["id"])
        await audit.record(conn, store_id=store_id, actor=who.actor, action="order.cancel",
                           object_type="order", object_id=row["id"],
                           before={"status": before["status"]},
                           after={"status": "cancelled", "reason": body.reason})
        return 200, out

    return await run_once(request, who, work)


async def _cancel_payments(conn: asyncpg.Connection, who: Principal, order: asyncpg.Record,
                           reason: str | None) -> None:
    for payment_id in await db.cancel_pending_payments(conn, order["id"]):
        await events.emit(conn, store_id=order["store_id"], type_="payment.cancelled",
                          data={"id": str(payment_id), "status": "cancelled",
                                "reason": f"order {order['number']} cancelled"},
                          payment_id=payment_id, order_id=order["id"])
        await audit.record(conn, store_id=order["store_id"], actor=who.actor,
                           action="payment.cancel", object_type="payment",
                           object_id=payment_id, after={"status": "cancelled",
                                                        "reason": reason})


async def fulfil_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:write")
    store_id = store_of(who)
    body = await parse_body(request, Fulfillment)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        before = await find_order(conn, store_id, request.match_info["ref"])
        expected = FULFILMENT_FROM[body.status]
        row = await db.fulfill_order(conn, before["id"], store_id, body.status, body.carrier,
                                     body.tracking_number, expected)
        if row is None:
            raise ApiError(409, "invalid_transition",
                           f"order {before['number']} is {before['status']}; {body.status} "
                           f"needs {' or '.join(expected)}")
        await db.add_history(conn, row["id"], before["status"], body.status,
                             _tracking(body), who.actor)
        out = await _out_by_id(conn, row["id"], store_id)
        await events.emit(conn, store_id=store_id, type_="order.fulfilled", data=out,
                          order_id=row["id"])
        await audit.record(conn, store_id=store_id, actor=who.actor, action="order.fulfil",
                           object_type="order", object_id=row["id"],
                           before={"status": before["status"]},
                           after=body.model_dump(mode="json"))
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


OPERATIONS = [
    Operation("POST", "/v1/orders", "Create an order (totals computed by the server)", Order,
              201, "orders:write", request=OrderCreate),
    Operation("GET", "/v1/orders", "List orders, newest first", OrderList,
              scope="orders:read", query=OrderListQuery),
    Operation("GET", "/v1/orders/{ref}", "Retrieve an order by id or order number", Order,
              scope="orders:read"),
    Operation("POST", "/v1/orders/{ref}/cancel", "Cancel an order pending payment", Order,
              scope="orders:write", request=OrderCancel, errors=(409,)),
    Operation("POST", "/v1/orders/{ref}/fulfillment", "Record fulfilment or shipping", Order,
              scope="orders:write", request=Fulfillment, errors=(409,)),
    Operation("GET", "/v1/customers/{email}/orders", "A customer's orders", OrderList,
              scope="orders:read", query=PageQuery),
]
