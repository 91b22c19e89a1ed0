"""Market prices: each source cached for a TTL, never used beyond the staleness limit, and the
median taken when several sources answer. No fresh price means no quote (PriceUnavailable).

One fetch per (source, asset, currency) is in flight at a time and every concurrent quote
shares it; after a failure the source rests for a short cooldown, so a dead provider costs one
5-second timeout per cooldown instead of one per checkout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from paywatch.core.metrics import PRICE_UPDATED
from paywatch.core.pricing.errors import NotPriced, PriceUnavailable
from paywatch.core.pricing.http import SourceError, Unsupported, to_price_scale
from paywatch.core.pricing.singleflight import SingleFlight
from paywatch.core.pricing.sources import PriceSource

log = logging.getLogger("paywatch.core.pricing")

Clock = Callable[[], datetime]
MAX_COOLDOWN = timedelta(seconds=10)


@dataclass(frozen=True)
class Observation:
    source: str
    price: Decimal
    at: datetime  # how old the price is: our fetch time, or the provider's if older
    fetched_at: datetime  # when we asked: what the cache TTL counts from


@dataclass(frozen=True)
class Failure:
    source: str
    reason: str
    unsupported: str | None = None  # "asset"/"currency" when the source can never answer


@dataclass(frozen=True)
class MarketPrice:
    asset: str
    currency: str
    price: Decimal  # the median, at the 18-decimal scale it is stored with
    at: datetime  # the oldest observation used: how fresh the median is, at worst
    observations: tuple[Observation, ...]

    @property
    def source(self) -> str:
        names = "+".join(o.source for o in self.observations)
        return f"median({names})" if len(self.observations) > 1 else names


def median(prices: list[Decimal]) -> Decimal:
    """The middle price; with an even count the mean of the middle two, exactly."""
    ordered = sorted(prices)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    with localcontext() as ctx:
        ctx.prec = 60  # two NUMERIC(38,18) values add and halve without rounding
        return to_price_scale((ordered[mid - 1] + ordered[mid]) / 2)


class PriceBook:
    def __init__(self, sources: list[PriceSource], ttl: timedelta, max_age: timedelta,
                 clock: Clock, cooldown: timedelta | None = None) -> None:
        self.sources, self.ttl, self.max_age, self.clock = sources, ttl, max_age, clock
        self.cooldown = cooldown if cooldown is not None else min(ttl, MAX_COOLDOWN)
        self._cache: dict[tuple[str, str, str], Observation] = {}
        self._failed_at: dict[tuple[str, str, str], tuple[datetime, str]] = {}
        self._flights: SingleFlight[Observation | Failure] = SingleFlight()

    async def price(self, asset: str, currency: str) -> MarketPrice:
        """The median of every fresh observation; PriceUnavailable when there is none,
        NotPriced when no configured source can price this pair at all."""
        outcomes = await asyncio.gather(*(self._observe(s, asset, currency)
                                          for s in self.sources))
        now = self.clock()
        fresh: list[Observation] = []
        failures: list[Failure] = []
        for outcome in outcomes:
            if isinstance(outcome, Failure):
                failures.append(outcome)
            elif _within(now - outcome.at, self.max_age):
                fresh.append(outcome)
            else:
                failures.append(self._stale(outcome, asset, currency, now))
        if not fresh:
            raise _no_price(asset, currency, failures)
        if failures:
            log.debug("price without some sources", extra={
                "asset": asset, "currency": currency,
                "failed": {f.source: f.reason for f in failures}})
        return MarketPrice(asset, currency, median([o.price for o in fresh]),
                           min(o.at for o in fresh), tuple(fresh))

    async def _observe(self, source: PriceSource, asset: str,
                       currency: str) -> Observation | Failure:
        key = (source.name, asset, currency)
        now = self.clock()
        cached = self._cache.get(key)
        if (cached is not None and timedelta(0) <= now - cached.fetched_at < self.ttl
                and _within(now - cached.at, self.max_age)):
            return cached
        failed = self._failed_at.get(key)
        if failed is not None and now - failed[0] < self.cooldown:
            return cached or Failure(source.name, f"{failed[1]} (retrying shortly)")
        return await self._flights.run(key, lambda: self._refresh(source, asset, currency))

    async def _refresh(self, source: PriceSource, asset: str,
                       currency: str) -> Observation | Failure:
        key = (source.name, asset, currency)
        try:
            reading = await source.fetch(asset, currency)
        except Unsupported as exc:
            return Failure(source.name, str(exc), exc.param)
        except SourceError as exc:
            return self._failed(key, str(exc))
        except Exception as exc:  # a bug or surprise in a source is that source failing
            log.exception("price source crashed", extra={"source": source.name})
            return self._failed(key, f"unexpected {type(exc).__name__}")
        fetched_at = self.clock()
        at = min(fetched_at, reading.reported_at) if reading.reported_at else fetched_at
        observation = Observation(source.name, reading.price, at, fetched_at)
        self._cache[key] = observation
        self._failed_at.pop(key, None)
        PRICE_UPDATED.labels(asset, currency).set(at.timestamp())
        return observation

    def _failed(self, key: tuple[str, str, str], reason: str) -> Observation | Failure:
        log.warning("price source failed", extra={"source": key[0], "asset": key[1],
                                                  "currency": key[2], "error": reason})
        self._failed_at[key] = (self.clock(), reason)
        # the last good price may still be within the staleness limit; price() decides
        return self._cache.get(key) or Failure(key[0], reason)

    def _stale(self, seen: Observation, asset: str, currency: str, now: datetime) -> Failure:
        age, limit = int((now - seen.at).total_seconds()), int(self.max_age.total_seconds())
        reason = f"last price is {age} s old (limit {limit} s)"
        failed = self._failed_at.get((seen.source, asset, currency))
        return Failure(seen.source, f"{reason}; refresh failed: {failed[1]}" if failed else reason)


def _within(age: timedelta, limit: timedelta) -> bool:
    """Fresh enough. A negative age means the clock went back since the price was read: how
    old it really is cannot be known, so it is not fresh (refetch rather than trust it)."""
    return timedelta(0) <= age <= limit


def _no_price(asset: str, currency: str, failures: list[Failure]) -> Exception:
    reasons = "; ".join(f"{f.source}: {f.reason}" for f in failures)
    unsupported = {f.unsupported for f in failures}
    if failures and None not in unsupported:
        # every source said it can never answer: permanent, not an outage to wait out
        param = "currency" if unsupported == {"currency"} else "asset"
        return NotPriced(f"no configured price source prices {asset} in {currency} "
                         f"({reasons})", param=param)
    return PriceUnavailable(f"no fresh {asset}/{currency} price ({reasons})")
