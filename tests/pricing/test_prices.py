"""The price book: median of the fresh sources, cache TTL, staleness limit, failure cooldown,
one fetch shared by concurrent quotes. Time moves only when a test moves the clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal as D

import aiohttp
import pytest

from paywatch.core.pricing.errors import NotPriced, PriceUnavailable
from paywatch.core.pricing.prices import PriceBook, median
from paywatch.core.pricing.sources import CoinGeckoSource, KrakenSource, Reading, StaticSource
from tests.pricing.conftest import Answer, Clock, Providers


def book(session: aiohttp.ClientSession, providers: Providers, clock: Clock,
         static: str | None = "150", ttl: int = 30, max_age: int = 120) -> PriceBook:
    sources = [CoinGeckoSource(session, providers.coingecko_url),
               KrakenSource(session, providers.kraken_url)]
    if static:
        sources.insert(0, StaticSource({"SOL": D(static)}))
    return PriceBook(sources, ttl=timedelta(seconds=ttl), max_age=timedelta(seconds=max_age),
                     clock=clock)


@pytest.mark.parametrize(("prices", "expected"), [
    (["150"], "150"),
    (["152.5", "149.00"], "150.75"),  # two: the mean of both
    (["150", "152.5", "149.00"], "150"),  # three: the middle one
    (["1", "2", "3", "100"], "2.5"),  # four: the mean of the middle two; 100 has no pull
    # the mean of the middle two is exact, then rounded to the 18 stored decimals (half even)
    (["0.000000000000000001", "0.000000000000000002"], "0.000000000000000002"),
])
def test_median(prices: list[str], expected: str) -> None:
    assert median([D(p) for p in prices]) == D(expected)


async def test_median_of_three_sources(providers: Providers, session: aiohttp.ClientSession,
                                       clock: Clock) -> None:
    price = await book(session, providers, clock).price("SOL", "USD")
    assert price.price == D("150")  # median of 150, 152.5, 149.00
    assert price.source == "median(static+coingecko+kraken)"
    assert {o.source: o.price for o in price.observations} == {
        "static": D("150"), "coingecko": D("152.5"), "kraken": D("149.00")}
    assert price.at == clock.now


async def test_median_of_two_is_their_mean(providers: Providers,
                                           session: aiohttp.ClientSession,
                                           clock: Clock) -> None:
    price = await book(session, providers, clock, static=None).price("SOL", "USD")
    assert price.price == D("150.75")
    assert price.source == "median(coingecko+kraken)"


async def test_one_failing_source_of_three_leaves_the_median_of_two(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    providers.fake.answers["kraken"] = Answer({"error": ["EService:Unavailable"]})
    price = await book(session, providers, clock).price("SOL", "USD")
    assert price.price == D("151.25")  # (150 + 152.5) / 2
    assert price.source == "median(static+coingecko)"


async def test_cache_ttl_then_refetch(providers: Providers, session: aiohttp.ClientSession,
                                      clock: Clock) -> None:
    prices = book(session, providers, clock, static=None)
    await prices.price("SOL", "USD")
    assert providers.fake.hits["coingecko"] == providers.fake.hits["kraken"] == 1
    clock.now += timedelta(seconds=29)
    await prices.price("SOL", "USD")
    assert providers.fake.hits["coingecko"] == 1  # within the TTL: from the cache
    providers.fake.answers["coingecko"] = Answer({"solana": {"usd": 160}})
    clock.now += timedelta(seconds=1)
    price = await prices.price("SOL", "USD")
    assert providers.fake.hits["coingecko"] == 2  # TTL over: asked again
    assert price.price == D("154.5")  # (160 + 149) / 2


async def test_a_stale_price_is_never_used(providers: Providers,
                                           session: aiohttp.ClientSession,
                                           clock: Clock) -> None:
    prices = book(session, providers, clock, static=None)
    await prices.price("SOL", "USD")
    broken = Answer(raw="<html>502 Bad Gateway</html>", content_type="text/html")
    providers.fake.answers["coingecko"] = providers.fake.answers["kraken"] = broken
    clock.now += timedelta(seconds=60)  # past the TTL: the refetch fails, cached is 60 s old
    assert (await prices.price("SOL", "USD")).price == D("150.75")
    clock.now += timedelta(seconds=61)  # now 121 s old: beyond the 120 s limit
    with pytest.raises(PriceUnavailable, match="no fresh SOL/USD price") as err:
        await prices.price("SOL", "USD")
    assert "last price is 121 s old (limit 120 s); refresh failed: the answer is not JSON" \
        in str(err.value)


async def test_a_provider_timestamp_older_than_the_fetch_dates_the_price(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    # CoinGecko says its price was last updated 100 s ago: 20 s of freshness are left
    updated = int(clock.now.timestamp()) - 100
    providers.fake.answers["coingecko"] = Answer(
        {"solana": {"usd": 150, "last_updated_at": updated}})
    prices = PriceBook([CoinGeckoSource(session, providers.coingecko_url)],
                       ttl=timedelta(seconds=30), max_age=timedelta(seconds=120), clock=clock)
    price = await prices.price("SOL", "USD")
    assert price.at == clock.now - timedelta(seconds=100)
    clock.now += timedelta(seconds=21)  # within our TTL, but the price is now 121 s old
    with pytest.raises(PriceUnavailable):
        await prices.price("SOL", "USD")
    assert providers.fake.hits["coingecko"] == 2  # a stale cache entry is refetched at once
    # a provider clock ahead of ours never makes a price look fresher than our fetch
    providers.fake.answers["coingecko"] = Answer(
        {"solana": {"usd": 150, "last_updated_at": int(clock.now.timestamp()) + 3600}})
    clock.now += timedelta(seconds=30)
    assert (await prices.price("SOL", "USD")).at == clock.now


async def test_no_source_at_all_is_unavailable(providers: Providers,
                                               session: aiohttp.ClientSession,
                                               clock: Clock) -> None:
    providers.fake.answers["coingecko"] = Answer({"solana": {"usd": 0}})
    providers.fake.answers["kraken"] = Answer({"error": ["EQuery:Unknown asset pair"]})
    with pytest.raises(PriceUnavailable) as err:
        await book(session, providers, clock, static=None).price("SOL", "USD")
    assert "coingecko: CoinGecko SOL/USD: 0 is not a positive number" in str(err.value)
    assert "kraken: Kraken error for SOLUSD: ['EQuery:Unknown asset pair']" in str(err.value)


async def test_a_failed_source_rests_before_it_is_asked_again(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    providers.fake.answers["coingecko"] = Answer(raw="busy", status=503)
    prices = PriceBook([CoinGeckoSource(session, providers.coingecko_url)],
                       ttl=timedelta(seconds=30), max_age=timedelta(seconds=120), clock=clock)
    for _ in range(5):
        with pytest.raises(PriceUnavailable, match="HTTP 503"):
            await prices.price("SOL", "USD")
    assert providers.fake.hits["coingecko"] == 1  # the cooldown (10 s) holds the others back
    providers.fake.answers["coingecko"] = Answer({"solana": {"usd": 151}})
    clock.now += timedelta(seconds=10)
    assert (await prices.price("SOL", "USD")).price == D("151")
    assert providers.fake.hits["coingecko"] == 2


async def test_concurrent_quotes_share_one_fetch(providers: Providers,
                                                 session: aiohttp.ClientSession,
                                                 clock: Clock) -> None:
    providers.fake.answers["coingecko"].delay = 0.05
    prices = book(session, providers, clock, static=None)
    results = await asyncio.gather(*(prices.price("SOL", "USD") for _ in range(50)))
    assert {r.price for r in results} == {D("150.75")}
    assert providers.fake.hits == {"coingecko": 1, "kraken": 1, "cfv": 0}


async def test_a_cancelled_quote_does_not_cancel_the_shared_fetch(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    providers.fake.answers["coingecko"].delay = 0.1
    prices = PriceBook([CoinGeckoSource(session, providers.coingecko_url)],
                       ttl=timedelta(seconds=30), max_age=timedelta(seconds=120), clock=clock)
    first = asyncio.create_task(prices.price("SOL", "USD"))
    second = asyncio.create_task(prices.price("SOL", "USD"))
    await asyncio.sleep(0.02)
    first.cancel()
    assert (await second).price == D("152.5")
    assert providers.fake.hits["coingecko"] == 1


class Exploding:
    name = "exploding"

    async def fetch(self, asset: str, currency: str) -> Reading:
        raise RuntimeError("a bug in a source")


async def test_a_crashing_source_is_a_failing_source(clock: Clock) -> None:
    prices = PriceBook([Exploding(), StaticSource({"SOL": D("150")})],
                       ttl=timedelta(seconds=30), max_age=timedelta(seconds=120), clock=clock)
    price = await prices.price("SOL", "USD")
    assert price.price == D("150")
    assert price.source == "static"


async def test_a_pair_no_source_can_price_is_not_priced(providers: Providers,
                                                        session: aiohttp.ClientSession,
                                                        clock: Clock) -> None:
    static = PriceBook([StaticSource({"SOL": D("150")})], ttl=timedelta(seconds=30),
                       max_age=timedelta(seconds=120), clock=clock)
    with pytest.raises(NotPriced, match="static prices are in USD, not EUR") as err:
        await static.price("SOL", "EUR")
    assert (err.value.code, err.value.param) == ("currency_not_supported", "currency")
    with pytest.raises(NotPriced) as err:
        await static.price("BONK", "USD")
    assert (err.value.code, err.value.param) == ("asset_not_priced", "asset")
    # CoinGecko prices EUR: static's refusal no longer makes it permanent
    providers.fake.answers["coingecko"] = Answer({"solana": {"eur": 139.5}})
    prices = PriceBook([StaticSource({"SOL": D("150")}),
                        CoinGeckoSource(session, providers.coingecko_url)],
                       ttl=timedelta(seconds=30), max_age=timedelta(seconds=120), clock=clock)
    assert (await prices.price("SOL", "EUR")).price == D("139.5")
    # ... and when CoinGecko is down that is a retryable outage, not "not priced"
    providers.fake.answers["coingecko"] = Answer(raw="down", status=500)
    with pytest.raises(PriceUnavailable) as unavailable:
        await prices.price("SOL", "JPY")
    assert not isinstance(unavailable.value, NotPriced)
