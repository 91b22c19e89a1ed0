"""Unmatched transfers: money that reached one of the store's addresses but paid no payment
(on a shared address, an amount no open payment asks: a wallet or exchange that deducted a
fee). Listed so the merchant can refund or settle by hand; never silently dropped."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from api.auth import principal
from api.body import parse_query, respond
from api.keys import DB_POOL
from api.models.common import (
    BaseUnits,
    ListResponse,
    OptionalTimestamp,
    QueryModel,
    ResponseModel,
    SeqCursor,
    Timestamp,
)
from api.openapi import Operation
from api.payments import store_of
from db import evm as db_evm


class UnmatchedQuery(QueryModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: SeqCursor | None = None


class UnmatchedTransfer(ResponseModel):
    object: Literal["transfer"] = "transfer"
    id: str
    chain: str
    tx_id: str
    index: int
    asset: str
    mint: str | None
    sender: str | None
    recipient: str
    amount: BaseUnits
    block_number: int | None
    block_hash: str | None
    block_time: OptionalTimestamp
    status: str
    reject_reason: str | None
    seen_at: Timestamp


class UnmatchedList(ListResponse):
    data: list[UnmatchedTransfer]


async def list_unmatched(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    query = parse_query(request, UnmatchedQuery)
    before = int(query.cursor) if query.cursor else None
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db_evm.unmatched(conn, store_of(who), before, query.limit + 1)
    page = rows[:query.limit]
    data = [UnmatchedTransfer(**{**dict(r), "id": str(r["id"])}) for r in page]
    more = len(rows) > query.limit
    return respond(UnmatchedList(data=data, has_more=more,
                                 next_cursor=str(page[-1]["id"]) if more else None))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/transfers/unmatched", list_unmatched)


OPERATIONS = [
    Operation("GET", "/v1/transfers/unmatched", "List transfers to the store's addresses that "
              "paid no payment, newest first", UnmatchedList, scope="payments:read",
              query=UnmatchedQuery),
]
