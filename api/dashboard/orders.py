"""Orders: the list (by status, searched by order number or customer email, keyset pages) and an
order's page (items, totals, customer, its payments, status history and who did what, its
fulfilment) with the actions the key may take now: record a fulfilment step and cancel, each
the API's own work (api/orders.py fulfil_work, cancel_work)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import Field

from api import orders as api
from api.errors import ApiError
from api.keys import DB_POOL, SETTINGS
from api.models.common import QueryModel
from api.models.orders import Fulfillment, OrderCancel, OrderStatus
from api.pagination import decode_cursor, encode_cursor
from api.payments import store_of
from db import orders as db
from db import payments as db_payments
from paywatch.core.states import ORDER_STATUSES
from paywatch.services.orders import FULFILMENT_FROM

from . import render
from .forms import act, form_model, see_other
from .listing import filters_of, list_query, page_link
from .session import Viewer, form_of, view

PAGE = 25
MAX_PAYMENTS = 50     # an order has one payment, or a few after expiries: more is a page's end
# "ORD-", then digits and dashes only: a prefix of an order number (never a LIKE wildcard).
NUMBER_PREFIX = re.compile(r"ORD-[0-9-]{0,20}", re.ASCII)

NOTICES = {
    "fulfilled": "Recorded: the order is fulfilled.",
    "shipped": "Recorded: the order is shipped.",
    "delivered": "Recorded: the order is delivered.",
    "cancelled": "The order is cancelled, and its pending payments with it.",
}


class OrdersQuery(QueryModel):
    status: OrderStatus | None = None
    q: Annotated[str, Field(max_length=254)] | None = None
    cursor: Annotated[str, Field(max_length=200)] | None = None


def _search(q: str | None) -> tuple[str | None, str | None, str | None]:
    """(email, number, number prefix) for the search box's text."""
    if q is None:
        return None, None, None
    if api.ORDER_NUMBER.fullmatch(q.upper()):
        return None, q.upper(), None
    if NUMBER_PREFIX.fullmatch(q.upper()):
        return None, None, q.upper()
    if "@" in q:
        return q, None, None
    raise ApiError(422, "parameter_invalid", "search by an order number (ORD-20250131-0001, or "
                   "its start: ORD-20250131) or by a customer's email address", param="q")


@view("orders:read")
async def order_list(request: web.Request, viewer: Viewer) -> web.Response:
    query = list_query(request, OrdersQuery)
    try:
        email, number, prefix = _search(query.q)
    except ApiError as exc:   # the list page again, with what was typed and why not
        return render.html(request, "orders.html", status=exc.status, viewer=viewer, rows=[],
                           error=exc, filters=filters_of(query), statuses=ORDER_STATUSES,
                           next_page=None, first_page=None)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.search_orders(conn, store_of(viewer.who), status=query.status,
                                      email=email, number=number, number_prefix=prefix,
                                      after=decode_cursor(query.cursor), limit=PAGE + 1)
    page, more = rows[:PAGE], len(rows) > PAGE
    cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return render.html(
        request, "orders.html", viewer=viewer, rows=page, error=None,
        filters=filters_of(query), statuses=ORDER_STATUSES,
        next_page=page_link(request, query, cursor) if cursor else None,
        first_page=page_link(request, query, None) if query.cursor else None)


async def _order_page(request: web.Request, viewer: Viewer, *, status: int = 200,
                      error: ApiError | None = None,
                      typed: dict[str, str] | None = None) -> web.Response:
    store_id = store_of(viewer.who)
    async with request.app[DB_POOL].acquire() as conn:
        row = await api.find_order(conn, store_id, request.match_info["number"])
        order = (await api.orders_out(conn, [row]))[0]
        payments = await _payments_of(conn, viewer, row["id"])
        audit = await db.order_audit(conn, row["id"], store_id)
        actors = await _actors(conn, [h.actor for h in order.status_history]
                               + [a["actor"] for a in audit])
    steps = [step for step, sources in FULFILMENT_FROM.items() if order.status in sources]
    return render.html(
        request, "order.html", status=status, viewer=viewer, notices=NOTICES, order=order,
        payments=payments, audit=audit, actors=actors, steps=steps, error=error, typed=typed or {},
        cancellable=order.status == "pending_payment",
        can_write=viewer.can("orders:write"))


async def _payments_of(conn: asyncpg.Connection, viewer: Viewer,
                       order_id: uuid.UUID) -> list[asyncpg.Record] | None:
    """The order's payments, for a key that may read payments (None: it may not)."""
    if not viewer.can("payments:read"):
        return None
    return await db_payments.list_payments(
        conn, store_of(viewer.who), status=None, asset=None, order_id=order_id,
        created_gte=None, created_lt=None, after=(None, None), limit=MAX_PAYMENTS)


async def _actors(conn: asyncpg.Connection, actors: list[str]) -> dict[str, str]:
    """How each actor reads: a key by its prefix and name, anything else as it is."""
    return {k["actor"]: f"key {k['prefix']}…" + (f" ({k['name']})" if k["name"] else "")
            for k in await db.actor_keys(conn, sorted(set(actors)))}


@view("orders:read")
async def order_page(request: web.Request, viewer: Viewer) -> web.Response:
    return await _order_page(request, viewer)


async def _refused(request: web.Request, viewer: Viewer, exc: ApiError) -> web.Response:
    """The order's page again with the refusal, and the form as it was typed."""
    if exc.status == 404 and exc.param is None:
        raise exc                 # the order itself is missing: the plain 404 page
    typed = await form_of(request)
    return await _order_page(request, viewer, status=exc.status, error=exc, typed=typed)


@view("orders:write")
async def fulfil(request: web.Request, viewer: Viewer) -> web.Response:
    number = request.match_info["number"]
    try:
        body = await form_model(request, Fulfillment)
        _status, done, _replayed = await act(request, viewer, api.fulfil_work(
            store_of(viewer.who), number, body, viewer.who.actor))
    except ApiError as exc:
        return await _refused(request, viewer, exc)
    raise see_other(f"/dashboard/orders/{_number_of(done, number)}", notice=body.status)


@view("orders:write")
async def cancel(request: web.Request, viewer: Viewer) -> web.Response:
    number = request.match_info["number"]
    try:
        body = await form_model(request, OrderCancel)
        _status, done, _replayed = await act(request, viewer, api.cancel_work(
            store_of(viewer.who), number, body, viewer.who.actor,
            request.app[SETTINGS].public_url))
    except ApiError as exc:
        return await _refused(request, viewer, exc)
    raise see_other(f"/dashboard/orders/{_number_of(done, number)}", notice="cancelled")


def _number_of(order: Any, fallback: str) -> str:
    """The order's number from the action's answer (the API's order JSON)."""
    number = order.get("number") if isinstance(order, dict) else None
    return number if isinstance(number, str) and api.ORDER_NUMBER.fullmatch(number) else fallback


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard/orders", order_list)
    app.router.add_get("/dashboard/orders/{number}", order_page)
    app.router.add_post("/dashboard/orders/{number}/fulfil", fulfil)
    app.router.add_post("/dashboard/orders/{number}/cancel", cancel)
