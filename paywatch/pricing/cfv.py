"""CFV ("crypto fair value"): a fair value per asset, the market's valuation against it, and
the store's discount for buying with an undervalued asset.

Fair value comes from a static table, from the 70/10/10/10 network-power formula, or from an
HTTP CFV service. It fails closed: no fair value, no discount, and the quote says why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Annotated, Any, Literal, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from paywatch.pricing.sources import SourceError, get_json, positive_decimal

log = logging.getLogger("paywatch.pricing.cfv")

FORMULA_METRICS = ("community", "annual_tx_value", "annual_tx_count", "developers",
                   "circulating_supply")
FOUR_PLACES = Decimal("0.0001")


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    undervalued_by: Annotated[Decimal, Field(ge=0, le=100)] = Field(
        description="minimum undervaluation in percent; 0 means any undervaluation (> 0)")
    discount: Annotated[Decimal, Field(ge=0, le=100)]


DEFAULT_TIERS = [Tier(undervalued_by=Decimal(50), discount=Decimal(10)),
                 Tier(undervalued_by=Decimal(30), discount=Decimal(7)),
                 Tier(undervalued_by=Decimal(15), discount=Decimal(5)),
                 Tier(undervalued_by=Decimal(0), discount=Decimal(2))]


class CfvPolicy(BaseModel):
    """A store's CFV policy; defaults are the cryptons checkout's."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    threshold_percent: Annotated[Decimal, Field(gt=0, le=1000)] = Decimal(20)
    tiers: Annotated[list[Tier], Field(max_length=20)] = Field(
        default_factory=lambda: list(DEFAULT_TIERS))
    cap_percent: Annotated[Decimal, Field(ge=0, le=100)] = Decimal(10)

    @model_validator(mode="after")
    def _sorted(self) -> CfvPolicy:
        steps = [t.undervalued_by for t in self.tiers]
        if steps != sorted(steps, reverse=True) or len(set(steps)) != len(steps):
            raise ValueError("tiers must go from the largest undervaluation to the smallest, "
                             "each once")
        return self


@dataclass(frozen=True)
class FairValue:
    value: Decimal
    source: str
    inputs: dict[str, str] = field(default_factory=dict)


class FairValueSource(Protocol):
    name: str

    async def fair_value(self, asset: str, currency: str) -> FairValue | None: ...


class NoFairValue:
    name = "none"

    async def fair_value(self, asset: str, currency: str) -> FairValue | None:
        return None


class StaticFairValues:
    name = "static"

    def __init__(self, table: dict[str, Decimal]) -> None:
        self.table = table

    async def fair_value(self, asset: str, currency: str) -> FairValue | None:
        if currency != "USD" or asset not in self.table:
            return None
        return FairValue(self.table[asset], "static")


def network_power_fair_value(metrics: dict[str, Decimal]) -> Decimal:
    """community^0.7 x tx_value^0.1 x tx_count^0.1 x developers^0.1 / supply; inputs >= 1."""
    m = {k: max(Decimal(1), Decimal(metrics.get(k, 0))) for k in FORMULA_METRICS}
    with localcontext() as ctx:
        ctx.prec = 40
        power = (m["community"] ** Decimal("0.7") * m["annual_tx_value"] ** Decimal("0.1")
                 * m["annual_tx_count"] ** Decimal("0.1") * m["developers"] ** Decimal("0.1"))
        value = power / m["circulating_supply"]
    return value.quantize(Decimal("1e-18")) if value >= Decimal("1e-18") else Decimal("1e-18")


class FormulaFairValues:
    name = "formula"

    def __init__(self, metrics: dict[str, dict[str, Decimal]]) -> None:
        self.metrics = metrics

    async def fair_value(self, asset: str, currency: str) -> FairValue | None:
        inputs = self.metrics.get(asset)
        if currency != "USD" or not inputs:
            return None
        shown = {k: str(inputs.get(k, "0")) for k in FORMULA_METRICS}
        return FairValue(network_power_fair_value(inputs), "formula:70/10/10/10", shown)


class HttpFairValues:
    """GET {url}?asset=SOL&currency=USD -> {"fair_value": "123.45", ...}; cached 5 minutes."""

    name = "http"
    CACHE = timedelta(minutes=5)

    def __init__(self, session: aiohttp.ClientSession, url: str, clock: Any) -> None:
        self.session, self.url, self.clock = session, url, clock
        self._cache: dict[tuple[str, str], tuple[datetime, FairValue | None]] = {}

    async def fair_value(self, asset: str, currency: str) -> FairValue | None:
        hit = self._cache.get((asset, currency))
        if hit is not None and self.clock() - hit[0] < self.CACHE:
            return hit[1]
        try:
            data = await get_json(self.session, self.url, {"asset": asset, "currency": currency})
            if not isinstance(data, dict):
                raise SourceError("CFV service answer is not an object")
            value = positive_decimal(data.get("fair_value"), f"CFV {asset}")
        except SourceError as exc:
            log.warning("cfv service failed", extra={"asset": asset, "error": str(exc)})
            return None  # fail closed, and do not cache a failure for five minutes
        found = FairValue(value, f"http:{self.url}")
        self._cache[(asset, currency)] = (self.clock(), found)
        return found


@dataclass(frozen=True)
class Valuation:
    percent: Decimal | None
    status: Literal["undervalued", "fair", "overvalued"] | None
    discount: Decimal
    reason: str


def valuation(price: Decimal, fair: FairValue | None, policy: CfvPolicy,
              asset: str) -> Valuation:
    if fair is None:
        return Valuation(None, None, Decimal(0), f"no fair value for {asset}: no CFV discount")
    percent = ((price - fair.value) / fair.value * 100).quantize(FOUR_PLACES)
    status: Literal["undervalued", "fair", "overvalued"] = (
        "undervalued" if percent < -policy.threshold_percent
        else "overvalued" if percent > policy.threshold_percent else "fair")
    if not policy.enabled:
        return Valuation(percent, status, Decimal(0), "CFV discounts are off for this store")
    under = -percent
    if under <= 0:
        return Valuation(percent, status, Decimal(0), f"{asset} is not undervalued")
    for tier in policy.tiers:
        if under >= tier.undervalued_by:  # a 0 tier takes any undervaluation (under > 0)
            discount = min(tier.discount, policy.cap_percent)
            capped = " (capped)" if discount < tier.discount else ""
            return Valuation(percent, status, discount,
                             f"{asset} is {under}% below its fair value: "
                             f"tier >= {tier.undervalued_by}% gives {discount}% off{capped}")
    return Valuation(percent, status, Decimal(0), f"{asset} undervaluation below every tier")
