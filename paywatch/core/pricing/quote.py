"""Quotes: fiat total -> market price -> CFV discount -> crypto amount in base units.
Everything that went into the amount is kept, so any payment can be explained later.

The arithmetic, in order (RULES below is stored with every quote):
1. fiat due = fiat amount x (100 - discount) / 100, rounded half up to the currency's minor
   unit, and never above the fiat amount (an amount given with more decimals than the
   currency has, such as 10.005 USD, is never rounded up past what the merchant asked);
2. crypto due = fiat due / price, rounded UP to the next base unit (money.fiat_to_base_units).
The crypto amount is computed from the rounded fiat due, so `fiat_amount_due / price` shown
on the quote is exactly what was converted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

from paywatch.core.money import (
    MAX_BASE_UNITS,
    check_decimals,
    decimal_str,
    fiat_shown,
    fiat_to_base_units,
    format_units,
    is_currency,
    quantize_fiat,
)
from paywatch.core.pricing.cfv import CfvPolicy, Status, Valuation, valuation
from paywatch.core.pricing.errors import QuoteError
from paywatch.core.pricing.fair_value import FairValue, FairValueSource
from paywatch.core.pricing.prices import MarketPrice, PriceBook

RULES = ("fiat due rounded half up to the currency's minor unit, never above the fiat amount; "
         "crypto amount = fiat due / price rounded up to the next base unit")


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Quote:
    asset: str
    decimals: int
    currency: str
    fiat_amount: Decimal  # what the merchant asked, before any discount
    market: MarketPrice  # the price used, its sources and each source's price and time
    fair: FairValue | None  # None: no fair value; valuation.reason says why
    valuation: Valuation  # percent, status, discount percent and its reason
    fiat_amount_due: Decimal  # after the discount, in the currency's minor units
    amount_base_units: int  # what the customer must send
    computed_at: datetime

    @property
    def price(self) -> Decimal:
        return self.market.price

    @property
    def price_at(self) -> datetime:
        return self.market.at

    @property
    def discount_percent(self) -> Decimal:
        return self.valuation.discount

    @property
    def discount_reason(self) -> str:
        return self.valuation.reason

    @property
    def valuation_status(self) -> Status | None:
        return self.valuation.status

    @property
    def amount_display(self) -> str:
        return format_units(self.amount_base_units, self.decimals)

    def to_json(self) -> dict[str, Any]:
        """The payment's `quote` object (api.models.quotes.QuoteOut): decimal strings, never
        floats or exponents; timestamps RFC 3339 UTC."""
        v, fair = self.valuation, self.fair
        return {
            "asset": self.asset, "decimals": self.decimals, "currency": self.currency,
            "fiat_amount": decimal_str(fiat_shown(self.fiat_amount, self.currency)),
            "fiat_amount_due": decimal_str(fiat_shown(self.fiat_amount_due, self.currency)),
            "amount": str(self.amount_base_units), "amount_display": self.amount_display,
            "price": decimal_str(self.market.price), "price_source": self.market.source,
            "price_at": rfc3339(self.market.at),
            "price_observations": [{"source": o.source, "price": decimal_str(o.price),
                                    "at": rfc3339(o.at)} for o in self.market.observations],
            "cfv": {
                "fair_value": decimal_str(fair.value) if fair else None,
                "fair_value_source": fair.source if fair else None,
                "fair_value_inputs": dict(fair.inputs) if fair else None,
                "valuation_percent": decimal_str(v.percent) if v.percent is not None else None,
                "valuation_status": v.status,
                "discount_percent": decimal_str(v.discount),
                "reason": v.reason,
            },
            "rounding": RULES,
            "computed_at": rfc3339(self.computed_at),
        }


def discounted(fiat_amount: Decimal, discount: Decimal, currency: str) -> Decimal:
    """Step 1 of the module docstring."""
    with localcontext() as ctx:
        ctx.prec = 60  # exact for any NUMERIC(20,8) amount and NUMERIC(5,2) discount
        due = quantize_fiat(fiat_amount * (100 - discount) / 100, currency)
    return min(due, fiat_amount)


class QuoteService:
    def __init__(self, prices: PriceBook, fair_values: FairValueSource,
                 clock: Callable[[], datetime]) -> None:
        self.prices, self.fair_values, self.clock = prices, fair_values, clock

    async def quote(self, asset: str, decimals: int, fiat_amount: Decimal, currency: str,
                    policy: CfvPolicy) -> Quote:
        """Raises PriceUnavailable (no fresh price: 503; its subclass NotPriced when no source
        can ever price the pair) and QuoteError (a request that cannot be quoted: 422)."""
        asset, currency = asset.upper(), currency.upper()
        _check_request(decimals, fiat_amount, currency)
        # the fair value does not depend on the price: look both up at once
        fair_task = asyncio.ensure_future(self.fair_values.fair_value(asset, currency))
        try:
            market = await self.prices.price(asset, currency)
        except BaseException:
            fair_task.cancel()
            raise
        fair = await fair_task
        val = valuation(market.price, fair, policy, asset)
        due = discounted(fiat_amount, val.discount, currency)
        if due <= 0:
            raise QuoteError(f"{decimal_str(fiat_amount)} {currency} is too small to pay "
                             f"in {asset}")
        units = fiat_to_base_units(due, market.price, decimals)
        if units > MAX_BASE_UNITS:
            raise QuoteError(f"{decimal_str(fiat_amount)} {currency} is too large to pay "
                             f"in {asset}", code="amount_too_large")
        return Quote(asset, decimals, currency, fiat_amount, market,
                     fair if isinstance(fair, FairValue) else None, val, due, units,
                     self.clock())


def _check_request(decimals: int, fiat_amount: Decimal, currency: str) -> None:
    try:
        check_decimals(decimals)
    except (TypeError, ValueError) as exc:
        raise QuoteError(str(exc), code="asset_invalid", param="asset") from None
    if not is_currency(currency):
        raise QuoteError(f"{currency!r} is not an ISO 4217 currency code",
                         code="currency_invalid", param="currency")
    if not isinstance(fiat_amount, Decimal) or not fiat_amount.is_finite() or fiat_amount <= 0:
        raise QuoteError("the amount must be a positive decimal number",
                         code="parameter_invalid")

