"""Price sources against a local server speaking CoinGecko's and Kraken's real formats:
median, cache TTL, staleness, garbage answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from paywatch.pricing.prices import PriceBook, PriceUnavailable
from paywatch.pricing.sources import CoinGeckoSource, KrakenSource, StaticSource


class FakeProviders:
    """Serves the providers' response formats; tests change what it answers."""

    def __init__(self) -> None:
        self.coingecko: object = {"solana": {"usd": 152.5}}
        self.kraken: object = {"error": [], "result": {"SOLUSD": {
            "a": ["149.10", "1", "1.000"], "b": ["148.90", "2", "2.000"],
            "c": ["149.00", "0.5"], "v": ["1000", "2000"]}}}
        self.raw: str | None = None
        self.hits = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/simple/price", self.handle_coingecko)
        app.router.add_get("/0/public/Ticker", self.handle_kraken)
        return app

    async def handle_coingecko(self, request: web.Request) -> web.Response:
        self.hits += 1
        assert request.query["ids"] == "solana"
        assert request.query["vs_currencies"] == "usd"
        return self._answer(self.coingecko)

    async def handle_kraken(self, request: web.Request) -> web.Response:
        self.hits += 1
        assert request.query["pair"] == "SOLUSD"
        return self._answer(self.kraken)

    def _answer(self, body: object) -> web.Response:
        if self.raw is not None:
            return web.Response(text=self.raw, content_type="text/html")
        return web.json_response(body)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def providers() -> AsyncIterator[tuple[FakeProviders, str]]:
    fake = FakeProviders()
    server = TestServer(fake.app())
    await server.start_server()
    yield fake, str(server.make_url(""))
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def book(session: aiohttp.ClientSession, base: str, clock: Clock,
         static: str | None = "150") -> PriceBook:
    sources = [CoinGeckoSource(session, f"{base}/simple/price"),
               KrakenSource(session, f"{base}/0/public/Ticker")]
    if static:
        sources.insert(0, StaticSource({"SOL": D(static)}))
    return PriceBook(sources, ttl=timedelta(seconds=30), max_age=timedelta(seconds=120),
                     clock=clock)


async def test_median_of_three_sources(providers: tuple[FakeProviders, str],
                                       session: aiohttp.ClientSession) -> None:
    _fake, base = providers
    price = await book(session, base, Clock()).price("SOL", "USD")
    assert price.price == D("150")  # median of 150, 152.5, 149.00
    assert price.source == "median(static+coingecko+kraken)"
    assert {o.source: o.price for o in price.observations} == {
        "static": D("150"), "coingecko": D("152.5"), "kraken": D("149.00")}


async def test_median_of_two_is_their_mean(providers: tuple[FakeProviders, str],
                                           session: aiohttp.ClientSession) -> None:
    _fake, base = providers
    price = await book(session, base, Clock(), static=None).price("SOL", "USD")
    assert price.price == D("150.75")


async def test_cache_ttl_and_staleness(providers: tuple[FakeProviders, str],
                                       session: aiohttp.ClientSession) -> None:
    fake, base = providers
    clock = Clock()
    prices = book(session, base, clock, static=None)
    await prices.price("SOL", "USD")
    assert fake.hits == 2
    clock.now += timedelta(seconds=10)
    await prices.price("SOL", "USD")
    assert fake.hits == 2  # within the TTL: served from the cache

    fake.raw = "<html>502 Bad Gateway</html>"
    clock.now += timedelta(seconds=60)  # past the TTL: refetch fails, cached is 70 s old
    stale_ok = await prices.price("SOL", "USD")
    assert stale_ok.price == D("150.75")
    clock.now += timedelta(seconds=60)  # now 130 s old: beyond max age
    with pytest.raises(PriceUnavailable, match="no fresh SOL/USD price"):
        await prices.price("SOL", "USD")


@pytest.mark.parametrize(("coingecko", "kraken"), [
    ({"solana": {"usd": -1}}, {"error": ["EQuery:Unknown asset pair"]}),
    ({"solana": {}}, {"error": [], "result": {}}),
    ({"solana": {"usd": "NaN"}}, {"error": [], "result": {"SOLUSD": {"c": ["abc", "1"]}}}),
    ([1, 2, 3], {"error": [], "result": {"SOLUSD": {"c": []}}}),
    ({"solana": {"usd": 0}}, "not even an object"),
])
async def test_garbage_from_a_source_is_no_price(providers: tuple[FakeProviders, str],
                                                 session: aiohttp.ClientSession,
                                                 coingecko: object, kraken: object) -> None:
    fake, base = providers
    fake.coingecko, fake.kraken = coingecko, kraken
    with pytest.raises(PriceUnavailable):
        await book(session, base, Clock(), static=None).price("SOL", "USD")
    # with a working static source beside them, the quote still comes from fresh data only
    price = await book(session, base, Clock()).price("SOL", "USD")
    assert price.price == D("150")
    assert price.source == "static"


async def test_an_unreachable_source_is_no_price(session: aiohttp.ClientSession) -> None:
    prices = PriceBook([CoinGeckoSource(session, "http://127.0.0.1:9/simple/price")],
                       ttl=timedelta(seconds=30), max_age=timedelta(seconds=120), clock=Clock())
    with pytest.raises(PriceUnavailable):
        await prices.price("SOL", "USD")
