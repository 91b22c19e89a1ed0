"""Quotes: fiat total -> market price -> CFV discount -> crypto amount in base units.
Everything that went into the amount is kept, so any payment can be explained later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from paywatch.money import fiat_to_base_units, format_units, quantize_fiat
from paywatch.pricing.cfv import CfvPolicy, FairValue, FairValueSource, Valuation, valuation
from paywatch.pricing.prices import MarketPrice, PriceBook


class QuoteError(ValueError):
    """The amount cannot be quoted (e.g. it rounds to nothing)."""


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Quote:
    asset: str
    decimals: int
    currency: str
    fiat_amount: Decimal
    market: MarketPrice
    fair: FairValue | None
    valuation: Valuation
    fiat_amount_due: Decimal
    amount_base_units: int
    computed_at: datetime

    @property
    def discount_percent(self) -> Decimal:
        return self.valuation.discount

    def to_json(self) -> dict[str, Any]:
        """The payment's `quote` object: decimal strings, never floats."""
        v, fair = self.valuation, self.fair
        return {
            "asset": self.asset, "decimals": self.decimals, "currency": self.currency,
            "fiat_amount": str(self.fiat_amount), "fiat_amount_due": str(self.fiat_amount_due),
            "amount": str(self.amount_base_units),
            "amount_display": format_units(self.amount_base_units, self.decimals),
            "price": str(self.market.price), "price_source": self.market.source,
            "price_at": _ts(self.market.at),
            "price_observations": [{"source": o.source, "price": str(o.price),
                                    "at": _ts(o.at)} for o in self.market.observations],
            "cfv": {
                "fair_value": str(fair.value) if fair else None,
                "fair_value_source": fair.source if fair else None,
                "fair_value_inputs": fair.inputs if fair else None,
                "valuation_percent": str(v.percent) if v.percent is not None else None,
                "valuation_status": v.status,
                "discount_percent": str(v.discount),
                "reason": v.reason,
            },
            "rounding": "fiat due rounded half up to the currency's minor unit; crypto amount "
                        "rounded up to the next base unit",
            "computed_at": _ts(self.computed_at),
        }


class QuoteService:
    def __init__(self, prices: PriceBook, fair_values: FairValueSource,
                 clock: Callable[[], datetime]) -> None:
        self.prices, self.fair_values, self.clock = prices, fair_values, clock

    async def quote(self, asset: str, decimals: int, fiat_amount: Decimal, currency: str,
                    policy: CfvPolicy) -> Quote:
        market = await self.prices.price(asset, currency)  # raises PriceUnavailable
        fair = await self.fair_values.fair_value(asset, currency)
        val = valuation(market.price, fair, policy, asset)
        due = quantize_fiat(fiat_amount * (100 - val.discount) / 100, currency)
        if due <= 0:
            raise QuoteError(f"{fiat_amount} {currency} is too small to pay in {asset}")
        units = fiat_to_base_units(due, market.price, decimals)
        return Quote(asset, decimals, currency, fiat_amount, market, fair, val, due, units,
                     self.clock())
