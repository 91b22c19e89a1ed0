"""Properties of CFV: a discount only for an undervalued asset, never above the cap or the
deepest tier, monotonic in the undervaluation, and the discounted fiat never above the price."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from paywatch.core.pricing.cfv import CfvPolicy, valuation
from paywatch.core.pricing.fair_value import FairValue
from paywatch.core.pricing.quote import discounted

positive = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1000000"), places=6)
caps = st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2)


@given(positive, positive, caps)
def test_discount_only_below_fair_value_and_within_the_cap(price: Decimal, fair: Decimal,
                                                           cap: Decimal) -> None:
    policy = CfvPolicy(cap_percent=cap)
    v = valuation(price, FairValue(fair, "static"), policy, "SOL")
    assert Decimal(0) <= v.discount <= min(cap, Decimal(10))
    if price >= fair:
        assert v.discount == 0
    if v.discount:
        assert v.status is not None


@given(positive, positive, positive)
def test_deeper_undervaluation_never_gets_a_smaller_discount(fair: Decimal, a: Decimal,
                                                             b: Decimal) -> None:
    policy = CfvPolicy()
    low, high = sorted((a, b))
    cheaper = valuation(low, FairValue(fair, "static"), policy, "SOL").discount
    dearer = valuation(high, FairValue(fair, "static"), policy, "SOL").discount
    assert cheaper >= dearer


@given(positive)
def test_no_fair_value_means_no_discount(price: Decimal) -> None:
    assert valuation(price, None, CfvPolicy(), "SOL").discount == 0


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999"), places=2),
       st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=2))
def test_discounted_fiat_is_within_the_price(amount: Decimal, discount: Decimal) -> None:
    due = discounted(amount, discount, "USD")
    assert Decimal(0) <= due <= amount
    assert due == due.quantize(Decimal("0.01"))
