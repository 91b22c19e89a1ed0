"""Market prices: each source cached for a TTL, never used beyond the staleness limit, and the
median taken when several sources answer. No fresh price means no quote (PriceUnavailable)."""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from paywatch.pricing.sources import PriceSource, SourceError

log = logging.getLogger("paywatch.pricing")

Clock = Callable[[], datetime]


class PriceUnavailable(Exception):
    """No source has a fresh price: refuse to quote rather than quote from stale data."""


@dataclass(frozen=True)
class Observation:
    source: str
    price: Decimal
    at: datetime


@dataclass(frozen=True)
class MarketPrice:
    asset: str
    currency: str
    price: Decimal
    at: datetime  # the oldest observation used: how fresh the median is, at worst
    observations: tuple[Observation, ...]

    @property
    def source(self) -> str:
        names = "+".join(o.source for o in self.observations)
        return f"median({names})" if len(self.observations) > 1 else names


class PriceBook:
    def __init__(self, sources: list[PriceSource], ttl: timedelta, max_age: timedelta,
                 clock: Clock) -> None:
        self.sources, self.ttl, self.max_age, self.clock = sources, ttl, max_age, clock
        self._cache: dict[tuple[str, str, str], Observation] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def price(self, asset: str, currency: str) -> MarketPrice:
        found = await asyncio.gather(*(self._observe(s, asset, currency) for s in self.sources))
        now = self.clock()
        fresh = [o for o in found if o is not None and now - o.at <= self.max_age]
        if not fresh:
            raise PriceUnavailable(f"no fresh {asset}/{currency} price from "
                                   f"{', '.join(s.name for s in self.sources)}")
        median = statistics.median(o.price for o in fresh)
        return MarketPrice(asset, currency, Decimal(median), min(o.at for o in fresh),
                           tuple(fresh))

    async def _observe(self, source: PriceSource, asset: str,
                       currency: str) -> Observation | None:
        key = (source.name, asset, currency)
        cached = self._cache.get(key)
        if cached is not None and self.clock() - cached.at < self.ttl:
            return cached
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._cache.get(key)  # another request may have refreshed it meanwhile
            if cached is not None and self.clock() - cached.at < self.ttl:
                return cached
            try:
                price = await source.fetch(asset, currency)
            except SourceError as exc:
                log.warning("price source failed", extra={"source": source.name,
                                                          "asset": asset, "error": str(exc)})
                return cached  # maybe still within max_age; price() decides
            observation = Observation(source.name, price, self.clock())
            self._cache[key] = observation
            return observation
