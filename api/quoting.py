"""Quotes for the API: the store's CFV policy applied, errors turned into API answers, and the
quote's figures laid out as the payment row's columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from api.errors import ApiError
from api.keys import QUOTES
from paywatch.core.pricing import CfvPolicy, NotPriced, PriceUnavailable, Quote, QuoteError


@dataclass(frozen=True)
class QuoteInput:
    asset: Mapping[str, Any]  # a store_assets row's asset, mint, decimals
    amount: Decimal
    currency: str
    store: asyncpg.Record


@dataclass(frozen=True)
class PricedQuote:
    quote: Quote

    @property
    def amount_base_units(self) -> int:
        return self.quote.amount_base_units

    @property
    def fiat_amount_due(self) -> Decimal:
        return self.quote.fiat_amount_due

    def columns(self) -> dict[str, Any]:
        q, fair, val = self.quote, self.quote.fair, self.quote.valuation
        return {
            "currency": q.currency, "fiat_amount": q.fiat_amount,
            "fiat_amount_due": q.fiat_amount_due, "price": q.market.price,
            "price_source": q.market.source, "price_at": q.market.at,
            "fair_value": fair.value if fair else None,
            "fair_value_source": fair.source if fair else None,
            "valuation_percent": val.percent, "valuation_status": val.status,
            "discount_percent": val.discount, "quote": q.to_json(),
        }


def store_policy(store: asyncpg.Record) -> CfvPolicy:
    try:
        return CfvPolicy.model_validate(store["cfv_policy"])
    except ValidationError:
        # A policy that no longer validates must not turn into a made-up discount.
        return CfvPolicy(enabled=False)


async def quote_for(app: web.Application, inp: QuoteInput) -> PricedQuote:
    try:
        quote = await app[QUOTES].quote(inp.asset["asset"], inp.asset["decimals"], inp.amount,
                                        inp.currency, store_policy(inp.store))
    except NotPriced as exc:
        # Configuration, not an outage: retrying will not help until the operator adds a source.
        raise ApiError(503, "price_not_configured", f"{exc}; the operator must configure a "
                       "price source for it", type_="service_unavailable") from None
    except PriceUnavailable as exc:
        raise ApiError(503, "price_unavailable", f"{exc}; no quote is given on stale prices",
                       type_="service_unavailable", headers={"Retry-After": "30"}) from None
    except QuoteError as exc:
        raise ApiError(422, exc.code, str(exc), param=exc.param) from None
    return PricedQuote(quote)
