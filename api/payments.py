"""Payments: create (priced quote + the chain's payment request), read, list, cancel, settle,
QR code. Everything chain-specific goes through the payment's chain adapter (app[CHAINS])."""

from __future__ import annotations

import io
import uuid
from typing import Any

import asyncpg
import segno
from aiohttp import web

from api.auth import Principal, principal
from api.body import parse_body, parse_query, respond
from api.errors import ApiError
from api.idempotency import Work, json_response, run_once
from api.keys import CHAINS, DB_POOL, SETTINGS
from api.models.payments import (
    CancelRequest,
    Payment,
    PaymentCreate,
    PaymentList,
    PaymentListQuery,
    SettleRequest,
)
from api.openapi import Operation
from api.pagination import decode_cursor, encode_cursor
from api.quoting import QuoteInput, quote_for
from api.serialize import payment_out
from db import audit, stores
from db import payments as db
from paywatch.core.chains import ChainAdapter
from paywatch.core.metrics import PAYMENTS_CREATED
from paywatch.core.objects import payment_object
from paywatch.core.payments import PaymentAsk, clocks, required_commitment
from paywatch.core.states import SETTLEABLE
from paywatch.services import payments
from paywatch.services.payments import Change, OrderNotPayable, TransitionRefused


def store_of(who: Principal) -> uuid.UUID:
    if who.store_id is None:
        raise ApiError(403, "store_key_required",
                       "this is an operator key; payments belong to a store: use a store's key",
                       type_="permission_error")
    return who.store_id


def parse_id(raw: str, what: str = "payment") -> uuid.UUID:
    """A path's id; one that is not a UUID names no `what` (the 404 says which kind)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, "resource_missing", f"no {what} {raw!r}") from None


async def _load(conn: asyncpg.Connection, payment_id: uuid.UUID,
                store_id: uuid.UUID) -> asyncpg.Record:
    row = await db.get_payment(conn, payment_id, store_id)
    if row is None:  # another store's payment is "missing" too: never confirm it exists
        raise ApiError(404, "resource_missing", f"no payment {payment_id}")
    return row


async def _out(request: web.Request, conn: asyncpg.Connection, row: asyncpg.Record) -> Payment:
    return payment_out(row, await db.transfers_of(conn, row["id"]),
                       request.app[SETTINGS].public_url)


async def create_payment(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:write")
    store_id = store_of(who)
    body = await parse_body(request, PaymentCreate)
    chain = request.app[CHAINS].require(body.chain, "chain")
    ask = PaymentAsk(body.label, body.message, body.memo, body.expires_in,
                     str(body.redirect_url) if body.redirect_url else None, body.metadata)
    async with request.app[DB_POOL].acquire() as conn:
        # The store, the asset and the clock in one round trip (they were three).
        store = await db.payment_context(conn, store_id, body.chain, body.asset.upper())
        if store is None:  # the key outlived its store (a store is never deleted today)
            raise ApiError(404, "resource_missing", "no such store")
        await chain.check_payable(conn, store, ask)
        if store["asset_asset"] is None:
            raise await _asset_not_accepted(conn, store, body)
        asset = {"asset": store["asset_asset"], "mint": store["asset_mint"],
                 "decimals": store["asset_decimals"]}
        amount, currency, order_id = await _amount_to_pay(conn, store_id, body)
    quote = await quote_for(request.app, QuoteInput(asset, amount, currency, store))
    expires_at, monitor_until = clocks(store, store["database_now"], body.expires_in)
    values = {
        "store_id": store_id, "order_id": order_id, "chain": body.chain,
        "asset": asset["asset"], "mint": asset["mint"], "decimals": asset["decimals"],
        "amount_due": quote.amount_base_units,
        "required_commitment": required_commitment(store, quote.fiat_amount_due),
        "label": ask.label, "message": ask.message, "memo": ask.memo,
        "redirect_url": ask.redirect_url, "metadata": ask.metadata,
        "expires_at": expires_at, "monitor_until": monitor_until, **quote.columns(),
    }
    response = await run_once(request, who, _creator(request, who, chain, store, values, ask))
    if response.status == 201 and "Idempotent-Replayed" not in response.headers:
        PAYMENTS_CREATED.labels(body.chain, asset["asset"]).inc()
    return response


def _creator(request: web.Request, who: Principal, chain: ChainAdapter, store: asyncpg.Record,
             values: dict[str, Any], ask: PaymentAsk) -> Work:
    """The payment's transaction, run at most once per Idempotency-Key (services/payments)."""
    public_url = request.app[SETTINGS].public_url

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        try:
            _row, created = await payments.create(conn, chain, store, values, ask,
                                                  Change(who.actor, public_url))
        except OrderNotPayable:
            raise ApiError(409, "order_not_payable", "the order changed while the payment "
                           "was being quoted; it is no longer pending payment",
                           param="order_id") from None
        # The builder's JSON is the Payment model's (tests/test_ledger.py holds them equal):
        # answering it as is saves a validate-and-dump round trip per payment.
        return 201, created

    return work


async def _asset_not_accepted(conn: asyncpg.Connection, store: asyncpg.Record,
                              body: PaymentCreate) -> ApiError:
    """The 422 for an asset the store does not take, naming those it does on that chain."""
    accepted = [f"{a['asset']}" for a in await stores.store_assets(conn, store["id"])
                if a["chain"] == body.chain and a["enabled"]]
    return ApiError(422, "asset_not_accepted",
                    f"this store does not accept {body.asset} on {body.chain}; "
                    f"accepted: {', '.join(accepted) or 'none'}", param="asset")


async def _amount_to_pay(conn: asyncpg.Connection, store_id: uuid.UUID,
                         body: PaymentCreate) -> tuple[Any, str, uuid.UUID | None]:
    if body.order_id is None:
        assert body.amount is not None
        assert body.currency is not None
        return body.amount, body.currency, None
    order = await db.order_for_payment(conn, body.order_id, store_id)
    if order is None:
        raise ApiError(404, "resource_missing", f"no order {body.order_id}", param="order_id")
    if order["status"] != "pending_payment":
        raise ApiError(409, "order_not_payable",
                       f"order {order['number']} is {order['status']}, not pending_payment",
                       param="order_id")
    return order["total"], order["currency"].strip(), order["id"]


async def get_payment(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    payment_id = parse_id(request.match_info["id"])
    async with request.app[DB_POOL].acquire() as conn:
        row, found = await db.payment_with_transfers(conn, payment_id, store_of(who))
    if row is None:  # another store's payment is "missing" too: never confirm it exists
        raise ApiError(404, "resource_missing", f"no payment {payment_id}")
    # The builder's JSON is the Payment model's (tests/test_ledger.py holds them equal), as
    # the POST answers it: no validate-and-dump per read.
    return json_response(payment_object(row, found, request.app[SETTINGS].public_url))


async def list_payments(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    q = parse_query(request, PaymentListQuery)
    after = decode_cursor(q.cursor)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.list_payments(
            conn, store_of(who), status=q.status, asset=q.asset.upper() if q.asset else None,
            order_id=q.order_id, created_gte=q.created_gte, created_lt=q.created_lt,
            after=after, limit=q.limit + 1)
        page = rows[: q.limit]
        data = [await _out(request, conn, r) for r in page]
    more = len(rows) > q.limit
    cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"]) if more else None
    return respond(PaymentList(data=data, has_more=more, next_cursor=cursor))


async def cancel_payment(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:write")
    store_of(who)  # an operator's key is refused before its body is read, as ever
    payment_id = parse_id(request.match_info["id"])
    body = await parse_body(request, CancelRequest)
    return await run_once(request, who, cancel_work(request, who, payment_id, body.reason))


def cancel_work(request: web.Request, who: Principal, payment_id: uuid.UUID,
                reason: str | None) -> Work:
    """Cancel a pending payment and audit it: the API's route and the dashboard's form run
    this same work (each once per idempotency key)."""
    who.require("payments:write")
    store_id = store_of(who)
    change = Change(who.actor, request.app[SETTINGS].public_url, reason)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        await _load(conn, payment_id, store_id)
        try:
            before, row = await payments.cancel(conn, payment_id, store_id, change)
        except TransitionRefused as refused:
            raise ApiError(409, "payment_not_cancellable",
                           f"payment is {refused.current}; only a pending payment can be "
                           "cancelled (a detected one has money on the way)") from None
        await audit.record(conn, store_id=store_id, actor=who.actor, action="payment.cancel",
                           object_type="payment", object_id=payment_id,
                           before={"status": before["status"]},
                           after={"status": "cancelled", "reason": reason})
        return 200, (await _out(request, conn, row)).model_dump(mode="json")

    return work


async def settle_payment(request: web.Request) -> web.Response:
    """A merchant settles by hand (underpaid, late, or paid off-chain): exception `marked`."""
    who = principal(request)
    who.require("payments:write")
    store_of(who)
    payment_id = parse_id(request.match_info["id"])
    body = await parse_body(request, SettleRequest)
    return await run_once(request, who, settle_work(request, who, payment_id, body.reason))


def settle_work(request: web.Request, who: Principal, payment_id: uuid.UUID,
                reason: str) -> Work:
    """Settle a payment by hand and audit it (the API's route and the dashboard's form)."""
    who.require("payments:write")
    store_id = store_of(who)
    change = Change(who.actor, request.app[SETTINGS].public_url, reason)

    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        await _load(conn, payment_id, store_id)
        try:
            before, row = await payments.settle(conn, payment_id, store_id, change)
        except TransitionRefused as refused:
            raise ApiError(409, "payment_not_settleable",
                           f"payment is {refused.current}; only "
                           f"{', '.join(SETTLEABLE)} payments can be settled by hand") from None
        await audit.record(conn, store_id=store_id, actor=who.actor, action="payment.settle",
                           object_type="payment", object_id=payment_id,
                           before={"status": before["status"], "exception": before["exception"]},
                           after={"status": "confirmed", "exception": "marked",
                                  "reason": reason})
        return 200, (await _out(request, conn, row)).model_dump(mode="json")

    return work


async def payment_qr(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    async with request.app[DB_POOL].acquire() as conn:
        row = await _load(conn, parse_id(request.match_info["id"]), store_of(who))
    return web.Response(body=qr_svg(row["payment_url"]), content_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=300"})


def qr_svg(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=6, border=4,
                                    title="Payment QR code")
    return buf.getvalue()


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/payments", create_payment)
    app.router.add_get("/v1/payments", list_payments)
    app.router.add_get("/v1/payments/{id}", get_payment)
    app.router.add_post("/v1/payments/{id}/cancel", cancel_payment)
    app.router.add_post("/v1/payments/{id}/settle", settle_payment)
    app.router.add_get("/v1/payments/{id}/qr.svg", payment_qr)



OPERATIONS = [
    Operation("POST", "/v1/payments", "Create a payment with a priced quote and the chain's "
              "payment request", Payment, 201, "payments:write", request=PaymentCreate,
              errors=(409, 503)),
    Operation("GET", "/v1/payments", "List payments, newest first", PaymentList,
              scope="payments:read", query=PaymentListQuery),
    Operation("GET", "/v1/payments/{id}", "Retrieve a payment, its quote and transfers",
              Payment, scope="payments:read"),
    Operation("POST", "/v1/payments/{id}/cancel", "Cancel a pending payment", Payment,
              scope="payments:write", request=CancelRequest, errors=(409,)),
    Operation("POST", "/v1/payments/{id}/settle", "Settle a payment by hand (exception "
              "`marked`)", Payment, scope="payments:write", request=SettleRequest,
              errors=(409,)),
    Operation("GET", "/v1/payments/{id}/qr.svg", "The payment request as a QR code", None,
              scope="payments:read", content_type="image/svg+xml"),
]
