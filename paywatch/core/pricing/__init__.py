"""Pricing: market prices (cached, fresh, median) and CFV discounts, turned into quotes.

`build_quote_service(settings, session)` is the only place concrete sources are chosen."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from paywatch.core.pricing.cfv import DEFAULT_TIERS, CfvPolicy, Tier, Valuation, valuation
from paywatch.core.pricing.errors import NotPriced, PriceUnavailable, PricingError, QuoteError
from paywatch.core.pricing.fair_value import (
    FairValue,
    FairValueMissing,
    FairValueSource,
    FormulaFairValues,
    HttpFairValues,
    NoFairValues,
    StaticFairValues,
    network_power_fair_value,
)
from paywatch.core.pricing.prices import MarketPrice, Observation, PriceBook
from paywatch.core.pricing.quote import Quote, QuoteService
from paywatch.core.pricing.sources import CoinGeckoSource, KrakenSource, PriceSource, StaticSource
from paywatch.core.settings import Settings

__all__ = [
    "DEFAULT_TIERS", "CfvPolicy", "FairValue", "FairValueMissing", "MarketPrice", "NotPriced",
    "Observation", "PriceBook", "PriceUnavailable", "PricingError", "Quote", "QuoteError",
    "QuoteService", "Tier", "Valuation", "build_quote_service", "network_power_fair_value",
    "utc_now", "valuation",
]

log = logging.getLogger("paywatch.core.pricing")


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_quote_service(settings: Settings, session: aiohttp.ClientSession,
                        clock: Callable[[], datetime] = utc_now) -> QuoteService:
    """Price sources in the order configured (duplicates once), a cache with the configured
    TTL and staleness limit, and the configured fair-value source."""
    sources: list[PriceSource] = []
    for name in dict.fromkeys(settings.price_sources):
        if name == "static":
            sources.append(StaticSource(settings.static_prices))
        elif name == "coingecko":
            sources.append(CoinGeckoSource(session, settings.coingecko_url))
        elif name == "kraken":
            sources.append(KrakenSource(session, settings.kraken_url))
    book = PriceBook(sources, timedelta(seconds=settings.price_cache_ttl_seconds),
                     timedelta(seconds=settings.price_max_age_seconds), clock)
    return QuoteService(book, fair_values_from(settings, session, clock), clock)


def fair_values_from(settings: Settings, session: aiohttp.ClientSession,
                     clock: Callable[[], datetime] = utc_now) -> FairValueSource:
    if settings.cfv_source == "static":
        return StaticFairValues(settings.static_fair_values)
    if settings.cfv_source == "formula":
        return FormulaFairValues(settings.cfv_formula_metrics)
    if settings.cfv_source == "http":
        if settings.cfv_url:
            return HttpFairValues(session, settings.cfv_url, clock)
        log.warning("PAYWATCH_CFV_SOURCE=http without PAYWATCH_CFV_URL: no CFV discounts")
        return NoFairValues("PAYWATCH_CFV_SOURCE is http but PAYWATCH_CFV_URL is not set")
    return NoFairValues()
