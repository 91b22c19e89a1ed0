"""Solana Pay Transaction Requests, public (no API key), one link per Solana payment:

    {PAYWATCH_PUBLIC_URL}/pay/{payment_id}/transaction-request

- GET answers `{"label": <store name>, "icon": <absolute URL of an SVG paywatch serves>}`.
- POST with `{"account": "<base58>"}` answers `{"transaction": <base64>, "message": ...}`: an
  unsigned legacy transaction whose fee payer is that account (never a key of ours) paying what
  the payment still asks for, built by paywatch.core.txrequest from what the payment's chain
  adapter reads (paywatch.core.chains.TransactionRequests). The account is recorded as the
  payment's payer (the latest request wins; paywatch.services.payments.record_payer).
- Errors follow the spec: a 4xx/5xx with a JSON `{"message": ...}` (plus the API's usual
  `error` object): 400 for a body that is not JSON or an account that is missing, malformed or
  off the curve; 404 for an unknown payment, a payment on a chain without Transaction Requests,
  or a deployment without a public URL; 409 for a payment already paid or on its way; 410 for
  an expired or cancelled one; 429 when one client asks too often; 503 with Retry-After when
  the Solana nodes do not answer.
- CORS: every answer carries `Access-Control-Allow-Origin: *` and OPTIONS answers the preflight
  for GET and POST, so a browser wallet can call it from any page."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, Field

from api.body import read_body
from api.checkout import render
from api.checkout.routes import client_address
from api.errors import ApiError, database_unavailable
from api.keys import CHAINS, DB_POOL, SETTINGS
from api.models.common import ResponseModel
from api.openapi import Operation, Reply
from api.ratelimit import RateLimiter
from db import checkout as db_checkout
from db import payments as db_payments
from db.pool import UNAVAILABLE_ERRORS
from paywatch.core import txrequest
from paywatch.core.chains import ChainUnavailable, TransactionRequests
from paywatch.core.txrequest import NotPayable, TxRequestPlan
from paywatch.services import payments

# The HTTP session chain reads go through (the daemon's shared one, or the app's own).
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
# Per client address, not per key (there is none): each POST costs the operator RPC calls.
TXREQUEST_LIMITER = web.AppKey("txrequest_limiter", RateLimiter)

CHAIN_RETRY_AFTER_S = 5
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {**CORS, "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
             "Access-Control-Allow-Headers": "Content-Type, Accept, Cache-Control",
             "Access-Control-Max-Age": "86400"}
_COMMON = {**CORS, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def spec_error(exc: ApiError) -> web.Response:
    """The spec's `{"message"}` beside the API's usual `error` object, CORS headers included
    (a browser wallet must be able to read why it was refused)."""
    body = {"message": exc.message, "error": {"type": exc.type, "code": exc.code,
                                              "message": exc.message, "param": exc.param}}
    return web.json_response(body, status=exc.status, headers={**_COMMON, **exc.headers})


async def transaction_request(request: web.Request) -> web.StreamResponse:
    """One route for every method, so even a refusal (405, 413...) is the spec's error."""
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=PREFLIGHT)
    handler = _HANDLERS.get(request.method)
    try:
        if handler is None:
            raise ApiError(405, "method_not_allowed", "use GET or POST",
                           headers={"Allow": "GET, POST, OPTIONS"})
        _limit(request)
        return await handler(request)
    except ApiError as exc:
        return spec_error(exc)
    except UNAVAILABLE_ERRORS as exc:  # the middleware's 503 would lack the spec's shape
        return spec_error(database_unavailable(request, exc))
    except web.HTTPException as exc:  # aiohttp's own refusals, such as a body over the limit
        if exc.status < 400:
            raise
        return spec_error(ApiError(exc.status, exc.reason.lower().replace(" ", "_"),
                                   exc.reason))


def _limit(request: web.Request) -> None:
    who = client_address(request, request.app[SETTINGS].client_ip_header)
    try:
        request.app[TXREQUEST_LIMITER].check(who)
    except ApiError as exc:
        wait = exc.headers.get("Retry-After", "60")
        raise ApiError(429, "rate_limited", f"too many transaction requests from this "
                       f"address; retry in {wait} s", headers=exc.headers) from None


def _offered(request: web.Request) -> uuid.UUID:
    if not txrequest.offered(request.app[SETTINGS].public_url):
        raise ApiError(404, "transaction_requests_off", "this server offers no Solana Pay "
                       "transaction requests: its operator has not set an https "
                       "PAYWATCH_PUBLIC_URL")
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise _unknown() from None


def _unknown() -> ApiError:
    return ApiError(404, "resource_missing", "no such payment")


def _chain(request: web.Request, name: str) -> TransactionRequests:
    chain = request.app[CHAINS].get(name)
    if not isinstance(chain, TransactionRequests):
        raise ApiError(404, "transaction_request_unsupported",
                       "this payment's chain has no Solana Pay transaction requests; pay it "
                       "with its payment request instead")
    return chain


def _payable(row: Any) -> int:
    try:
        return txrequest.amount_requested(row, datetime.now(UTC))
    except NotPayable as exc:
        raise ApiError(exc.status, "payment_not_payable", exc.message) from None


async def get_request(request: web.Request) -> web.Response:
    payment_id = _offered(request)
    row = await db_checkout.checkout(request.app[DB_POOL], payment_id)
    if row is None:
        raise _unknown()
    _chain(request, row["chain"])
    _payable(row)
    icon = f"{request.app[SETTINGS].public_url}{render.static_assets()['icon.svg'].url}"
    return web.json_response({"label": row["store_name"], "icon": icon}, headers=_COMMON)


async def post_request(request: web.Request) -> web.Response:
    payment_id = _offered(request)
    account = await _account(request)
    async with request.app[DB_POOL].acquire() as conn:
        row = await db_payments.get_payment_public(conn, payment_id)
        store = None if row is None else await db_checkout.checkout(conn, payment_id)
    if row is None or store is None:
        raise _unknown()
    chain = _chain(request, row["chain"])
    amount = _payable(row)
    plan = TxRequestPlan(payer=account, recipient=row["recipient"], mint=row["mint"],
                         decimals=row["decimals"], amount=amount, reference=row["reference"],
                         memo=row["memo"])
    try:
        tx = await chain.transaction_request(request.app[HTTP_SESSION], plan)
    except ChainUnavailable as exc:
        raise ApiError(503, "chain_unavailable", f"{exc}; retry shortly",
                       headers={"Retry-After": str(CHAIN_RETRY_AFTER_S)}) from None
    async with request.app[DB_POOL].acquire() as conn:
        if not await payments.record_payer(conn, payment_id, str(account)):
            # It closed (paid, expired, cancelled) while the chain was read: say which.
            _payable(await db_payments.get_payment_public(conn, payment_id))
            raise ApiError(409, "payment_not_payable", "this payment changed; reload it")
    return web.json_response({
        "transaction": base64.b64encode(tx).decode(),
        "message": txrequest.message(amount, row["decimals"], row["asset"],
                                     store["store_name"])}, headers=_COMMON)


async def _account(request: web.Request) -> Any:
    """The body's `account`, whatever the Content-Type says (wallets send JSON)."""
    raw = await read_body(request)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body must be JSON: {\"account\": "
                       "\"<base58 public key>\"}") from None
    if not isinstance(body, dict) or "account" not in body:
        raise ApiError(400, "parameter_missing", "the body must be a JSON object with the "
                       "paying wallet's `account`", param="account")
    try:
        return txrequest.parse_account(body["account"])
    except ValueError as exc:
        raise ApiError(400, "parameter_invalid", str(exc), param="account") from None


_HANDLERS: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
    "GET": get_request, "POST": post_request}


def add_routes(app: web.Application) -> None:
    app[TXREQUEST_LIMITER] = RateLimiter(app[SETTINGS].api_rate_limit_per_minute)
    app.router.add_route("*", txrequest.PATH, transaction_request)


# ----- the OpenAPI document's view of these routes (the handlers above build the same JSON) --

class TxRequestLabel(ResponseModel):
    label: str = Field(description="the store's name, shown by the wallet")
    icon: str = Field(description="absolute URL of an SVG icon")


class TxRequestAccount(BaseModel):
    account: str = Field(description="the paying wallet's public key (base58): the fee payer")


class TxRequestTransaction(ResponseModel):
    transaction: str = Field(description="an unsigned legacy transaction, base64")
    message: str = Field(description="what the wallet shows the customer")


class ApiErrorBody(ResponseModel):
    type: str
    code: str
    message: str
    param: str | None


class TxRequestError(ResponseModel):
    message: str = Field(description="Solana Pay's error message")
    error: ApiErrorBody


def _refusals(*codes: int) -> tuple[Reply, ...]:
    said = {400: "The body is not JSON, or its account is missing or invalid",
            404: "No such payment, a chain without Transaction Requests, or no public URL",
            409: "Already paid, or on its way", 410: "Expired or cancelled",
            413: "Body too large", 429: "Too many requests from this client; see Retry-After",
            503: "The database or the Solana nodes do not answer; see Retry-After"}
    return tuple(Reply(code, said[code], TxRequestError) for code in codes)


OPERATIONS = [
    Operation("GET", txrequest.PATH, "Solana Pay Transaction Request: the label and icon a "
              "wallet shows", TxRequestLabel, replies=_refusals(404, 409, 410, 429, 503)),
    Operation("POST", txrequest.PATH, "Solana Pay Transaction Request: an unsigned "
              "transaction for the wallet's account to sign and send (the customer pays the "
              "fee)", TxRequestTransaction, request=TxRequestAccount,
              replies=_refusals(400, 404, 409, 410, 413, 429, 503)),
    Operation("OPTIONS", txrequest.PATH, "CORS preflight: any origin may call GET and POST",
              None, 204),
]
