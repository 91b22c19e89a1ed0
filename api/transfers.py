"""The store's inbox: money that reached one of its accounts but paid no payment (no reference,
an amount no open payment asks, a closed payment, a wrong asset...), on every chain. Listed so
the merchant can assign it to a payment (which then settles by the normal rules) or dismiss it
with a reason; never silently dropped. Both are audited with the key that did it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from api.auth import principal
from api.body import parse_body, parse_query, respond
from api.errors import ApiError
from api.idempotency import Work, run_once
from api.keys import DB_POOL, SETTINGS
from api.models.transfers import AssignRequest, DismissRequest, InboxQuery, Transfer, TransferList
from api.openapi import Operation
from api.payments import store_of
from db import transfers as db
from paywatch.core.objects import transfer_object
from paywatch.services import transfers
from paywatch.services.transfers import InboxRefused, Resolved

# bigint ids: 18 digits always fit PostgreSQL's int64 (as the list's cursor).
MAX_ID_DIGITS = 18

_STATUS_OF = {"missing": 404, "conflict": 409, "invalid": 422}

Resolve = Callable[[asyncpg.Connection], Awaitable[Resolved]]


def parse_transfer_id(raw: str) -> int:
    """A path's transfer id; anything but a positive id names no transfer (404)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_ID_DIGITS):
        raise ApiError(404, "resource_missing", f"no transfer {raw!r}")
    return int(raw)


def transfer_out(row: asyncpg.Record) -> Transfer:
    return Transfer.model_validate(transfer_object(row))


async def list_unmatched(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    q = parse_query(request, InboxQuery)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.inbox(conn, store_of(who), state=q.state, chain=q.chain,
                              asset=q.asset.upper() if q.asset else None,
                              before=int(q.cursor) if q.cursor else None, limit=q.limit + 1)
    page = rows[:q.limit]
    more = len(rows) > q.limit
    return respond(TransferList(data=[transfer_out(r) for r in page], has_more=more,
                                next_cursor=str(page[-1]["id"]) if more else None))


async def get_transfer(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    transfer_id = parse_transfer_id(request.match_info["id"])
    async with request.app[DB_POOL].acquire() as conn:
        row = await db.store_transfer(conn, transfer_id, store_of(who))
    if row is None:  # another store's transfer is missing too
        raise ApiError(404, "resource_missing", f"no transfer {transfer_id}")
    return respond(transfer_out(row))


async def assign_transfer(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:write")
    store_id, transfer_id = store_of(who), parse_transfer_id(request.match_info["id"])
    body = await parse_body(request, AssignRequest)
    return await run_once(request, who, assign_work(store_id, transfer_id, body, who.actor,
                                                    request.app[SETTINGS].public_url))


def assign_work(store_id: uuid.UUID, transfer_id: int, body: AssignRequest, actor: str,
                public_url: str | None) -> Work:
    """Assigning an inbox entry, as the API and the dashboard both run it (once per key)."""
    async def work(conn: asyncpg.Connection) -> Resolved:
        return await transfers.assign(conn, transfer_id, store_id, body.payment_id, actor,
                                      note=body.note, public_url=public_url)

    return _answer(work)


async def dismiss_transfer(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:write")
    store_id, transfer_id = store_of(who), parse_transfer_id(request.match_info["id"])
    body = await parse_body(request, DismissRequest)
    return await run_once(request, who, dismiss_work(store_id, transfer_id, body, who.actor))


def dismiss_work(store_id: uuid.UUID, transfer_id: int, body: DismissRequest,
                 actor: str) -> Work:
    """Dismissing an inbox entry, as the API and the dashboard both run it (once per key)."""
    async def work(conn: asyncpg.Connection) -> Resolved:
        return await transfers.dismiss(conn, transfer_id, store_id, body.reason, actor)

    return _answer(work)


def _answer(resolve: Resolve) -> Work:
    """The resolution's transaction, answering the transfer as it now is (a repeat of the same
    assign or dismiss answers the same 200, without a second event), or its refusal."""
    async def work(conn: asyncpg.Connection) -> tuple[int, Any]:
        try:
            done = await resolve(conn)
        except InboxRefused as refused:
            raise ApiError(_STATUS_OF[refused.kind], refused.code, refused.message,
                           param=refused.param) from None
        return 200, transfer_out(done.transfer).model_dump(mode="json")

    return work


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/transfers/unmatched", list_unmatched)
    app.router.add_get("/v1/transfers/{id}", get_transfer)
    app.router.add_post("/v1/transfers/{id}/assign", assign_transfer)
    app.router.add_post("/v1/transfers/{id}/dismiss", dismiss_transfer)


OPERATIONS = [
    Operation("GET", "/v1/transfers/unmatched", "The store's inbox: transfers into its accounts "
              "that paid no payment, on every chain, newest first", TransferList,
              scope="payments:read", query=InboxQuery),
    Operation("GET", "/v1/transfers/{id}", "Retrieve one of the store's transfers (an inbox "
              "entry or one that pays a payment)", Transfer, scope="payments:read"),
    Operation("POST", "/v1/transfers/{id}/assign", "Assign an inbox entry to a payment of the "
              "same chain and asset, which then settles by the normal rules", Transfer,
              scope="payments:write", request=AssignRequest, errors=(409, 422)),
    Operation("POST", "/v1/transfers/{id}/dismiss", "Dismiss an inbox entry with a reason (it "
              "pays nothing)", Transfer, scope="payments:write", request=DismissRequest,
              errors=(409,)),
]
