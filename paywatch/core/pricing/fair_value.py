"""Fair values ("crypto fair value", CFV) per asset: from a static table, from the 70/10/10/10
network-power formula, or from an HTTP CFV service.

Every source fails closed: when it cannot give a fair value it says why (FairValueMissing), and
the quote then carries no discount. Nothing here ever falls back to a made-up number.

The HTTP CFV service format (ours; any service can implement it):

    GET {PAYWATCH_CFV_URL}?asset=SOL&currency=USD
    200 {"asset": "SOL", "currency": "USD", "fair_value": "123.45",
         "as_of": "2026-11-22T12:00:00Z", "inputs": {"model": "70/10/10/10"}}

`fair_value` (a decimal string or JSON number > 0) is required; `asset` and `currency`, when
present, must echo the request; `as_of` (RFC 3339) and `inputs` (flat object) are optional and
kept with the quote. Any other status or shape is the service failing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Any, Protocol

import aiohttp

from paywatch.core.money import decimal_str
from paywatch.core.pricing.http import (
    HTTP_TIMEOUT,
    PRICE_LIMIT,
    PRICE_SCALE,
    SourceError,
    get_json,
    positive_decimal,
)
from paywatch.core.pricing.singleflight import SingleFlight

log = logging.getLogger("paywatch.core.pricing.cfv")

FORMULA_METRICS = ("community", "annual_tx_value", "annual_tx_count", "developers",
                   "circulating_supply")
FORMULA_NAME = "formula:70/10/10/10"


@dataclass(frozen=True)
class FairValue:
    value: Decimal  # fiat per whole unit of the asset, at most 18 decimals (as stored)
    source: str
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FairValueMissing:
    reason: str


class FairValueSource(Protocol):
    name: str

    async def fair_value(self, asset: str, currency: str) -> FairValue | FairValueMissing: ...


class NoFairValues:
    """CFV switched off (PAYWATCH_CFV_SOURCE=none) or misconfigured: never a fair value."""

    name = "none"

    def __init__(self, reason: str = "CFV is off (PAYWATCH_CFV_SOURCE=none)") -> None:
        self.reason = reason

    async def fair_value(self, asset: str, currency: str) -> FairValue | FairValueMissing:
        return FairValueMissing(self.reason)


class StaticFairValues:
    """PAYWATCH_STATIC_FAIR_VALUES: asset -> fair value in USD."""

    name = "static"

    def __init__(self, table: dict[str, Decimal]) -> None:
        self.table = table

    async def fair_value(self, asset: str, currency: str) -> FairValue | FairValueMissing:
        if asset not in self.table:
            return FairValueMissing(f"no fair value for {asset} in the static table")
        if currency != "USD":
            return FairValueMissing(f"static fair values are in USD, not {currency}")
        return _checked(self.table[asset], "static", {}, asset)


def network_power_fair_value(metrics: dict[str, Any]) -> Decimal:
    """community^0.7 x tx_value^0.1 x tx_count^0.1 x developers^0.1 / circulating_supply,
    each input floored at 1. Computed as exp(sum of weighted ln) at 40 significant digits,
    enough for every digit of a NUMERIC(38,18) result. A metric that is missing, negative or
    not a number is a ValueError: a forgotten circulating_supply floored to 1 would make the
    asset look wildly undervalued and hand out the biggest discount."""
    floored = {name: max(Decimal(1), _metric(metrics, name)) for name in FORMULA_METRICS}
    with localcontext() as ctx:
        ctx.prec = 40
        log_value = (Decimal("0.7") * floored["community"].ln()
                     + Decimal("0.1") * floored["annual_tx_value"].ln()
                     + Decimal("0.1") * floored["annual_tx_count"].ln()
                     + Decimal("0.1") * floored["developers"].ln()
                     - floored["circulating_supply"].ln())
        return log_value.exp()


def _metric(metrics: dict[str, Any], name: str) -> Decimal:
    if name not in metrics:
        raise ValueError(f"metric {name} is missing")
    raw = metrics[name]
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"metric {name}={raw!r} is not a number") from None
    if isinstance(raw, bool | float) or not value.is_finite() or value < 0:
        raise ValueError(f"metric {name}={raw!r} is not a non-negative decimal")
    return value


class FormulaFairValues:
    """PAYWATCH_CFV_FORMULA_METRICS: asset -> the five metrics; the result is in USD."""

    name = "formula"

    def __init__(self, metrics: dict[str, dict[str, Decimal]]) -> None:
        self.metrics = metrics

    async def fair_value(self, asset: str, currency: str) -> FairValue | FairValueMissing:
        metrics = self.metrics.get(asset)
        if not metrics:
            return FairValueMissing(f"no formula metrics for {asset}")
        if currency != "USD":
            return FairValueMissing(f"formula fair values are in USD, not {currency}")
        try:
            value = network_power_fair_value(metrics)
        except ValueError as exc:
            return FairValueMissing(f"formula metrics for {asset}: {exc}")
        inputs = {name: _plain(metrics[name]) for name in FORMULA_METRICS}
        return _checked(value, FORMULA_NAME, inputs, asset)


class HttpFairValues:
    """The CFV service described above; answers cached five minutes, failures for a short
    cooldown (a dead service must not add a 5-second timeout to every checkout)."""

    name = "http"

    def __init__(self, session: aiohttp.ClientSession, url: str, clock: Callable[[], datetime],
                 ttl: timedelta = timedelta(minutes=5),
                 cooldown: timedelta = timedelta(seconds=30),
                 timeout: aiohttp.ClientTimeout = HTTP_TIMEOUT) -> None:
        self.session, self.url, self.clock, self.timeout = session, url, clock, timeout
        self.ttl, self.cooldown = ttl, cooldown
        self._cache: dict[tuple[str, str], tuple[datetime, FairValue | FairValueMissing]] = {}
        self._flights: SingleFlight[FairValue | FairValueMissing] = SingleFlight()

    async def fair_value(self, asset: str, currency: str) -> FairValue | FairValueMissing:
        key = (asset, currency)
        hit = self._cache.get(key)
        if hit is not None:
            keep = self.ttl if isinstance(hit[1], FairValue) else self.cooldown
            if self.clock() - hit[0] < keep:
                return hit[1]
        return await self._flights.run(key, lambda: self._fetch(asset, currency))

    async def _fetch(self, asset: str, currency: str) -> FairValue | FairValueMissing:
        try:
            data = await get_json(self.session, self.url, {"asset": asset, "currency": currency},
                                  self.timeout)
            found = _read_answer(data, asset, currency)
        except SourceError as exc:
            log.warning("cfv service failed", extra={"asset": asset, "error": str(exc)})
            found = FairValueMissing(f"CFV service failed for {asset}: {exc}")
        except Exception as exc:  # never let a surprise here break a quote: fail closed
            log.exception("cfv service answer crashed the reader", extra={"asset": asset})
            found = FairValueMissing(f"CFV service failed for {asset}: {type(exc).__name__}")
        self._cache[(asset, currency)] = (self.clock(), found)
        return found


def _read_answer(data: Any, asset: str, currency: str) -> FairValue | FairValueMissing:
    if not isinstance(data, dict):
        raise SourceError("the answer is not a JSON object")
    for name, expected in (("asset", asset), ("currency", currency)):
        said = data.get(name, expected)
        if not isinstance(said, str) or said.upper() != expected:
            raise SourceError(f"asked for {name} {expected}, the answer is for {said!r}")
    value = positive_decimal(data.get("fair_value"), f"CFV {asset}")
    inputs = {}
    if isinstance(data.get("inputs"), dict):
        inputs = {str(k)[:64]: _plain(v)[:256] for k, v in list(data["inputs"].items())[:20]
                  if isinstance(v, str | int | Decimal) and not isinstance(v, bool)}
    if data.get("as_of") is not None:
        inputs["as_of"] = _rfc3339(data["as_of"])
    return _checked(value, "http", inputs, asset)


def _rfc3339(value: Any) -> str:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise SourceError(f"as_of {value!r} is not an RFC 3339 timestamp")
    return value


def _checked(value: Decimal, source: str, inputs: dict[str, str],
             asset: str) -> FairValue | FairValueMissing:
    """Round to the stored 18 decimals; refuse what NUMERIC(38,18) cannot hold as positive."""
    if not value.is_finite() or value <= 0 or value >= PRICE_LIMIT:
        return FairValueMissing(f"{source} fair value for {asset} is out of range")
    with localcontext() as ctx:
        ctx.prec = 60
        stored = value.quantize(PRICE_SCALE, rounding=ROUND_HALF_EVEN).normalize()
    if stored <= 0:
        return FairValueMissing(f"{source} fair value for {asset} is below 1e-18")
    return FairValue(stored, source, inputs)


def _plain(value: Any) -> str:
    return decimal_str(value) if isinstance(value, Decimal) else str(value)
