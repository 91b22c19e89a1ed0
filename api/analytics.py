"""GET /v1/analytics/summary: revenue by asset and fiat per period, refunds, statuses,
conversion, median time to confirm. Payments settled by hand count as revenue but not towards
the median (their confirmation time says nothing about the chain).

Net of refunds: `fiat_totals` is what confirmed payments brought in (`gross_fiat_totals`, the
sum of their fiat due) minus what confirmed refunds gave back (`refund_totals`, at the rate
each refund was made at), per currency, each counted in the period it was confirmed in; the
exports' `fiat_due` and `fiat_amount` columns add up to the same figures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, model_validator

from api.auth import principal
from api.body import parse_query, respond
from api.keys import DB_POOL
from api.models.common import (
    BaseUnits,
    Money,
    QueryModel,
    ResponseModel,
    StoredTime,
    Timestamp,
)
from api.openapi import Operation
from api.payments import store_of
from db import analytics
from paywatch.core.money import fiat_shown, format_units

MAX_RANGE = timedelta(days=3 * 366)


class SummaryQuery(QueryModel):
    from_: StoredTime | None = Field(default=None, alias="from")
    to: StoredTime | None = None
    group_by: Literal["day", "week", "month"] = "day"

    @model_validator(mode="after")
    def _range(self) -> SummaryQuery:
        end = self.to or datetime.now(UTC)
        try:
            start = self.from_ or end - timedelta(days=30)
        except OverflowError:  # `to` in the first month of year 1
            raise ValueError("from: give a start; 30 days before `to` is before year 1") from None
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("from and to need a time zone, e.g. 2026-11-01T00:00:00Z")
        if not start < end:
            raise ValueError("from must be before to")
        if end - start > MAX_RANGE:
            raise ValueError("the range is at most three years")
        self.from_, self.to = start, end
        return self


class RevenueRow(ResponseModel):
    period: Timestamp
    asset: str
    currency: str
    payments: int
    received: BaseUnits
    received_display: str
    fiat: Money


class RefundRow(ResponseModel):
    period: Timestamp
    asset: str
    currency: str
    refunds: int
    amount: BaseUnits
    amount_display: str
    fiat: Money


class Summary(ResponseModel):
    object: Literal["analytics.summary"] = "analytics.summary"
    from_: Timestamp = Field(serialization_alias="from")
    to: Timestamp
    group_by: str
    revenue: list[RevenueRow]
    refunds: list[RefundRow] = Field(description="refunds confirmed in the period")
    gross_fiat_totals: dict[str, Money] = Field(description="revenue before refunds")
    refund_totals: dict[str, Money]
    fiat_totals: dict[str, Money] = Field(description="revenue net of refunds")
    payments_by_status: dict[str, int]
    created: int
    confirmed: int
    conversion: Annotated[Decimal, Field(description="confirmed / created, 4 decimals")] | None
    median_seconds_to_confirm: Decimal | None


async def summary(request: web.Request) -> web.Response:
    who = principal(request)
    who.require("payments:read")
    q = parse_query(request, SummaryQuery)
    assert q.from_ is not None
    assert q.to is not None
    store_id = store_of(who)
    async with request.app[DB_POOL].acquire() as conn:
        rows = await analytics.revenue(conn, store_id, q.from_, q.to, q.group_by)
        given = await analytics.refunds(conn, store_id, q.from_, q.to, q.group_by)
        statuses = await analytics.status_counts(conn, store_id, q.from_, q.to)
        median = await analytics.median_seconds_to_confirm(conn, store_id, q.from_, q.to)
    revenue = [RevenueRow(period=r["period"].replace(tzinfo=UTC), asset=r["asset"],
                          currency=r["currency"].strip(), payments=r["payments"],
                          received=r["received"],
                          received_display=format_units(r["received"], r["decimals"]),
                          fiat=fiat_shown(r["fiat"], r["currency"].strip())) for r in rows]
    refunds = [RefundRow(period=r["period"].replace(tzinfo=UTC), asset=r["asset"],
                         currency=r["currency"].strip(), refunds=r["refunds"],
                         amount=r["amount"], amount_display=format_units(r["amount"],
                                                                         r["decimals"]),
                         fiat=fiat_shown(r["fiat"], r["currency"].strip())) for r in given]
    gross = _totals((row.currency, row.fiat) for row in revenue)
    back = _totals((row.currency, row.fiat) for row in refunds)
    net = {currency: gross.get(currency, Decimal(0)) - back.get(currency, Decimal(0))
           for currency in gross | back}
    created, confirmed = sum(statuses.values()), statuses.get("confirmed", 0)
    conversion = (Decimal(confirmed) / created).quantize(Decimal("0.0001")) if created else None
    return respond(Summary(
        from_=q.from_, to=q.to, group_by=q.group_by, revenue=revenue, refunds=refunds,
        gross_fiat_totals=_shown(gross), refund_totals=_shown(back), fiat_totals=_shown(net),
        payments_by_status=statuses, created=created, confirmed=confirmed,
        conversion=conversion,
        median_seconds_to_confirm=None if median is None else Decimal(str(round(median, 3))),
    ))


def _totals(amounts: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for currency, amount in amounts:
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    return totals


def _shown(totals: dict[str, Decimal]) -> dict[str, Decimal]:
    # Shown like orders, payments and quotes: "90.00", not the column's "90.00000000".
    return {currency: fiat_shown(total, currency) for currency, total in sorted(totals.items())}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/analytics/summary", summary)


OPERATIONS = [
    Operation("GET", "/v1/analytics/summary", "Revenue net of refunds, refunds, statuses, "
              "conversion and time to confirm", Summary, scope="payments:read", query=SummaryQuery),
]
