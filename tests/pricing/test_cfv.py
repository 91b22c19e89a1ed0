"""CFV and rounding, case by case, each worked out by hand in its comment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from paywatch.pricing.cfv import (
    CfvPolicy,
    FairValue,
    StaticFairValues,
    Tier,
    network_power_fair_value,
    valuation,
)
from paywatch.pricing.prices import PriceBook
from paywatch.pricing.quote import QuoteError, QuoteService
from paywatch.pricing.sources import StaticSource

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DEFAULT = CfvPolicy()


@pytest.mark.parametrize(("price", "fair", "policy", "percent", "status", "discount"), [
    # (150 - 250) / 250 = -40 %: undervalued; 40 >= 30 -> 7 %
    ("150", "250", DEFAULT, "-40.0000", "undervalued", "7"),
    # -50 % exactly: the top tier's boundary is inclusive -> 10 %
    ("100", "200", DEFAULT, "-50.0000", "undervalued", "10"),
    # -90 %: top tier 10 %, which is also the default cap
    ("10", "100", DEFAULT, "-90.0000", "undervalued", "10"),
    # -30 % exactly -> 7 %
    ("70", "100", DEFAULT, "-30.0000", "undervalued", "7"),
    # -15 %: inside the +-20 % band, so "fair", but still undervalued -> 5 %
    ("85", "100", DEFAULT, "-15.0000", "fair", "5"),
    # -1 %: any undervaluation (> 0) -> 2 %
    ("99", "100", DEFAULT, "-1.0000", "fair", "2"),
    # exactly fair: no discount
    ("100", "100", DEFAULT, "0.0000", "fair", "0"),
    # +30 %: overvalued, never a discount
    ("130", "100", DEFAULT, "30.0000", "overvalued", "0"),
    # -60 % with the cap at 5: tier says 10, the cap says 5
    ("40", "100", CfvPolicy(cap_percent=D(5)), "-60.0000", "undervalued", "5"),
    # policy off: valuation still reported, discount 0
    ("60", "100", CfvPolicy(enabled=False), "-40.0000", "undervalued", "0"),
    # threshold 10: -15 % is now "undervalued"
    ("85", "100", CfvPolicy(threshold_percent=D(10)), "-15.0000", "undervalued", "5"),
])
def test_valuation_and_discount(price: str, fair: str, policy: CfvPolicy, percent: str,
                                status: str, discount: str) -> None:
    v = valuation(D(price), FairValue(D(fair), "static"), policy, "SOL")
    assert str(v.percent) == percent
    assert v.status == status
    assert v.discount == D(discount)


def test_no_fair_value_fails_closed() -> None:
    v = valuation(D("150"), None, DEFAULT, "SOL")
    assert v.percent is None
    assert v.status is None
    assert v.discount == 0
    assert v.reason == "no fair value for SOL: no CFV discount"


def test_tiers_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="largest undervaluation"):
        CfvPolicy(tiers=[Tier(undervalued_by=D(10), discount=D(1)),
                         Tier(undervalued_by=D(30), discount=D(5))])


def test_formula_fair_value() -> None:
    # 1e6^0.7 * 1e9^0.1 * 1e6^0.1 * 100^0.1 / 1e6 = 10^(4.2 + 0.9 + 0.6 + 0.2 - 6) = 10^-0.1
    metrics = {"community": D("1e6"), "annual_tx_value": D("1e9"),
               "annual_tx_count": D("1e6"), "developers": D(100),
               "circulating_supply": D("1e6")}
    assert network_power_fair_value(metrics).quantize(D("1e-12")) == D("0.794328234724")
    # every input below 1 is floored at 1: 1 * 1 * 1 * 1 / 1
    floored = {k: D("0.5") for k in metrics}
    assert network_power_fair_value(floored) == 1
    assert network_power_fair_value({}) == 1


def service(prices: dict[str, str], fair: dict[str, str]) -> QuoteService:
    book = PriceBook([StaticSource({k: D(v) for k, v in prices.items()})],
                     ttl=timedelta(seconds=30),
                     max_age=timedelta(seconds=120), clock=lambda: NOW)
    return QuoteService(book, StaticFairValues({k: D(v) for k, v in fair.items()}),
                        clock=lambda: NOW)


@pytest.mark.parametrize(("asset", "decimals", "price", "fair", "amount", "due", "units"), [
    # 100 / 150 = 0.666666666.. SOL -> rounded up to 666666667 lamports
    ("SOL", 9, "150", None, "100", "100.00", 666666667),
    # one cent of SOL: 0.01 / 150 * 1e9 = 66666.67 -> 66667
    ("SOL", 9, "150", None, "0.01", "0.01", 66667),
    # one cent of USDC (6 decimals): 0.01 / 1 * 1e6 = 10000 exactly
    ("USDC", 6, "1", None, "0.01", "0.01", 10000),
    # 9 vs 6 decimals for the same fiat: 19.99 at 1 -> 19990000 (6) / 19990000000 (9)
    ("USDC", 6, "1", None, "19.99", "19.99", 19990000),
    ("SOL", 9, "1", None, "19.99", "19.99", 19990000000),
    # at the cap: -90 % -> 10 % off: 50 -> 45.00; 45 / 150 = 0.3 SOL
    ("SOL", 9, "150", "1500", "50", "45.00", 300000000),
    # 2 % off 33.33 = 32.6634 -> 32.66 (half up); 32.66 / 150 = 0.217733333.. -> ...334
    ("SOL", 9, "150", "151", "33.33", "32.66", 217733334),
    # overvalued: no discount
    ("SOL", 9, "150", "100", "10", "10.00", 66666667),
])
async def test_quote_rounding(asset: str, decimals: int, price: str, fair: str | None,
                              amount: str, due: str, units: int) -> None:
    svc = service({asset: price}, {asset: fair} if fair else {})
    quote = await svc.quote(asset, decimals, D(amount), "USD", DEFAULT)
    assert quote.fiat_amount_due == D(due)
    assert quote.amount_base_units == units
    as_json = quote.to_json()
    assert as_json["amount"] == str(units)
    assert as_json["price"] == price
    assert not any(isinstance(v, float) for v in as_json.values())


async def test_an_amount_that_rounds_to_nothing_is_refused() -> None:
    with pytest.raises(QuoteError, match="too small"):
        await service({"SOL": "150"}, {}).quote("SOL", 9, D("0.004"), "USD", DEFAULT)
