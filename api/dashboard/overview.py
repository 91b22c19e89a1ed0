"""The overview: what a merchant checks first (money received, what is waiting, what needs a
hand, whether the watchers are healthy). Each figure links to the list it summarises.

Received value is the books' own figure (db/analytics.py, as GET /v1/analytics/summary): the
fiat due of payments confirmed in the period minus refunds confirmed in it, per currency, by
UTC day and month taken from the database's clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp import web

from api.health import CHAIN_STALE_S
from api.keys import CHAINS, DB_POOL
from db import analytics, stores
from db import dashboard_payments as db
from db.payments import database_now
from db.queries import watcher_lock_key
from paywatch.core.states import OPEN_PAYMENT

from . import render
from .session import Viewer, view


@dataclass(frozen=True)
class Received:
    """Net received value per currency (gross minus refunds) for one period."""
    net: dict[str, Decimal]
    gross: dict[str, Decimal]
    refunded: dict[str, Decimal]
    payments: int


def _received(revenue: Iterable[asyncpg.Record], refunds: Iterable[asyncpg.Record],
              since: datetime) -> Received:
    """The rows (grouped by UTC day) from `since` on, added up per currency."""
    gross: dict[str, Decimal] = {}
    back: dict[str, Decimal] = {}
    count = 0
    for row in revenue:
        if row["period"].replace(tzinfo=UTC) >= since:
            code = row["currency"].strip()
            gross[code] = gross.get(code, Decimal(0)) + row["fiat"]
            count += row["payments"]
    for row in refunds:
        if row["period"].replace(tzinfo=UTC) >= since:
            code = row["currency"].strip()
            back[code] = back.get(code, Decimal(0)) + row["fiat"]
    net = {c: gross.get(c, Decimal(0)) - back.get(c, Decimal(0)) for c in gross | back}
    return Received(net, gross, back, count)


async def _money(conn: asyncpg.Connection, store_id: Any) -> tuple[datetime, Received, Received]:
    now = (await database_now(conn)).astimezone(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = today.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    revenue = await analytics.revenue(conn, store_id, month, next_month, "day")
    refunds = await analytics.refunds(conn, store_id, month, next_month, "day")
    return today, _received(revenue, refunds, today), _received(revenue, refunds, month)


def _chain_report(row: asyncpg.Record, name: str) -> dict[str, Any]:
    age = row["age_s"]
    return {
        "chain": row["chain"], "name": name, "reported": row["height"] is not None,
        "healthy": age is not None and age <= CHAIN_STALE_S,
        "height": row["height"], "age": None if age is None else round(age),
        "checked_at": row["checked_at"], "leader_pid": row["leader_pid"],
        "leader": row["leader"],
        "leader_addr": row["leader_addr"], "leading_since": row["leading_since"],
        "last_transfer_at": row["last_transfer_at"],
        "lag": row["lag"], "rpc_errors": row["rpc_errors"],
    }


@view("payments:read")
async def overview(request: web.Request, viewer: Viewer) -> web.Response:
    store_id = viewer.who.store_id
    chains = request.app[CHAINS]
    watched = chains.watched()
    async with request.app[DB_POOL].acquire() as conn:
        store = await stores.store_by_id(conn, store_id)
        today, day, month = await _money(conn, store_id)
        counts = await db.open_counts(conn, store_id, OPEN_PAYMENT)
        inbox = await db.open_inbox(conn, store_id)
        endpoints = await db.endpoints_health(conn, store_id)
        reports = await db.chain_reports(conn, watched, [watcher_lock_key(c) for c in watched])
    failing = [e for e in endpoints
               if e["failing_since"] is not None or not e["enabled"] or e["retrying"]]
    currency = store["default_currency"].strip() if store else "USD"
    return render.html(
        request, "overview.html", viewer=viewer, currency=currency, zero=Decimal(0),
        today=today.date(),
        day=day, month=month, month_name=today.strftime("%B %Y"),
        pending=counts.get("pending", 0), detected=counts.get("detected", 0),
        open_total=sum(counts.values()), inbox=inbox, failing=failing,
        endpoints=len(endpoints), stale_after=round(CHAIN_STALE_S),
        watchers=[_chain_report(r, chains.display_name(r["chain"])) for r in reports])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dashboard", overview)
