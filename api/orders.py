"""Orders and customers: create (totals computed by the server), read, list, cancel, fulfil."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp import web

from api.auth import principal
from api.body import parse_body, parse_query, respond
from api.errors import ApiError
from api.idempotency import Work, run_once
from api.keys import DB_POOL, SETTINGS
from api.models.orders import (
    Fulfillment,
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
from api.serialize import order_out
from db import customers
from db import orders as db
from paywatch.core.money import minor_units
from paywatch.services import order_events
from paywatch.services import orders as service
from paywatch.services.orders import (
    Customer,
    Item,
    OrderGone,
    OrderNotCancellable,
    PaymentInProgress,
    StepRefused,
)

# re.ASCII: `\d` would otherwise also take Arabic-Indic and other Unicode digits.
ORDER_NUMBER = re.compile(r"ORD-\d{8}-\d{4,}", re.ASCII)
MAX_EMAIL = 254


# ----- rows -> response models -----

async def orders_out(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Order]:
    return [order_out(o) for o in await order_events.order_objects(conn, rows)]


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


def _order_values(body: OrderCreate) -> dict[str, Any]:
    address = body.shipping_address
    return {
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
    customer = Customer(body.customer.email, body.customer.name, body.customer.wallet)
    items = [Item(i.sku, i.name, i.quantity, i.unit_price) for i in body.items]

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        return 201, await service.create_order(conn, store_id, customer, items,
                                               _order_values(body), who.actor)

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
    return await run_once(request, who, cancel_work(
        store_id, request.match_info["ref"], body, who.actor,
        request.app[SETTINGS].public_url))


def cancel_work(store_id: uuid.UUID, ref: str, body: OrderCancel, actor: str,
                public_url: str | None) -> Work:
    """Cancelling an order, as the API and the dashboard both run it (once per key)."""
    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        order = await find_order(conn, store_id, ref)
        try:
            return 200, await service.cancel_order(conn, order, body.reason, actor, public_url)
        except OrderGone:
            raise _gone(order) from None
        except OrderNotCancellable as refused:
            raise ApiError(409, "order_not_cancellable",
                           f"order {refused.number} is {refused.status}; only an order "
                           "pending payment can be cancelled") from None
        except PaymentInProgress:
            raise ApiError(409, "payment_in_progress",
                           "a payment for this order has been seen on chain and is not yet "
                           "confirmed; wait for it, or refund it after it confirms") from None

    return work


def _gone(order: asyncpg.Record) -> ApiError:
    # Gone since it was read: a 404, never a 500.
    return ApiError(404, "resource_missing", f"no order {order['id']}")


# ----- fulfil -----

async def fulfil_order(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("orders:write")
    store_id = store_of(who)
    body = await parse_body(request, Fulfillment)
    return await run_once(request, who, fulfil_work(store_id, request.match_info["ref"], body,
                                                    who.actor))


def fulfil_work(store_id: uuid.UUID, ref: str, body: Fulfillment, actor: str) -> Work:
    """A fulfilment step, as the API and the dashboard both run it (once per key)."""
    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        order = await find_order(conn, store_id, ref)
        try:
            return 200, await service.fulfil_order(conn, order, body.status, body.carrier,
                                                   body.tracking_number, actor)
        except OrderGone:
            raise _gone(order) from None
        except StepRefused as refused:
            raise ApiError(409, "invalid_transition",
                           f"order {refused.number} is {refused.status}; {body.status} "
                           f"needs {' or '.join(refused.expected)}") from None

    return work


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
