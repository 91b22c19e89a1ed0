"""The inbox: money that reached one of the store's accounts and paid no payment. The list (by
state, chain and asset, keyset pages as the API's), and a transfer's page: its facts with
explorer links, why it was not matched, and the two ways to resolve it when the key may
(payments:write): assign it to a payment found by a search (db/dashboard_inbox.py), or dismiss
it with a reason. Both are the API's own work (api/transfers.py assign_work, dismiss_work):
the same refusals (404, 409 already assigned, 422 wrong asset), shown on the page with what
was typed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp import web

from api import transfers as api
from api.errors import ApiError
from api.keys import CHAINS, DB_POOL, SETTINGS
from api.models.transfers import AssignRequest, DismissRequest, InboxQuery
from api.payments import store_of
from db import dashboard_inbox, stores
from db import transfers as db
from paywatch.core.money import format_units
from paywatch.core.settlement import LIVE
from paywatch.services.transfers import ASSIGNABLE

from . import render
from .forms import act, form_model, see_other
from .listing import filters_of, list_query, page_link
from .session import Viewer, form_of, view

PAGE = 25
CANDIDATES = 10
# An amount as a person types it: in the coin (up to 36 decimals) or in fiat.
AMOUNT = re.compile(r"[0-9]{1,30}(\.[0-9]{1,36})?", re.ASCII)
ORDER_NUMBER = re.compile(r"ORD-\d{8}-\d{4,}", re.ASCII)
STATES = ("open", "assigned", "dismissed", "all")

NOTICES = {
    "assigned": "Assigned: the payment now counts this transfer and settles by the usual rules.",
    "dismissed": "Dismissed: this transfer pays nothing, and your reason is kept.",
}

Decimals = Mapping[tuple[str, str], int]


def state_of(t: asyncpg.Record) -> str:
    """What the merchant sees: open, assigned, dismissed, reverted, or matched (not an entry)."""
    if t["unmatched_reason"] is None:
        return "matched"
    if t["resolution"] is not None:
        return str(t["resolution"])
    return "open" if t["status"] in LIVE else str(t["status"])


def _shown(t: asyncpg.Record, decimals: Decimals) -> dict[str, Any]:
    places = decimals.get((t["chain"], t["asset"]))
    amount = int(t["amount"])
    return {"t": t, "state": state_of(t), "amount": format_units(amount, places)
            if places is not None else f"{amount} base units"}


async def _decimals(conn: asyncpg.Connection, store_id: uuid.UUID) -> dict[tuple[str, str], int]:
    return {(a["chain"], a["asset"]): a["decimals"]
            for a in await stores.store_assets(conn, store_id)}


@view("payments:read")
async def inbox_list(request: web.Request, viewer: Viewer) -> web.Response:
    query = list_query(request, InboxQuery)
    store_id = store_of(viewer.who)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await db.inbox(conn, store_id, state=query.state, chain=query.chain,
                              asset=query.asset.upper() if query.asset else None,
                              before=int(query.cursor) if query.cursor else None,
                              limit=PAGE + 1)
        decimals = await _decimals(conn, store_id)
    page, more = rows[:PAGE], len(rows) > PAGE
    return render.html(
        request, "inbox.html", viewer=viewer, rows=[_shown(t, decimals) for t in page],
        filters=filters_of(query), states=STATES,
        assets=sorted({asset for _chain, asset in decimals}),
        next_page=page_link(request, query, str(page[-1]["id"])) if more else None,
        first_page=page_link(request, query, None) if query.cursor else None)


def _search(q: str) -> dict[str, Any]:
    """The candidates' search: a payment id, an order number, or an amount."""
    try:
        return {"payment_id": uuid.UUID(q)}
    except ValueError:
        pass
    if ORDER_NUMBER.fullmatch(q.upper()):
        return {"order_number": q.upper()}
    if AMOUNT.fullmatch(q):
        return {"amount": Decimal(q)}
    raise ApiError(422, "parameter_invalid", "search by a payment id, an order number "
                   "(ORD-20250131-0001) or an amount (0.25 in the coin, or 30.00 in the "
                   "payment's currency)", param="q")


async def _transfer_page(request: web.Request, viewer: Viewer, *, status: int = 200,
                         error: ApiError | None = None,
                         typed: Mapping[str, str] | None = None) -> web.Response:
    store_id = store_of(viewer.who)
    transfer_id = api.parse_transfer_id(request.match_info["transfer_id"])
    typed = dict(typed or {})
    q = (typed.get("q") if typed else request.query.get("q", "")) or ""
    typed["q"] = q = q.strip()[:100]
    async with request.app[DB_POOL].acquire() as conn:
        t = await db.store_transfer(conn, transfer_id, store_id)
        if t is None:   # another store's transfer is missing too
            raise ApiError(404, "resource_missing", f"no transfer {transfer_id}")
        shown = _shown(t, await _decimals(conn, store_id))
        found, search_error = await _candidates(conn, viewer, t, shown["state"], q)
    if error is None and search_error is not None:
        status, error = search_error.status, search_error
    adapter = request.app[CHAINS].get(t["chain"])
    return render.html(
        request, "transfer.html", status=status, viewer=viewer, notices=NOTICES,
        shown=shown, t=t, candidates=found, error=error, typed=typed,
        explorer=adapter.explorer_tx_url(t["tx_id"]) if adapter else None,
        can_act=viewer.can("payments:write") and shown["state"] == "open")


async def _candidates(conn: asyncpg.Connection, viewer: Viewer, t: asyncpg.Record,
                      state: str, q: str) -> tuple[list[dict[str, Any]], ApiError | None]:
    """The payments this open entry could be assigned to (for a key that may assign it)."""
    if state != "open" or not viewer.can("payments:write"):
        return [], None
    try:
        search = _search(q) if q else {}
    except ApiError as exc:
        return [], exc
    rows = await dashboard_inbox.candidates(
        conn, store_of(viewer.who), t, payment_id=search.get("payment_id"),
        order_number=search.get("order_number"), amount=search.get("amount"),
        assignable=ASSIGNABLE, limit=CANDIDATES)
    return [{"p": p, "due": format_units(int(p["amount_due"]), p["decimals"]),
             "received": format_units(int(p["amount_received"]), p["decimals"])}
            for p in rows], None


@view("payments:read")
async def transfer_page(request: web.Request, viewer: Viewer) -> web.Response:
    return await _transfer_page(request, viewer)


async def _refused(request: web.Request, viewer: Viewer, exc: ApiError) -> web.Response:
    """The transfer's page again with the refusal and the forms as they were typed; a missing
    transfer (another store's too) is the plain 404 page."""
    if exc.status == 404 and exc.param is None:
        raise exc
    return await _transfer_page(request, viewer, status=exc.status, error=exc,
                                typed=await form_of(request))


@view("payments:write")
async def assign(request: web.Request, viewer: Viewer) -> web.Response:
    transfer_id = api.parse_transfer_id(request.match_info["transfer_id"])
    try:
        if not (await form_of(request)).get("payment_id", "").strip():
            raise ApiError(422, "parameter_missing", "choose the payment to assign this "
                           "transfer to (search for it above)", param="payment_id")
        body = await form_model(request, _Assign)
        await act(request, viewer, api.assign_work(
            store_of(viewer.who), transfer_id, AssignRequest(payment_id=body.payment_id,
                                                            note=body.note),
            viewer.who.actor, request.app[SETTINGS].public_url))
    except ApiError as exc:
        return await _refused(request, viewer, exc)
    raise see_other(f"/dashboard/inbox/{transfer_id}", notice="assigned")


class _Assign(AssignRequest):
    """The assign form: the API's request, and the search it was chosen from (kept on a
    refusal's page)."""
    q: str | None = None


@view("payments:write")
async def dismiss(request: web.Request, viewer: Viewer) -> web.Response:
    transfer_id = api.parse_transfer_id(request.match_info["transfer_id"])
    try:
        if not (await form_of(request)).get("reason", "").strip():
            raise ApiError(422, "parameter_missing", "say why this transfer pays nothing (it "
                           "is kept with the transfer)", param="reason")
        body = await form_model(request, DismissRequest)
        await act(request, viewer, api.dismiss_work(store_of(viewer.who), transfer_id, body,
                                                    viewer.who.actor))
    except ApiError as exc:
        return await _refused(request, viewer, exc)
    raise see_other(f"/dashboard/inbox/{transfer_id}", notice="dismissed")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard/inbox", inbox_list)
    app.router.add_get("/dashboard/inbox/{transfer_id}", transfer_page)
    app.router.add_post("/dashboard/inbox/{transfer_id}/assign", assign)
    app.router.add_post("/dashboard/inbox/{transfer_id}/dismiss", dismiss)
