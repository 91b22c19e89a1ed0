"""Refunds: give money back without a key. The answer is a payment request from the merchant's
own wallet to the customer (Solana Pay with a fresh reference, or EIP-681) with its QR code;
the watcher confirms it when the wallet sends it (paywatch/services/refunds.py has the rules)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp import web

from api.auth import principal
from api.body import parse_body, parse_query, respond
from api.errors import ApiError
from api.idempotency import Work, run_once
from api.keys import CHAINS, DB_POOL, QUOTES, SETTINGS
from api.models.refunds import Refund, RefundCancel, RefundCreate, RefundList, RefundListQuery
from api.openapi import Operation
from api.pagination import decode_cursor, encode_cursor
from api.payments import parse_id, qr_svg, store_of
from db import payments as db_payments
from db import refunds as db
from db import stores
from paywatch.core.objects import refund_object
from paywatch.core.pricing import NotPriced, PriceUnavailable
from paywatch.services import refunds
from paywatch.services.payments import Change
from paywatch.services.refunds import Ask, Price, RefundRefused

_STATUS_OF = {"missing": 404, "conflict": 409, "invalid": 422}


def _refused(refused: RefundRefused) -> ApiError:
    return ApiError(_STATUS_OF[refused.kind], refused.code, refused.message,
                    param=refused.param)


async def _price(app: web.Application, payment: asyncpg.Record, rate: str) -> Price:
    """The payment's quoted price, or the market's now (the quote service the API prices
    payments with: the same cache, staleness limit and sources)."""
    if rate == "quote":
        return Price("quote", payment["price"], payment["price_source"])
    try:
        market = await app[QUOTES].prices.price(payment["asset"], payment["currency"].strip())
    except NotPriced as exc:
        raise ApiError(503, "price_not_configured", f"{exc}; use rate `quote`",
                       type_="service_unavailable") from None
    except PriceUnavailable as exc:
        raise ApiError(503, "price_unavailable", f"{exc}; no refund is priced on stale prices "
                       "(or use rate `quote`)", type_="service_unavailable",
                       headers={"Retry-After": "30"}) from None
    return Price("market", market.price, market.source)


async def create_refund(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:write")
    store_id, payment_id = store_of(who), parse_id(request.match_info["id"])
    body = await parse_body(request, RefundCreate)
    return await run_once(request, who, await create_work(request.app, store_id, payment_id,
                                                          body, who.actor))


async def create_work(app: web.Application, store_id: uuid.UUID, payment_id: uuid.UUID,
                      body: RefundCreate, actor: str) -> Work:
    """A refund of the store's payment, as the API and the dashboard both make it (once per
    key): the payment and the price are read first, the refund is decided in the work."""
    async with app[DB_POOL].acquire() as conn:
        payment = await db_payments.get_payment(conn, payment_id, store_id)
        store = await stores.store_by_id(conn, store_id)
    if payment is None:  # another store's payment is missing too
        raise ApiError(404, "resource_missing", f"no payment {payment_id}")
    chain = app[CHAINS].require(payment["chain"], "payment")
    ask = Ask(int(body.amount) if body.amount is not None else None, body.fiat_amount,
              await _price(app, payment, body.rate), body.destination, body.reason,
              body.expires_in, body.asset)
    change = Change(actor, app[SETTINGS].public_url, body.reason)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        try:
            created = await refunds.create(conn, chain, store, payment, ask, change)
        except RefundRefused as refused:
            raise _refused(refused) from None
        return 201, created

    return work


async def _load(conn: asyncpg.Connection, refund_id: uuid.UUID,
                store_id: uuid.UUID) -> asyncpg.Record:
    row = await db.get(conn, refund_id, store_id)
    if row is None:
        raise ApiError(404, "resource_missing", f"no refund {refund_id}")
    return row


def _out(request: web.Request, row: asyncpg.Record, transfers: list[asyncpg.Record]) -> Refund:
    return Refund.model_validate(refund_object(row, transfers,
                                               request.app[SETTINGS].public_url))


async def get_refund(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    async with request.app[DB_POOL].acquire() as conn:
        row = await _load(conn, parse_id(request.match_info["id"], "refund"), store_of(who))
        transfers = await db.transfers_of(conn, row["id"])
    return respond(_out(request, row, transfers))


async def list_refunds(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    q = parse_query(request, RefundListQuery)
    after = decode_cursor(q.cursor)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.list_refunds(conn, store_of(who), status=q.status,
                                     payment_id=q.payment_id, after=after, limit=q.limit + 1)
        page = rows[: q.limit]
        found = await db.transfers_of_many(conn, [r["id"] for r in page])
    more = len(rows) > q.limit
    cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return respond(RefundList(data=[_out(request, r, found[r["id"]]) for r in page],
                              has_more=more, next_cursor=cursor))


async def cancel_refund(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:write")
    store_id = store_of(who)
    refund_id = parse_id(request.match_info["id"], "refund")
    body = await parse_body(request, RefundCancel)
    return await run_once(request, who, cancel_work(store_id, refund_id, body, who.actor,
                                                    request.app[SETTINGS].public_url))


def cancel_work(store_id: uuid.UUID, refund_id: uuid.UUID, body: RefundCancel, actor: str,
                public_url: str | None) -> Work:
    """Cancelling a pending refund, as the API and the dashboard both run it (once per key)."""
    change = Change(actor, public_url, body.reason)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        try:
            return 200, await refunds.cancel(conn, refund_id, store_id, change)
        except RefundRefused as refused:
            raise _refused(refused) from None

    return work


async def refund_qr(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    async with request.app[DB_POOL].acquire() as conn:
        row = await _load(conn, parse_id(request.match_info["id"], "refund"), store_of(who))
    return web.Response(body=qr_svg(row["payment_url"]), content_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=300"})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/payments/{id}/refunds", create_refund)
    app.router.add_get("/v1/refunds", list_refunds)
    app.router.add_get("/v1/refunds/{id}", get_refund)
    app.router.add_post("/v1/refunds/{id}/cancel", cancel_refund)
    app.router.add_get("/v1/refunds/{id}/qr.svg", refund_qr)


OPERATIONS = [
    Operation("POST", "/v1/payments/{id}/refunds", "Refund a payment: a request for the "
              "merchant's own wallet to sign (paywatch never signs), confirmed by the watcher",
              Refund, 201, "payments:write", request=RefundCreate, errors=(409, 422, 503)),
    Operation("GET", "/v1/refunds", "List refunds, newest first", RefundList,
              scope="payments:read", query=RefundListQuery),
    Operation("GET", "/v1/refunds/{id}", "Retrieve a refund, its request and transfers", Refund,
              scope="payments:read"),
    Operation("POST", "/v1/refunds/{id}/cancel", "Cancel a pending refund", Refund,
              scope="payments:write", request=RefundCancel, errors=(409,)),
    Operation("GET", "/v1/refunds/{id}/qr.svg", "The refund request as a QR code", None,
              scope="payments:read", content_type="image/svg+xml"),
]
