"""Quotes: fiat total -> price -> CFV discount -> base units, each case worked out by hand;
the stored `quote` object; the service built from Settings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest

from api.models.quotes import QuoteOut
from paywatch.core.pricing import (
    CfvPolicy,
    NotPriced,
    PriceUnavailable,
    QuoteError,
    build_quote_service,
)
from paywatch.core.pricing.fair_value import StaticFairValues
from paywatch.core.pricing.prices import PriceBook
from paywatch.core.pricing.quote import QuoteService, discounted
from paywatch.core.pricing.sources import StaticSource
from paywatch.core.settings import Settings
from tests.pricing.conftest import Answer, Clock, Providers

DEFAULT = CfvPolicy()


def service(prices: dict[str, str], fair: dict[str, str], clock: Clock) -> QuoteService:
    book = PriceBook([StaticSource({k: D(v) for k, v in prices.items()})],
                     ttl=timedelta(seconds=30), max_age=timedelta(seconds=120), clock=clock)
    return QuoteService(book, StaticFairValues({k: D(v) for k, v in fair.items()}), clock)


CASES = [
    # (asset, decimals, price, fair, amount, currency, policy, due, units, discount);
    # the fiat due is shown in the currency's minor units ("100.00")
    # 100 / 150 = 0.6666666666.. SOL -> rounded up to 666666667 lamports
    ("SOL", 9, "150", None, "100", "USD", DEFAULT, "100.00", 666666667, "0"),
    # one cent of SOL: 0.01 / 150 x 1e9 = 66666.67 -> 66667
    ("SOL", 9, "150", None, "0.01", "USD", DEFAULT, "0.01", 66667, "0"),
    # one cent of USDC (6 decimals): 0.01 / 1 x 1e6 = 10000 exactly, nothing to round
    ("USDC", 6, "1", None, "0.01", "USD", DEFAULT, "0.01", 10000, "0"),
    # 9 vs 6 decimals for the same 19.99: 19990000 (6) and 19990000000 (9)
    ("USDC", 6, "1", None, "19.99", "USD", DEFAULT, "19.99", 19990000, "0"),
    ("SOL", 9, "1", None, "19.99", "USD", DEFAULT, "19.99", 19990000000, "0"),
    # a price that does not divide: 1 / 0.333333 = 3.000003000003.. tokens
    # = 3000003.000003.. base units -> 3000004
    ("TOK", 6, "0.333333", None, "1", "USD", DEFAULT, "1.00", 3000004, "0"),
    # discount at the cap: -90 % -> 10 % off: 50 -> 45.00; 45 / 150 = 0.3 SOL exactly
    ("SOL", 9, "150", "1500", "50", "USD", DEFAULT, "45.00", 300000000, "10"),
    # cap 5 below the tier's 10: 50 x 0.95 = 47.50; 47.5 / 150 = 0.316666666.. -> ..667
    ("SOL", 9, "150", "1500", "50", "USD", CfvPolicy(cap_percent=D(5)), "47.50", 316666667,
     "5"),
    # policy off: no discount though SOL is 90 % under
    ("SOL", 9, "150", "1500", "50", "USD", CfvPolicy(enabled=False), "50.00", 333333334, "0"),
    # overvalued (150 vs 100, +50 %): no discount; 10 / 150 = 0.0666.. -> 66666667
    ("SOL", 9, "150", "100", "10", "USD", DEFAULT, "10.00", 66666667, "0"),
    # each tier at its boundary, on 100 USD at 150 per SOL:
    # -50 % (fair 300) -> 10 %: 90.00 / 150 = 0.6 SOL
    ("SOL", 9, "150", "300", "100", "USD", DEFAULT, "90.00", 600000000, "10"),
    # -30 % (fair 150 / 0.7 is not exact; use price 70, fair 100) -> 7 %: 93.00 / 70 =
    # 1.328571428571.. -> 1328571429
    ("SOL", 9, "70", "100", "100", "USD", DEFAULT, "93.00", 1328571429, "7"),
    # -15 % (price 85, fair 100) -> 5 %: 95.00 / 85 = 1.117647058823.. -> 1117647059
    ("SOL", 9, "85", "100", "100", "USD", DEFAULT, "95.00", 1117647059, "5"),
    # -1 % (price 99, fair 100) -> 2 %: 98.00 / 99 = 0.989898989898.. -> 989898990
    ("SOL", 9, "99", "100", "100", "USD", DEFAULT, "98.00", 989898990, "2"),
    # 2 % off 33.33 = 32.6634 -> 32.66 (half up); 32.66 / 150 = 0.21773333.. -> 217733334
    ("SOL", 9, "150", "151", "33.33", "USD", DEFAULT, "32.66", 217733334, "2"),
    # half up at exactly half a cent: (1 - 1.01) / 1.01 = -0.99 % -> 2 % off 0.25 = 0.245
    # -> 0.25
    ("USDC", 6, "1", "1.01", "0.25", "USD", DEFAULT, "0.25", 250000, "2"),
    # tiny: 2 % off one cent = 0.0098 -> 0.01; 0.01 / 150 -> 66667
    ("SOL", 9, "150", "151", "0.01", "USD", DEFAULT, "0.01", 66667, "2"),
    # more decimals than the currency has: 10.005 USD with no discount is due as asked,
    # never rounded up to 10.01 (the due amount must not exceed the amount)
    ("USDC", 6, "1", None, "10.005", "USD", DEFAULT, "10.005", 10005000, "0"),
    # ... and with 2 % off: 10.005 x 0.98 = 9.8049 -> 9.80
    ("USDC", 6, "1", "1.01", "10.005", "USD", DEFAULT, "9.80", 9800000, "2"),
]


@pytest.mark.parametrize(
    ("asset", "decimals", "price", "fair", "amount", "currency", "policy", "due", "units",
     "discount"), CASES)
async def test_quote_rounding(asset: str, decimals: int, price: str, fair: str | None,
                              amount: str, currency: str, policy: CfvPolicy, due: str,
                              units: int, discount: str, clock: Clock) -> None:
    svc = service({asset: price}, {asset: fair} if fair else {}, clock)
    quote = await svc.quote(asset, decimals, D(amount), currency, policy)
    assert str(quote.fiat_amount_due) == due
    assert quote.amount_base_units == units
    assert quote.discount_percent == D(discount)
    out = quote.to_json()
    assert out["amount"] == str(units)
    assert out["price"] == price
    assert out["fiat_amount_due"] == due
    # the crypto amount is exactly fiat due / price, rounded up to the next base unit
    exact = D(due) / D(price) * 10**decimals
    assert units - 1 < exact <= units


def walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in walk(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in walk(v)]
    return [value]


async def test_the_quote_object_explains_the_amount(clock: Clock) -> None:
    quote = await service({"SOL": "150"}, {"SOL": "250"}, clock).quote(
        "sol", 9, D("100"), "usd", DEFAULT)
    out = quote.to_json()
    QuoteOut.model_validate(out)  # the API's response model takes it as it is
    assert out == {
        "asset": "SOL", "decimals": 9, "currency": "USD", "fiat_amount": "100.00",
        "fiat_amount_due": "93.00", "amount": "620000000", "amount_display": "0.62",
        "price": "150", "price_source": "static", "price_at": "2026-11-22T12:00:00Z",
        "price_observations": [{"source": "static", "price": "150",
                                "at": "2026-11-22T12:00:00Z"}],
        "cfv": {"fair_value": "250", "fair_value_source": "static", "fair_value_inputs": {},
                "valuation_percent": "-40.0000", "valuation_status": "undervalued",
                "discount_percent": "7",
                "reason": "SOL is 40.0000% below its fair value: tier >= 30% gives 7% off"},
        "rounding": out["rounding"], "computed_at": "2026-11-22T12:00:00Z",
    }
    assert not any(isinstance(leaf, float) for leaf in walk(out))
    assert quote.amount_display == "0.62"
    assert quote.discount_reason == out["cfv"]["reason"]


async def test_no_exponent_ever_reaches_json(clock: Clock) -> None:
    # a price of 2e-8 USD per token, and 1E+2 as the amount
    quote = await service({"TINY": "0.00000002"}, {}, clock).quote(
        "TINY", 6, D("1E+2"), "USD", DEFAULT)
    out = quote.to_json()
    assert out["price"] == "0.00000002"
    assert out["fiat_amount"] == "100.00"  # the currency's minor units, as orders show it
    assert out["amount"] == "5000000000000000"  # 100 / 2e-8 = 5e9 tokens x 1e6
    assert not any("E" in leaf for leaf in walk(out) if isinstance(leaf, str)
                   and leaf[:1].isdigit())


async def test_no_fair_value_means_no_discount_and_says_why(clock: Clock) -> None:
    quote = await service({"SOL": "150"}, {}, clock).quote("SOL", 9, D("10"), "USD", DEFAULT)
    assert quote.fair is None
    assert quote.discount_percent == 0
    assert quote.to_json()["cfv"] == {
        "fair_value": None, "fair_value_source": None, "fair_value_inputs": None,
        "valuation_percent": None, "valuation_status": None, "discount_percent": "0",
        "reason": "no fair value for SOL in the static table: no CFV discount"}


async def test_what_cannot_be_quoted(clock: Clock) -> None:
    svc = service({"SOL": "150"}, {}, clock)
    with pytest.raises(QuoteError, match="too small") as err:
        await svc.quote("SOL", 9, D("0.004"), "USD", DEFAULT)  # rounds to 0.00 USD
    assert (err.value.code, err.value.param) == ("amount_too_small", "amount")
    with pytest.raises(QuoteError) as err:
        await svc.quote("SOL", 9, D("1"), "XYZ", DEFAULT)
    assert (err.value.code, err.value.param) == ("currency_invalid", "currency")
    with pytest.raises(QuoteError):
        await svc.quote("SOL", 9, D("-1"), "USD", DEFAULT)
    with pytest.raises(QuoteError):
        await svc.quote("SOL", 99, D("1"), "USD", DEFAULT)
    with pytest.raises(NotPriced, match="static prices are in USD, not EUR") as not_priced:
        await svc.quote("SOL", 9, D("1"), "EUR", DEFAULT)
    assert not_priced.value.param == "currency"


async def test_no_quote_on_a_stale_price(providers: Providers, session: aiohttp.ClientSession,
                                         clock: Clock) -> None:
    settings = Settings(price_sources="coingecko", coingecko_url=providers.coingecko_url,
                        cfv_source="none")
    svc = build_quote_service(settings, session, clock=clock)
    assert (await svc.quote("SOL", 9, D("152.5"), "USD", DEFAULT)).amount_base_units == 10**9
    providers.fake.answers["coingecko"] = Answer(raw="gone", status=500)
    clock.now += timedelta(seconds=121)
    with pytest.raises(PriceUnavailable):
        await svc.quote("SOL", 9, D("10"), "USD", DEFAULT)


async def test_built_from_settings_with_every_source(providers: Providers,
                                                     session: aiohttp.ClientSession,
                                                     clock: Clock) -> None:
    settings = Settings(price_sources="static,coingecko,kraken,static",
                        coingecko_url=providers.coingecko_url, kraken_url=providers.kraken_url,
                        static_prices='{"SOL": "151"}', cfv_source="formula",
                        cfv_formula_metrics='{"SOL": {"community": 1024, "annual_tx_value": '
                                            '1024, "annual_tx_count": 1024, "developers": '
                                            '1024, "circulating_supply": 4}}')
    quote = await build_quote_service(settings, session, clock=clock).quote(
        "SOL", 9, D("100"), "USD", DEFAULT)
    # median of 151, 152.5, 149.00 = 151; fair = 1024 / 4 = 256: (151 - 256) / 256 =
    # -41.015625 % -> 7 % off: 93.00 / 151 = 0.615894039735.. -> 615894040 lamports
    assert quote.price == D("151")
    assert quote.market.source == "median(static+coingecko+kraken)"
    assert quote.fair is not None
    assert quote.fair.value == D("256")
    assert quote.valuation.percent == D("-41.0156")
    assert (quote.fiat_amount_due, quote.amount_base_units) == (D("93.00"), 615894040)
    assert quote.to_json()["cfv"]["fair_value_inputs"] == {
        "community": "1024", "annual_tx_value": "1024", "annual_tx_count": "1024",
        "developers": "1024", "circulating_supply": "4"}


async def test_a_dead_cfv_service_still_quotes_without_a_discount(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    providers.fake.answers["cfv"] = Answer(raw="down", status=502)
    settings = Settings(cfv_source="http", cfv_url=providers.cfv_url)
    quote = await build_quote_service(settings, session, clock=clock).quote(
        "SOL", 9, D("150"), "USD", DEFAULT)
    assert (quote.discount_percent, quote.amount_base_units) == (D(0), 10**9)
    assert quote.discount_reason == "CFV service failed for SOL: HTTP 502: no CFV discount"


async def test_cfv_http_without_a_url_says_so(session: aiohttp.ClientSession,
                                              clock: Clock) -> None:
    svc = build_quote_service(Settings(cfv_source="http"), session, clock=clock)
    quote = await svc.quote("SOL", 9, D("1"), "USD", DEFAULT)
    assert quote.discount_reason == ("PAYWATCH_CFV_SOURCE is http but PAYWATCH_CFV_URL is "
                                     "not set: no CFV discount")


@pytest.mark.parametrize(("amount", "discount", "currency", "due"), [
    ("12.345", "0", "USD", "12.345"),  # never above the amount asked
    ("12.345", "2", "USD", "12.10"),  # 12.0981 -> 12.10
    ("1000", "7", "JPY", "930"),  # no minor units
    ("999", "2", "JPY", "979"),  # 979.02 -> 979
    ("1.2345", "2", "KWD", "1.210"),  # three minor units: 1.20981 -> 1.210
    ("0.01", "10", "USD", "0.01"),  # 0.009 -> 0.01 (half up)
    ("0.01", "60", "USD", "0.00"),  # 0.004 -> 0.00: the service refuses such a quote
])
def test_discounted_fiat(amount: str, discount: str, currency: str, due: str) -> None:
    assert str(discounted(D(amount), D(discount), currency)) == due
