"""CFV: valuation, status, discount tiers and the store policy, case by case, each worked out
by hand in its comment; fair values from the static table, the formula and the HTTP service."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from paywatch.core.pricing.cfv import CfvPolicy, Tier, valuation
from paywatch.core.pricing.fair_value import (
    FairValue,
    FairValueMissing,
    FormulaFairValues,
    HttpFairValues,
    NoFairValues,
    StaticFairValues,
    network_power_fair_value,
)
from tests.pricing.conftest import Answer, Clock, Providers

DEFAULT = CfvPolicy()


@pytest.mark.parametrize(("price", "fair", "policy", "percent", "status", "discount"), [
    # (150 - 250) / 250 x 100 = -40 %: undervalued (below -20); 40 >= 30 -> 7 %
    ("150", "250", DEFAULT, "-40.0000", "undervalued", "7"),
    # exactly -50 %: the top tier's boundary is inclusive -> 10 %
    ("100", "200", DEFAULT, "-50.0000", "undervalued", "10"),
    # -49.99 %: just short of the top tier -> 7 %
    ("50.01", "100", DEFAULT, "-49.9900", "undervalued", "7"),
    # -90 %: top tier 10 %, also the default cap
    ("10", "100", DEFAULT, "-90.0000", "undervalued", "10"),
    # exactly -30 % -> 7 %; -29.99 % -> 5 %
    ("70", "100", DEFAULT, "-30.0000", "undervalued", "7"),
    ("70.01", "100", DEFAULT, "-29.9900", "undervalued", "5"),
    # exactly -20 %: the status boundary belongs to "fair"; 20 >= 15 -> 5 %
    ("80", "100", DEFAULT, "-20.0000", "fair", "5"),
    # -20.01 %: now "undervalued"
    ("79.99", "100", DEFAULT, "-20.0100", "undervalued", "5"),
    # exactly -15 %: inside the +-20 % band, so "fair", but the tiers take any undervaluation
    ("85", "100", DEFAULT, "-15.0000", "fair", "5"),
    # -14.99999 %: the tier is decided on the exact figure (2 %), and the shown percent is
    # truncated toward zero so it does not claim -15.0000
    ("85.00001", "100", DEFAULT, "-14.9999", "fair", "2"),
    # -1 %, and the smallest undervaluation there is: > 0 -> 2 %
    ("99", "100", DEFAULT, "-1.0000", "fair", "2"),
    ("99.999999", "100", DEFAULT, "-0.0000", "fair", "2"),
    # exactly fair: no discount
    ("100", "100", DEFAULT, "0.0000", "fair", "0"),
    # +20 % is still "fair"; +30 % is overvalued; never a discount either way
    ("120", "100", DEFAULT, "20.0000", "fair", "0"),
    ("130", "100", DEFAULT, "30.0000", "overvalued", "0"),
    # -60 % with the cap at 5: the tier says 10, the cap says 5
    ("40", "100", CfvPolicy(cap_percent=D(5)), "-60.0000", "undervalued", "5"),
    # a cap of 0 is another way to switch discounts off
    ("40", "100", CfvPolicy(cap_percent=D(0)), "-60.0000", "undervalued", "0"),
    # policy off: the valuation is still reported, the discount is 0
    ("60", "100", CfvPolicy(enabled=False), "-40.0000", "undervalued", "0"),
    # threshold 10: -15 % is now "undervalued"
    ("85", "100", CfvPolicy(threshold_percent=D(10)), "-15.0000", "undervalued", "5"),
    # no tier at 0: a 10 % undervaluation gets nothing
    ("90", "100", CfvPolicy(tiers=[Tier(undervalued_by=D(15), discount=D(5))]),
     "-10.0000", "fair", "0"),
    # percent to four places: (150 - 151) / 151 x 100 = -0.66225165...
    ("150", "151", DEFAULT, "-0.6622", "fair", "2"),
])
def test_valuation_and_discount(price: str, fair: str, policy: CfvPolicy, percent: str,
                                status: str, discount: str) -> None:
    v = valuation(D(price), FairValue(D(fair), "static"), policy, "SOL")
    assert str(v.percent) == percent
    assert v.status == status
    assert v.discount == D(discount)


def test_reasons_say_what_happened() -> None:
    fair = FairValue(D("100"), "static")
    assert valuation(D("40"), fair, CfvPolicy(cap_percent=D(5)), "SOL").reason == (
        "SOL is 60.0000% below its fair value: tier >= 50% gives 10% off, capped at 5%")
    assert valuation(D("99"), fair, DEFAULT, "SOL").reason == (
        "SOL is 1.0000% below its fair value: tier > 0% gives 2% off")
    assert valuation(D("130"), fair, DEFAULT, "SOL").reason == (
        "SOL is not below its fair value: no CFV discount")
    assert valuation(D("60"), fair, CfvPolicy(enabled=False), "SOL").reason == (
        "CFV discounts are off for this store")


def test_no_fair_value_fails_closed() -> None:
    missing = FairValueMissing("no fair value for SOL in the static table")
    v = valuation(D("150"), missing, DEFAULT, "SOL")
    assert (v.percent, v.status, v.discount) == (None, None, D(0))
    assert v.reason == "no fair value for SOL in the static table: no CFV discount"


def test_a_valuation_too_large_to_store_is_reported_without_a_percent() -> None:
    # 150 against 1e-12 is +1.5e16 %, more than NUMERIC(12,4) holds: overvalued, no figure
    v = valuation(D("150"), FairValue(D("0.000000000001"), "formula"), DEFAULT, "SOL")
    assert (v.percent, v.status, v.discount) == (None, "overvalued", D(0))


def test_default_policy_is_cryptons() -> None:
    policy = CfvPolicy.model_validate({"enabled": True})  # the stores table's default
    assert policy.model_dump(mode="json") == {
        "enabled": True, "threshold_percent": "20", "cap_percent": "10",
        "tiers": [{"undervalued_by": "50", "discount": "10"},
                  {"undervalued_by": "30", "discount": "7"},
                  {"undervalued_by": "15", "discount": "5"},
                  {"undervalued_by": "0", "discount": "2"}]}
    assert CfvPolicy.model_validate(policy.model_dump(mode="json")) == policy


@pytest.mark.parametrize(("body", "problem"), [
    ({"tiers": [{"undervalued_by": 10, "discount": 1}, {"undervalued_by": 30, "discount": 5}]},
     "largest undervaluation"),
    ({"tiers": [{"undervalued_by": 30, "discount": 5}, {"undervalued_by": 30, "discount": 2}]},
     "each once"),
    ({"tiers": [{"undervalued_by": 50, "discount": 2}, {"undervalued_by": 30, "discount": 7}]},
     "smaller discount"),
    ({"tiers": [{"undervalued_by": 50, "discount": 101}]}, "less than or equal to 100"),
    ({"tiers": [{"undervalued_by": 50, "discount": -1}]}, "greater than or equal to 0"),
    ({"tiers": [{"undervalued_by": 150, "discount": 5}]}, "less than or equal to 100"),
    ({"tiers": [{"undervalued_by": 50, "discount": "7.125"}]}, "2 decimal places"),
    ({"cap_percent": 120}, "less than or equal to 100"),
    ({"cap_percent": "0.001"}, "2 decimal places"),
    ({"threshold_percent": 0}, "greater than 0"),
    ({"tiers": [{"undervalued_by": 50, "discount": 5, "extra": 1}]}, "Extra inputs"),
    ({"surprise": True}, "Extra inputs"),
])
def test_bad_policies_are_refused(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        CfvPolicy.model_validate(body)


METRICS = {"community": D("1e6"), "annual_tx_value": D("1e9"), "annual_tx_count": D("1e6"),
           "developers": D(100), "circulating_supply": D("1e6")}


@pytest.mark.parametrize(("metrics", "fair"), [
    # 1e6^0.7 x 1e9^0.1 x 1e6^0.1 x 100^0.1 / 1e6 = 10^(4.2 + 0.9 + 0.6 + 0.2 - 6) = 10^-0.1
    (METRICS, "0.794328234724281502"),
    # 1024^0.7 x 1024^0.1 x 1024^0.1 x 1024^0.1 / 1 = 1024^1 = 1024
    ({"community": 1024, "annual_tx_value": 1024, "annual_tx_count": 1024,
      "developers": 1024, "circulating_supply": 1}, "1024"),
    # every input below 1 is floored at 1: 1 x 1 x 1 x 1 / 1
    ({k: D("0.5") for k in METRICS}, "1"),
    # zeros floor to 1 too: 1e10^0.7 / 1e6 = 1e7 / 1e6 = 10
    ({"community": D("1e10"), "annual_tx_value": 0, "annual_tx_count": 0, "developers": 0,
      "circulating_supply": D("1e6")}, "10"),
    # 1 / 4 = 0.25, with a supply below 1 elsewhere floored: 1 / 1 = 1
    ({"community": 0, "annual_tx_value": 0, "annual_tx_count": 0, "developers": 0,
      "circulating_supply": 4}, "0.25"),
])
async def test_formula_fair_value(metrics: dict[str, Any], fair: str) -> None:
    found = await FormulaFairValues({"SOL": metrics}).fair_value("SOL", "USD")
    assert isinstance(found, FairValue)
    assert found.value == D(fair)
    assert found.source == "formula:70/10/10/10"
    assert set(found.inputs) == set(METRICS)
    assert network_power_fair_value(metrics).quantize(D("1e-18")) == D(fair)


@pytest.mark.parametrize(("metrics", "reason"), [
    # a forgotten supply floored to 1 would make SOL look hugely undervalued: refuse instead
    ({k: v for k, v in METRICS.items() if k != "circulating_supply"},
     "formula metrics for SOL: metric circulating_supply is missing"),
    ({**METRICS, "developers": D(-3)}, "formula metrics for SOL: metric developers=Decimal"),
    ({**METRICS, "community": D("NaN")}, "is not a non-negative decimal"),
    ({**METRICS, "community": "lots"}, "is not a number"),
    # 1 / 1e20 = 1e-20: below what NUMERIC(38,18) can hold as a positive value
    ({"community": 1, "annual_tx_value": 1, "annual_tx_count": 1, "developers": 1,
      "circulating_supply": D("1e20")}, "formula:70/10/10/10 fair value for SOL is below 1e-18"),
])
async def test_formula_fails_closed(metrics: dict[str, Any], reason: str) -> None:
    found = await FormulaFairValues({"SOL": metrics}).fair_value("SOL", "USD")
    assert isinstance(found, FairValueMissing)
    assert reason in found.reason


async def test_formula_and_static_are_usd_and_say_what_is_missing() -> None:
    assert await FormulaFairValues({}).fair_value("SOL", "USD") == \
        FairValueMissing("no formula metrics for SOL")
    assert await FormulaFairValues({"SOL": METRICS}).fair_value("SOL", "EUR") == \
        FairValueMissing("formula fair values are in USD, not EUR")
    static = StaticFairValues({"SOL": D("180.50")})
    assert await static.fair_value("SOL", "USD") == FairValue(D("180.5"), "static", {})
    assert await static.fair_value("BONK", "USD") == \
        FairValueMissing("no fair value for BONK in the static table")
    assert await static.fair_value("SOL", "EUR") == \
        FairValueMissing("static fair values are in USD, not EUR")
    assert await NoFairValues().fair_value("SOL", "USD") == \
        FairValueMissing("CFV is off (PAYWATCH_CFV_SOURCE=none)")


def cfv_service(session: aiohttp.ClientSession, providers: Providers,
                clock: Clock) -> HttpFairValues:
    return HttpFairValues(session, providers.cfv_url, clock,
                          timeout=aiohttp.ClientTimeout(total=0.5))


async def test_http_cfv_service(providers: Providers, session: aiohttp.ClientSession,
                                clock: Clock) -> None:
    providers.fake.answers["cfv"] = Answer({
        "asset": "SOL", "currency": "USD", "fair_value": "212.5", "as_of": "2026-11-22T00:00:00Z",
        "inputs": {"model": "70/10/10/10", "community": 2500000, "flag": True}})
    service = cfv_service(session, providers, clock)
    found = await service.fair_value("SOL", "USD")
    assert found == FairValue(D("212.5"), "http", {
        "model": "70/10/10/10", "community": "2500000", "as_of": "2026-11-22T00:00:00Z"})
    assert providers.fake.queries["cfv"] == [{"asset": "SOL", "currency": "USD"}]
    clock.now += timedelta(minutes=4, seconds=59)
    await service.fair_value("SOL", "USD")
    assert providers.fake.hits["cfv"] == 1  # cached for five minutes
    clock.now += timedelta(seconds=1)
    await service.fair_value("SOL", "USD")
    assert providers.fake.hits["cfv"] == 2


@pytest.mark.parametrize("answer", [
    Answer(raw="<html>oops</html>", content_type="text/html"),
    Answer({"error": "unknown asset"}, status=404),
    Answer({"asset": "ETH", "fair_value": "3000"}),  # an answer for something else
    Answer({"asset": "SOL", "currency": "EUR", "fair_value": "200"}),
    Answer({"asset": "SOL", "fair_value": "-5"}),
    Answer({"asset": "SOL", "fair_value": 0}),
    Answer({"asset": "SOL", "fair_value": "cheap"}),
    Answer({"asset": "SOL"}),
    Answer({"asset": "SOL", "fair_value": "200", "as_of": "last tuesday"}),
    Answer({"asset": "SOL", "fair_value": "200", "as_of": "2026-11-22T00:00:00"}),  # no zone
    Answer(["SOL", "200"]),
    Answer({"asset": "SOL", "fair_value": "200"}, delay=2),  # slower than the timeout
])
async def test_http_cfv_failures_fail_closed(providers: Providers,
                                             session: aiohttp.ClientSession, clock: Clock,
                                             answer: Answer) -> None:
    providers.fake.answers["cfv"] = answer
    found = await cfv_service(session, providers, clock).fair_value("SOL", "USD")
    assert isinstance(found, FairValueMissing)
    assert found.reason.startswith("CFV service failed for SOL: ")


async def test_a_failing_cfv_service_is_asked_again_after_a_cooldown(
        providers: Providers, session: aiohttp.ClientSession, clock: Clock) -> None:
    providers.fake.answers["cfv"] = Answer(raw="down", status=503)
    service = cfv_service(session, providers, clock)
    for _ in range(3):
        assert isinstance(await service.fair_value("SOL", "USD"), FairValueMissing)
    assert providers.fake.hits["cfv"] == 1
    providers.fake.answers["cfv"] = Answer({"fair_value": 180})
    clock.now += timedelta(seconds=30)
    assert await service.fair_value("SOL", "USD") == FairValue(D(180), "http", {})
    assert providers.fake.hits["cfv"] == 2
