"""Refunds: the list (by status, keyset pages), the refund form of a payment, and a refund's page:
its facts, the QR code and request URL the merchant's own wallet pays (paywatch never signs),
its outgoing transfers, and its status live (it turns confirmed without a reload when the
watcher sees the wallet's transfer). Creating and cancelling are the API's own work
(api/refunds.py create_work, cancel_work)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from api import refunds as api
from api.body import validation_error
from api.errors import ApiError
from api.keys import DB_POOL, SETTINGS
from api.models.refunds import RefundCancel, RefundCreate, RefundListQuery
from api.pagination import decode_cursor, encode_cursor
from api.payments import parse_id, qr_svg, store_of
from db import payments as db_payments
from db import refunds as db
from paywatch.core.money import decimal_str, parse_units
from paywatch.core.states import REFUND_STATUSES
from paywatch.services.refunds import REFUNDABLE_PAYMENT

from . import live, render
from .forms import act, form_model, see_other
from .listing import filters_of, list_query, page_link
from .session import Viewer, form_of, view

PAGE = 25
# The form's choice of how long the wallet has to send it (RefundCreate.expires_in, seconds).
LIFETIMES = ((3600, "1 hour"), (6 * 3600, "6 hours"), (24 * 3600, "24 hours"),
             (3 * 86400, "3 days"), (7 * 86400, "7 days"), (30 * 86400, "30 days"))
DEFAULT_LIFETIME = 24 * 3600
# The form's own fields beside RefundCreate's: the amount in the coin, turned into base units.
FORM_FIELDS = ("fiat_amount", "rate", "destination", "reason")

NOTICES = {
    "created": "Refund created. Scan the QR code with the wallet that received the payment "
               "to send it; this page turns confirmed when the chain has it.",
    "cancelled": "The refund is cancelled: it no longer holds its amount against the payment.",
}


@view("payments:read")
async def refund_list(request: web.Request, viewer: Viewer) -> web.Response:
    query = list_query(request, RefundListQuery)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.list_refunds(conn, store_of(viewer.who), status=query.status,
                                     payment_id=query.payment_id,
                                     after=decode_cursor(query.cursor), limit=PAGE + 1)
    page, more = rows[:PAGE], len(rows) > PAGE
    cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return render.html(
        request, "refunds.html", viewer=viewer, rows=page, filters=filters_of(query),
        statuses=REFUND_STATUSES,
        next_page=page_link(request, query, cursor) if cursor else None,
        first_page=page_link(request, query, None) if query.cursor else None)


# ----- the form -------------------------------------------------------------------------------

async def _payment(conn: asyncpg.Connection, viewer: Viewer,
                   raw_id: str) -> asyncpg.Record:
    payment_id = parse_id(raw_id)
    payment = await db_payments.get_payment(conn, payment_id, store_of(viewer.who))
    if payment is None:  # another store's payment is missing too
        raise ApiError(404, "resource_missing", f"no payment {payment_id}")
    return payment


async def _form_page(request: web.Request, viewer: Viewer, *, status: int = 200,
                     error: ApiError | None = None,
                     typed: Mapping[str, str] | None = None) -> web.Response:
    async with request.app[DB_POOL].acquire() as conn:
        payment = await _payment(conn, viewer, request.match_info["payment_id"])
        pending = await db.pending_total(conn, payment["id"])
    received, refunded = int(payment["amount_received"]), int(payment["amount_refunded"])
    return render.html(
        request, "refund_form.html", status=status, viewer=viewer, payment=payment,
        received=received, refunded=refunded, pending=pending,
        left=max(received - refunded - pending, 0), error=error, typed=typed or {},
        refundable=payment["status"] in REFUNDABLE_PAYMENT, lifetimes=LIFETIMES,
        price=decimal_str(payment["price"].normalize()),
        default_lifetime=DEFAULT_LIFETIME)


@view("payments:write")
async def refund_form(request: web.Request, viewer: Viewer) -> web.Response:
    return await _form_page(request, viewer)


def _ask(form: Mapping[str, str], decimals: int) -> RefundCreate:
    """The form as the API's RefundCreate: an amount typed in the coin becomes base units."""
    data: dict[str, Any] = {k: form[k].strip() for k in FORM_FIELDS if form.get(k, "").strip()}
    coin = form.get("amount_coin", "").strip()
    if coin:
        try:
            units = parse_units(coin, decimals)
        except ValueError as exc:
            raise ApiError(422, "parameter_invalid", f"amount: {exc}",
                           param="amount_coin") from None
        if units == 0:
            raise ApiError(422, "parameter_invalid", "amount: give back more than zero",
                           param="amount_coin")
        data["amount"] = str(units)
    lifetime = form.get("expires_in", "").strip()
    if lifetime:
        if not (lifetime.isascii() and lifetime.isdigit() and len(lifetime) <= 9):
            raise ApiError(422, "parameter_invalid", "expires_in: choose one of the lifetimes",
                           param="expires_in")
        data["expires_in"] = int(lifetime)
    try:
        return RefundCreate.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


@view("payments:write")
async def create(request: web.Request, viewer: Viewer) -> web.Response:
    form = await form_of(request)
    try:
        async with request.app[DB_POOL].acquire() as conn:
            payment = await _payment(conn, viewer, request.match_info["payment_id"])
        body = _ask(form, payment["decimals"])
        work = await api.create_work(request.app, store_of(viewer.who), payment["id"], body,
                                     viewer.who.actor)
        _status, made, _replayed = await act(request, viewer, work)
    except ApiError as exc:
        if exc.status == 404 and exc.param is None:
            raise                     # the payment itself is missing: the plain 404 page
        return await _form_page(request, viewer, status=exc.status, error=exc, typed=form)
    raise see_other(f"/dashboard/refunds/{_refund_id(made)}", notice="created")


# ----- a refund's page ----------------------------------------------------------------------

async def _refund(conn: asyncpg.Connection, viewer: Viewer, raw_id: str) -> asyncpg.Record:
    refund_id = parse_id(raw_id, "refund")
    row = await db.get(conn, refund_id, store_of(viewer.who))
    if row is None:  # another store's refund is missing too
        raise ApiError(404, "resource_missing", f"no refund {refund_id}")
    return row


async def _refund_page(request: web.Request, viewer: Viewer, *, status: int = 200,
                       error: ApiError | None = None,
                       typed: Mapping[str, str] | None = None) -> web.Response:
    async with request.app[DB_POOL].acquire() as conn:
        row = await _refund(conn, viewer, request.match_info["refund_id"])
        transfers = await db.transfers_of(conn, row["id"])
        version = await db.version(conn, row["id"], store_of(viewer.who))
    return render.html(
        request, "refund.html", status=status, viewer=viewer, r=row,
        # "Scan the QR code" only while there is one (the live page keeps its ?notice=).
        notices={k: v for k, v in NOTICES.items()
                 if k != "created" or row["status"] == "pending"},
        price=decimal_str(row["price"].normalize()),
        transfers=transfers, version=version or "", error=error, typed=typed or {},
        can_cancel=viewer.can("payments:write") and row["status"] == "pending")


@view("payments:read")
async def refund_page(request: web.Request, viewer: Viewer) -> web.Response:
    return await _refund_page(request, viewer)


@view("payments:read")
async def refund_events(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    store_id = store_of(viewer.who)
    async with request.app[DB_POOL].acquire() as conn:
        refund_id = (await _refund(conn, viewer, request.match_info["refund_id"]))["id"]

    async def version(conn: asyncpg.Connection) -> str | None:
        return await db.version(conn, refund_id, store_id)

    return await live.stream(request, version)


@view("payments:read")
async def refund_qr(request: web.Request, viewer: Viewer) -> web.Response:
    """The refund request as the QR code the merchant's wallet scans (the API's drawing)."""
    async with request.app[DB_POOL].acquire() as conn:
        row = await _refund(conn, viewer, request.match_info["refund_id"])
    return web.Response(body=qr_svg(row["payment_url"]), content_type="image/svg+xml",
                        headers={**render.HEADERS, "Cache-Control": "private, max-age=300"})


@view("payments:write")
async def cancel(request: web.Request, viewer: Viewer) -> web.Response:
    refund_id = parse_id(request.match_info["refund_id"], "refund")
    try:
        body = await form_model(request, RefundCancel)
        await act(request, viewer, api.cancel_work(
            store_of(viewer.who), refund_id, body, viewer.who.actor,
            request.app[SETTINGS].public_url))
    except ApiError as exc:
        if exc.status == 404 and exc.param is None:
            raise
        return await _refund_page(request, viewer, status=exc.status, error=exc,
                                  typed=await form_of(request))
    raise see_other(f"/dashboard/refunds/{refund_id}", notice="cancelled")


def _refund_id(made: Any) -> uuid.UUID:
    """The new refund's id from the action's answer (the API's refund JSON)."""
    return uuid.UUID(str(made["id"]))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard/refunds", refund_list)
    app.router.add_get("/dashboard/refunds/{refund_id}", refund_page)
    app.router.add_get("/dashboard/refunds/{refund_id}/events", refund_events)
    app.router.add_get("/dashboard/refunds/{refund_id}/qr.svg", refund_qr)
    app.router.add_post("/dashboard/refunds/{refund_id}/cancel", cancel)
    app.router.add_get("/dashboard/payments/{payment_id}/refund", refund_form)
    app.router.add_post("/dashboard/payments/{payment_id}/refund", create)
