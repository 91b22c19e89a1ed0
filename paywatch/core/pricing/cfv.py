"""CFV ("crypto fair value") policy: the market's valuation of an asset against its fair value,
and the store's discount for paying with an undervalued asset.

valuation percent = (price - fair) / fair x 100; negative means undervalued.

- status: `undervalued` below -threshold, `overvalued` above +threshold, `fair` in between
  (both boundaries inclusive to `fair`). The status is a label for people; it does not gate
  the discount.
- discount: the tiers apply to ANY undervaluation (percent < 0), inside the +-threshold band
  too: cryptons' last tier is "> 0 % undervalued -> 2 %". The first tier whose minimum the
  undervaluation reaches wins (`>=`; a tier of 0 means "> 0"), then the cap applies. No
  undervaluation, CFV switched off, or no fair value: no discount, and the reason says which.
- tiers are decided on the exact percent; the percent shown is truncated toward zero to four
  places, so the shown figure never crosses a tier boundary the exact one did not."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from paywatch.core.money import decimal_str
from paywatch.core.pricing.fair_value import FairValue, FairValueMissing

Status = Literal["undervalued", "fair", "overvalued"]
PERCENT_PLACES = Decimal("0.0001")  # valuation_percent is NUMERIC(12,4)
PERCENT_LIMIT = Decimal("100000000")  # ... so it holds less than 10^8


def _two_places(value: Decimal) -> Decimal:
    # discount_percent is NUMERIC(5,2): a 7.125 % tier would be stored as 7.13 and the quote
    # could no longer be recomputed from the row
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("at most 2 decimal places")
    return value


Percent = Annotated[Decimal, Field(ge=0, le=100), AfterValidator(_two_places)]


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    undervalued_by: Annotated[Decimal, Field(ge=0, le=100)] = Field(
        description="minimum undervaluation in percent (>=); 0 means any undervaluation (> 0)")
    discount: Percent = Field(description="discount in percent, at most 2 decimal places")


DEFAULT_TIERS = (Tier(undervalued_by=Decimal(50), discount=Decimal(10)),
                 Tier(undervalued_by=Decimal(30), discount=Decimal(7)),
                 Tier(undervalued_by=Decimal(15), discount=Decimal(5)),
                 Tier(undervalued_by=Decimal(0), discount=Decimal(2)))


class CfvPolicy(BaseModel):
    """A store's CFV policy; the defaults are the cryptons checkout's."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    threshold_percent: Annotated[Decimal, Field(gt=0, le=1000)] = Decimal(20)
    tiers: Annotated[list[Tier], Field(max_length=20)] = Field(
        default_factory=lambda: list(DEFAULT_TIERS))
    cap_percent: Percent = Decimal(10)

    @model_validator(mode="after")
    def _sorted(self) -> CfvPolicy:
        steps = [t.undervalued_by for t in self.tiers]
        if any(a <= b for a, b in pairwise(steps)):
            raise ValueError("tiers must go from the largest undervaluation to the smallest, "
                             "each once")
        discounts = [t.discount for t in self.tiers]
        if any(a < b for a, b in pairwise(discounts)):
            raise ValueError("a deeper undervaluation must not get a smaller discount")
        return self


@dataclass(frozen=True)
class Valuation:
    percent: Decimal | None  # shown to four places; None without a fair value (or off-scale)
    status: Status | None
    discount: Decimal
    reason: str


def valuation(price: Decimal, fair: FairValue | FairValueMissing | None, policy: CfvPolicy,
              asset: str) -> Valuation:
    if not isinstance(fair, FairValue):
        why = fair.reason if isinstance(fair, FairValueMissing) else f"no fair value for {asset}"
        return Valuation(None, None, Decimal(0), f"{why}: no CFV discount")
    with localcontext() as ctx:
        ctx.prec = 60  # exact for NUMERIC(38,18) inputs: tiers compare the true figure
        exact = (price - fair.value) * 100 / fair.value
    status = _status(exact, policy.threshold_percent)
    shown = exact.quantize(PERCENT_PLACES, rounding=ROUND_DOWN) if abs(exact) < PERCENT_LIMIT \
        else None  # a fair value a million times below the price: true, but unstorable
    if not policy.enabled:
        return Valuation(shown, status, Decimal(0), "CFV discounts are off for this store")
    if exact >= 0:
        return Valuation(shown, status, Decimal(0),
                         f"{asset} is not below its fair value: no CFV discount")
    under = -exact
    shown_under = decimal_str(-shown) if shown is not None else "over 99999999"
    for tier in policy.tiers:
        if under >= tier.undervalued_by:  # a 0 tier takes any undervaluation (under > 0)
            discount = min(tier.discount, policy.cap_percent)
            capped = f", capped at {decimal_str(policy.cap_percent)}%" \
                if discount < tier.discount else ""
            return Valuation(shown, status, discount,
                             f"{asset} is {shown_under}% below its fair value: tier "
                             f"{_tier_name(tier)} gives {decimal_str(tier.discount)}% off"
                             f"{capped}")
    return Valuation(shown, status, Decimal(0),
                     f"{asset} is {shown_under}% below its fair value, short of every tier")


def _status(percent: Decimal, threshold: Decimal) -> Status:
    if percent < -threshold:
        return "undervalued"
    return "overvalued" if percent > threshold else "fair"


def _tier_name(tier: Tier) -> str:
    return "> 0%" if tier.undervalued_by == 0 else f">= {decimal_str(tier.undervalued_by)}%"
