"""Price sources read CoinGecko's and Kraken's real response formats; any garbage is that source
failing (SourceError), never a crash and never a price."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import aiohttp
import pytest

from paywatch.core.money import decimal_str
from paywatch.core.pricing.http import SourceError, Unsupported, positive_decimal
from paywatch.core.pricing.sources import CoinGeckoSource, KrakenSource, StaticSource
from tests.pricing.conftest import Answer, Providers, kraken_ticker


async def test_coingecko_asks_like_the_real_api_and_keeps_every_digit(
        providers: Providers, session: aiohttp.ClientSession) -> None:
    # a float would turn 150.123456789012345678 into 150.12345678901235
    providers.fake.answers["coingecko"] = Answer(
        raw='{"solana": {"usd": 150.123456789012345678, "last_updated_at": 1763812700}}')
    reading = await CoinGeckoSource(session, providers.coingecko_url).fetch("SOL", "USD")
    assert reading.price == D("150.123456789012345678")
    assert reading.reported_at == datetime.fromtimestamp(1763812700, UTC)
    assert providers.fake.queries["coingecko"] == [{
        "ids": "solana", "vs_currencies": "usd", "include_last_updated_at": "true",
        "precision": "full"}]


async def test_coingecko_exponent_numbers_are_exact_decimals(
        providers: Providers, session: aiohttp.ClientSession) -> None:
    # CoinGecko writes small prices with an exponent: 1.2345e-05 USD per BONK
    providers.fake.answers["coingecko"] = Answer(raw='{"bonk": {"eur": 1.2345e-05}}')
    reading = await CoinGeckoSource(session, providers.coingecko_url).fetch("BONK", "EUR")
    assert reading.price == D("0.000012345")
    assert reading.reported_at is None


async def test_kraken_result_key_differs_from_the_pair_asked(
        providers: Providers, session: aiohttp.ClientSession) -> None:
    providers.fake.answers["kraken"] = Answer(kraken_ticker("XETHZUSD", "3012.34000"))
    reading = await KrakenSource(session, providers.kraken_url).fetch("ETH", "USD")
    assert reading.price == D("3012.34000")
    assert providers.fake.queries["kraken"] == [{"pair": "ETHUSD"}]


async def test_kraken_names_bitcoin_xbt(providers: Providers,
                                        session: aiohttp.ClientSession) -> None:
    providers.fake.answers["kraken"] = Answer(kraken_ticker("XXBTZEUR", "91000.1"))
    assert (await KrakenSource(session, providers.kraken_url).fetch("BTC", "EUR")).price == \
        D("91000.1")
    assert providers.fake.queries["kraken"] == [{"pair": "XBTEUR"}]


GARBAGE_COINGECKO = [
    Answer(raw="<html><body>502 Bad Gateway</body></html>", content_type="text/html"),
    Answer({"status": {"error_code": 429, "error_message": "rate limited"}}, status=429),
    Answer({"solana": {"usd": -1}}),
    Answer({"solana": {"usd": 0}}),
    Answer({"solana": {"usd": "abc"}}),
    Answer({"solana": {"usd": "1e2"}}),
    Answer({"solana": {"usd": True}}),
    Answer({"solana": {"usd": None}}),
    Answer({"solana": {"usd": 1e25}}),
    Answer({"solana": {}}),
    Answer({"solana": 150}),
    Answer({}),
    Answer([1, 2, 3]),
    Answer(raw='{"solana": {"usd": NaN}}'),
    Answer(raw='{"solana": {"usd": Infinity}}'),
    Answer(raw='{"solana": {"usd": 150, "last_updated_at": "yesterday"}}'),
    Answer(raw="[" * 100_000 + "]" * 100_000),
    Answer(raw=" " * (2 << 20)),
    Answer(raw='{"solana": {"usd": 150'),
]


@pytest.mark.parametrize("answer", GARBAGE_COINGECKO)
async def test_coingecko_garbage_is_a_failure(providers: Providers,
                                              session: aiohttp.ClientSession,
                                              answer: Answer) -> None:
    providers.fake.answers["coingecko"] = answer
    with pytest.raises(SourceError):
        await CoinGeckoSource(session, providers.coingecko_url).fetch("SOL", "USD")


GARBAGE_KRAKEN = [
    Answer({"error": ["EQuery:Unknown asset pair"]}),
    # an error list wins even when a result came along
    Answer({**kraken_ticker("SOLUSD", "150"), "error": ["EGeneral:Temporary lockout"]}),
    Answer({"error": [], "result": {}}),
    Answer({"error": [], "result": {**kraken_ticker("SOLUSD", "1")["result"],
                                    **kraken_ticker("XSOLZUSD", "2")["result"]}}),
    Answer({"error": [], "result": {"SOLUSD": {"c": []}}}),
    Answer({"error": [], "result": {"SOLUSD": {"c": "150"}}}),
    Answer({"error": [], "result": {"SOLUSD": {"a": ["150", "1", "1"]}}}),
    Answer(kraken_ticker("SOLUSD", "1_50")),
    Answer(kraken_ticker("SOLUSD", " 150")),
    Answer(kraken_ticker("SOLUSD", "-150")),
    Answer(kraken_ticker("SOLUSD", "0.000")),
    Answer(kraken_ticker("SOLUSD", "١٥٠")),  # Arabic-Indic digits: Decimal would take them
    Answer({"result": {"SOLUSD": {"c": ["150", "1"]}}}),  # no error list at all
    Answer("not even an object"),
    Answer(raw="", status=200),
    Answer(raw="Service Unavailable", status=503, content_type="text/plain"),
]


@pytest.mark.parametrize("answer", GARBAGE_KRAKEN)
async def test_kraken_garbage_is_a_failure(providers: Providers, session: aiohttp.ClientSession,
                                           answer: Answer) -> None:
    providers.fake.answers["kraken"] = answer
    with pytest.raises(SourceError):
        await KrakenSource(session, providers.kraken_url).fetch("SOL", "USD")


async def test_a_slow_provider_times_out(providers: Providers,
                                         session: aiohttp.ClientSession) -> None:
    providers.fake.answers["coingecko"] = Answer({"solana": {"usd": 150}}, delay=2)
    source = CoinGeckoSource(session, providers.coingecko_url,
                             timeout=aiohttp.ClientTimeout(total=0.2))
    with pytest.raises(SourceError, match="Timeout"):
        await source.fetch("SOL", "USD")


async def test_an_unreachable_provider_is_a_failure(session: aiohttp.ClientSession) -> None:
    with pytest.raises(SourceError):
        await KrakenSource(session, "http://127.0.0.1:9/0/public/Ticker").fetch("SOL", "USD")


async def test_failures_never_quote_the_url(providers: Providers,
                                            session: aiohttp.ClientSession) -> None:
    # operators put API keys in query strings; error messages end up in API answers and logs
    providers.fake.answers["coingecko"] = Answer(raw="nope", status=401)
    url = providers.coingecko_url + "?x_cg_demo_api_key=secret123"
    with pytest.raises(SourceError) as err:
        await CoinGeckoSource(session, url).fetch("SOL", "USD")
    assert "secret123" not in str(err.value)


async def test_pairs_a_source_can_never_price_are_unsupported(
        providers: Providers, session: aiohttp.ClientSession) -> None:
    static = StaticSource({"SOL": D(150)})
    with pytest.raises(Unsupported) as err:
        await static.fetch("SOL", "EUR")
    assert err.value.param == "currency"
    with pytest.raises(Unsupported) as err:
        await static.fetch("BONK", "USD")
    assert err.value.param == "asset"
    with pytest.raises(Unsupported):
        await CoinGeckoSource(session, providers.coingecko_url).fetch("NOPE", "USD")
    with pytest.raises(Unsupported):
        await CoinGeckoSource(session, providers.coingecko_url).fetch("SOL", "XOF")
    with pytest.raises(Unsupported):
        await KrakenSource(session, providers.kraken_url).fetch("SOL", "BRL")
    assert providers.fake.hits == {"coingecko": 0, "kraken": 0, "cfv": 0}  # nothing asked


@pytest.mark.parametrize(("raw", "price"), [
    (D("150.12"), "150.12"), (150, "150"), ("150.12", "150.12"),
    # more than the 18 decimals NUMERIC(38,18) keeps: rounded half even
    (D("0.0000000000000000015"), "0.000000000000000002"),
    ("99999999999999999999.5", "99999999999999999999.5"),  # 20 integer digits still fit
    ("99999999999999999999.9999999999999999999", None),  # rounds up to 1e20: does not fit
    (D("0.0000000000000000004"), None),  # rounds to zero
    (D("1E+20"), None), (1.5, None),
])
def test_positive_decimal(raw: object, price: str | None) -> None:
    if price is None:
        with pytest.raises(SourceError):
            positive_decimal(raw, "x")
    else:
        assert positive_decimal(raw, "x") == D(price)
        assert decimal_str(positive_decimal(raw, "x")) == price

