"""Pricing: market prices (cached, fresh, median) and CFV discounts, turned into quotes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp

from paywatch.pricing.cfv import (
    CfvPolicy,
    FairValueSource,
    FormulaFairValues,
    HttpFairValues,
    NoFairValue,
    StaticFairValues,
)
from paywatch.pricing.prices import PriceBook, PriceUnavailable
from paywatch.pricing.quote import Quote, QuoteError, QuoteService
from paywatch.pricing.sources import CoinGeckoSource, KrakenSource, PriceSource, StaticSource
from paywatch.settings import Settings

__all__ = ["CfvPolicy", "PriceUnavailable", "Quote", "QuoteError", "QuoteService",
           "build_quote_service"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_quote_service(settings: Settings, session: aiohttp.ClientSession,
                        clock: Callable[[], datetime] = utc_now) -> QuoteService:
    sources: list[PriceSource] = []
    for name in settings.price_sources:
        if name == "static":
            sources.append(StaticSource(settings.static_prices))
        elif name == "coingecko":
            sources.append(CoinGeckoSource(session, settings.coingecko_url))
        elif name == "kraken":
            sources.append(KrakenSource(session, settings.kraken_url))
    book = PriceBook(sources, timedelta(seconds=settings.price_cache_ttl_seconds),
                     timedelta(seconds=settings.price_max_age_seconds), clock)
    return QuoteService(book, _fair_values(settings, session, clock), clock)


def _fair_values(settings: Settings, session: aiohttp.ClientSession,
                 clock: Callable[[], datetime]) -> FairValueSource:
    if settings.cfv_source == "static":
        return StaticFairValues(settings.static_fair_values)
    if settings.cfv_source == "formula":
        return FormulaFairValues(settings.cfv_formula_metrics)
    if settings.cfv_source == "http" and settings.cfv_url:
        return HttpFairValues(session, settings.cfv_url, clock)
    return NoFairValue()
