"""GET /v1/quotes: the quote a payment would get now (nothing is stored)."""

from __future__ import annotations

from aiohttp import web

from api.auth import principal
from api.body import parse_query, respond
from api.errors import ApiError
from api.keys import DB_POOL
from api.models.quotes import QuoteOut, QuoteQuery
from api.openapi import Operation
from api.payments import store_of
from api.quoting import QuoteInput, quote_for
from db import stores


async def get_quote(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    q = parse_query(request, QuoteQuery)
    if q.amount <= 0:
        raise ApiError(422, "parameter_invalid", "amount must be greater than zero",
                       param="amount")
    async with request.app[DB_POOL].acquire() as conn:
        store = await stores.store_by_id(conn, store_of(who))
        if store is None:  # the key outlived its store
            raise ApiError(404, "resource_missing", "no such store")
        asset = await stores.store_asset(conn, store["id"], q.chain, q.asset.upper())
    if asset is None:
        raise ApiError(422, "asset_not_accepted",
                       f"this store does not accept {q.asset} on {q.chain}", param="asset")
    currency = q.currency or store["default_currency"].strip()
    priced = await quote_for(request.app, QuoteInput(asset, q.amount, currency, store))
    return respond(QuoteOut.model_validate(priced.quote.to_json()))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/quotes", get_quote)


OPERATIONS = [
    Operation("GET", "/v1/quotes", "The quote a payment would get now", QuoteOut,
              scope="payments:read", query=QuoteQuery, errors=(503,)),
]
