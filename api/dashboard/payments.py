"""Payments: the list (filters, one search box, keyset pages, newest first) and a payment's page
(its facts, the quote explained, transfers with explorer links, the timeline of its events with
their webhook deliveries, and the actions cancel, settle by hand and refund).

Cancel and settle run the API's own work (api/payments.py cancel_work/settle_work: the same
service, refusals and audit row), once per rendered form."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp import web

from api import payments as api_payments
from api.errors import ApiError
from api.idempotency import Work
from api.keys import CHAINS, DB_POOL, SETTINGS
from api.models.payments import CancelRequest, SettleRequest
from api.pagination import decode_cursor, encode_cursor
from db import dashboard_payments as db
from db import stores
from paywatch.core.chains import ChainInputError
from paywatch.core.money import decimal_str
from paywatch.core.objects import public_link
from paywatch.core.states import PAYMENT_EXCEPTIONS, PAYMENT_STATUSES, SETTLEABLE

from . import live, render
from .forms import act, form_model, see_other
from .session import Viewer, form_of, view

PAGE_SIZE = 50
MAX_SEARCH = 200
ASSET = re.compile(r"^[A-Z0-9]{1,12}$")
CHAIN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
REFUNDABLE = ("confirmed",)

NOTICES = {
    "cancelled": "The payment is cancelled.",
    "settled": "The payment is settled by hand: it is confirmed, with the exception "
               "“marked”.",
    "redelivered": "The event is queued for delivery again to every endpoint that wants it.",
}


@dataclass
class ListQuery:
    """The list's query string as typed (shown back in the form) and as understood."""
    typed: dict[str, str]
    filters: db.Filters = field(default_factory=db.Filters)
    search: str | None = None
    cursor: tuple[Any, Any] = (None, None)
    newer: bool = False


def _choice(typed: dict[str, str], name: str, allowed: tuple[str, ...] | re.Pattern[str],
            what: str) -> str | None:
    value = typed.get(name, "")
    if value == "":
        return None
    ok = value in allowed if isinstance(allowed, tuple) else bool(allowed.match(value))
    if not ok:
        raise ApiError(422, "parameter_invalid", f"{what} {value!r} is not one of the "
                       "choices: pick one from the list", param=name)
    return value


def _day(typed: dict[str, str], name: str) -> datetime | None:
    value = typed.get(name, "")
    if value == "":
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        raise ApiError(422, "parameter_invalid", f"the date {value!r} is not a date like "
                       "2026-11-29", param=name) from None


def parse_list_query(request: web.Request) -> ListQuery:
    """The filters, the search and the cursor; bad input is a 422 that keeps what was typed."""
    names = ("status", "exception", "asset", "chain", "from", "to", "q")
    typed = {n: request.query.get(n, "").strip()[:MAX_SEARCH] for n in names}
    typed["asset"] = typed["asset"].upper()
    query = ListQuery(typed)
    start, until = _day(typed, "from"), _day(typed, "to")
    if start and until and until < start:
        raise ApiError(422, "parameter_invalid", "the period ends before it starts",
                       param="to")
    query.filters = db.Filters(
        status=_choice(typed, "status", PAYMENT_STATUSES, "status"),
        exception=_choice(typed, "exception", PAYMENT_EXCEPTIONS, "exception"),
        asset=_choice(typed, "asset", ASSET, "asset"),
        chain=_choice(typed, "chain", CHAIN, "chain"),
        created_gte=start, created_lt=until + timedelta(days=1) if until else None)
    query.search = typed["q"] or None
    after, before = request.query.get("after"), request.query.get("before")
    query.cursor = decode_cursor(before or after)
    query.newer = before is not None and query.cursor[0] is not None
    return query


def _search_forms(request: web.Request, term: str) -> tuple[Any, list[str], list[str]]:
    """The term as a payment id (or None), its text forms (as typed; lower case for a hex
    transaction hash), and its forms as an address on each configured chain (each stores its
    recipients in its canonical form)."""
    try:
        payment_id: Any = uuid.UUID(term)
    except ValueError:
        payment_id = None
    terms = [term] + ([term.lower()] if term.lower() != term and term[:2] in ("0x", "0X") else [])
    addresses = [term]
    for chain in request.app[CHAINS]:
        try:
            canonical = chain.validate_address(term)
        except (ChainInputError, ValueError):
            continue
        if canonical not in addresses:
            addresses.append(canonical)
    return payment_id, terms, addresses


async def _search(request: web.Request, conn: asyncpg.Connection, store_id: Any,
                  term: str | None) -> db.Search | None:
    if term is None:
        return None
    payment_id, terms, addresses = _search_forms(request, term)
    chains = sorted(set(request.app[CHAINS].names()) | set(await db.chains_in_use(conn,
                                                                                     store_id)))
    hits = await db.search_hits(conn, store_id, payment_id, terms, chains)
    return db.Search(hits, addresses)


def _page_links(request: web.Request, query: ListQuery,
                rows: list[asyncpg.Record], more: bool) -> dict[str, str | None]:
    """Older/newer links by keyset cursor (never an offset), keeping the filters."""
    kept = {k: v for k, v in query.typed.items() if v}

    def link(**cursor: str) -> str:
        return str(request.rel_url.with_query({**kept, **cursor}))

    older = newer = None
    if rows and (more or query.newer):
        older = link(after=encode_cursor(rows[-1]["created_at"], rows[-1]["id"]))
    if rows and (query.cursor[0] is not None and (not query.newer or more)):
        newer = link(before=encode_cursor(rows[0]["created_at"], rows[0]["id"]))
    return {"older": older, "newer": newer,
            "first": link() if query.cursor[0] is not None else None}


@view("payments:read")
async def payment_list(request: web.Request, viewer: Viewer) -> web.Response:
    store_id = viewer.who.store_id
    rows: list[asyncpg.Record] = []
    error: ApiError | None = None
    links: dict[str, str | None] = {"older": None, "newer": None, "first": None}
    try:
        query = parse_list_query(request)
    except ApiError as exc:
        names = ("status", "exception", "asset", "chain", "from", "to", "q")
        query, error = ListQuery({n: request.query.get(n, "")[:MAX_SEARCH] for n in names}), exc
    async with request.app[DB_POOL].acquire() as conn:
        assets = await stores.store_assets(conn, store_id)
        if error is None:
            search = await _search(request, conn, store_id, query.search)
            found = await db.list_payments(conn, store_id, query.filters, search, query.cursor,
                                           query.newer, PAGE_SIZE + 1)
            more = len(found) > PAGE_SIZE
            rows = (found[-PAGE_SIZE:] if query.newer else found[:PAGE_SIZE])
            links = _page_links(request, query, rows, more)
    chains = sorted(set(request.app[CHAINS].names()) | {a["chain"] for a in assets})
    return render.html(
        request, "payments.html", status=error.status if error else 200, viewer=viewer,
        rows=rows, query=query.typed, error=error, links=links,
        statuses=PAYMENT_STATUSES, exceptions=PAYMENT_EXCEPTIONS,
        assets=sorted({a["asset"] for a in assets}), chain_names=chains)


# ----- one payment ---------------------------------------------------------------------------

async def _facts(request: web.Request, conn: asyncpg.Connection, viewer: Viewer,
                 payment_id: uuid.UUID) -> dict[str, Any]:
    row = await db.payment(conn, payment_id, viewer.who.store_id)
    if row is None:   # another store's payment is "missing" too, as in the API
        raise ApiError(404, "resource_missing", f"no payment {payment_id}")
    events = await db.events_of(conn, payment_id, viewer.who.store_id)
    return {
        "payment": row, "transfers": await db.transfers_of(conn, payment_id),
        "events": events,
        "deliveries": await db.deliveries_of(conn, [e["id"] for e in events]),
        "version": await db.version(conn, payment_id, viewer.who.store_id),
    }


def _plain(value: Decimal | None) -> str | None:
    """A quote's figure as people write it: 150, 0.5 (never 1.5E+2 or 150.000000000000000000)."""
    return None if value is None else decimal_str(value.normalize())


def _quote(row: asyncpg.Record) -> dict[str, Any]:
    """The quote's columns as text, and the stored quote's CFV reasoning (paywatch/core/
    pricing/quote.py to_json: what went into the amount, kept with the payment)."""
    stored = row["quote"] or {}
    below = row["valuation_percent"]
    return {
        "price": _plain(row["price"]), "fair_value": _plain(row["fair_value"]),
        "valuation": _plain(abs(below)) if below is not None else None,
        "below": below is not None and below < 0,
        "discount": _plain(row["discount_percent"]) if row["discount_percent"] > 0 else None,
        "reason": (stored.get("cfv") or {}).get("reason"),
        "observations": stored.get("price_observations") or [],
        "rounding": stored.get("rounding"),
    }


def _actions(viewer: Viewer, row: asyncpg.Record) -> dict[str, bool]:
    may = viewer.can("payments:write")
    return {
        "cancel": may and row["status"] == "pending",
        "settle": may and row["status"] in SETTLEABLE,
        "refund": may and row["status"] in REFUNDABLE
        and row["amount_received"] > row["amount_refunded"],
        "redeliver": viewer.can("webhooks:write"),
    }


async def _payment_page(request: web.Request, viewer: Viewer, payment_id: uuid.UUID,
                        status: int = 200, **form: Any) -> web.Response:
    async with request.app[DB_POOL].acquire() as conn:
        facts = await _facts(request, conn, viewer, payment_id)
    row = facts["payment"]
    chain = request.app[CHAINS].get(row["chain"])
    return render.html(
        request, "payment.html", status=status, viewer=viewer, notices=NOTICES,
        **facts, chain=chain, chain_name=request.app[CHAINS].display_name(row["chain"]),
        quote=_quote(row),
        checkout_url=public_link(request.app[SETTINGS].public_url, f"/pay/{row['id']}"),
        actions=_actions(viewer, row), settle_error=form.get("settle_error"),
        settle_reason=form.get("settle_reason", ""), cancel_reason=form.get("cancel_reason", ""),
        cancel_error=form.get("cancel_error"))


@view("payments:read")
async def payment_page(request: web.Request, viewer: Viewer) -> web.Response:
    return await _payment_page(request, viewer, api_payments.parse_id(request.match_info["id"]))


@view("payments:read")
async def payment_events(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """The payment page's live stream: its version changes when a transfer arrives or deepens,
    its status or amounts change, or an event or a delivery attempt is added."""
    payment_id = api_payments.parse_id(request.match_info["id"])
    store_id = viewer.who.store_id
    async with request.app[DB_POOL].acquire() as conn:
        if await db.version(conn, payment_id, store_id) is None:
            raise ApiError(404, "resource_missing", f"no payment {payment_id}")

    async def version(conn: asyncpg.Connection) -> str | None:
        return await db.version(conn, payment_id, store_id)

    return await live.stream(request, version)


# What the settle form says when its required reason was left blank (the API's own message
# names the field; a person at the form needs to hear why it is asked).
SETTLE_REASON_MISSING = ("say why you settle this payment by hand (the reason is kept with the "
                         "payment and its audit row)")


async def _act_with_reason(request: web.Request, viewer: Viewer, action: str,
                           model: type[CancelRequest] | type[SettleRequest],
                           work: Callable[..., Work], done: str,
                           blank: str | None = None) -> web.Response:
    """A payment action whose form carries a reason (cancel, settle): a refused form comes
    back as the payment's page, 422, with what was typed and why (`blank` when it was left
    empty); otherwise the API's own work runs once per form and the page reloads."""
    payment_id = api_payments.parse_id(request.match_info["id"])
    try:
        body = await form_model(request, model)
    except ApiError as exc:
        if exc.status != 422:
            raise
        typed = (await form_of(request)).get("reason", "")
        message = blank if blank is not None and typed.strip() == "" else exc.message
        return await _payment_page(request, viewer, payment_id, 422,
                                   **{f"{action}_error": message, f"{action}_reason": typed})
    await act(request, viewer, work(request, viewer.who, payment_id, body.reason))
    raise see_other(f"/dashboard/payments/{payment_id}", notice=done)


@view("payments:write")
async def cancel(request: web.Request, viewer: Viewer) -> web.Response:
    return await _act_with_reason(request, viewer, "cancel", CancelRequest,
                                  api_payments.cancel_work, "cancelled")


@view("payments:write")
async def settle(request: web.Request, viewer: Viewer) -> web.Response:
    return await _act_with_reason(request, viewer, "settle", SettleRequest,
                                  api_payments.settle_work, "settled",
                                  blank=SETTLE_REASON_MISSING)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard/payments", payment_list)
    app.router.add_get("/dashboard/payments/{id}", payment_page)
    app.router.add_get("/dashboard/payments/{id}/events", payment_events)
    app.router.add_post("/dashboard/payments/{id}/cancel", cancel)
    app.router.add_post("/dashboard/payments/{id}/settle", settle)
