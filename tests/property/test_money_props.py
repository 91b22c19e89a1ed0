"""Properties of the amount math: fiat -> base units rounds up and never by more than one unit,
formatting and parsing are inverses, and shared-address amounts are unique and never below the
quote."""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from paywatch.core.money import fiat_to_base_units, format_units, parse_units
from paywatch.core.payments import shared_amount_step, unique_amount

decimals = st.integers(min_value=0, max_value=18)
fiat = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("99999999"), places=8)
prices = st.decimals(min_value=Decimal("0.000000000000000001"), max_value=Decimal("10000000"),
                     places=18)
units = st.integers(min_value=0, max_value=10**40)


@given(fiat, prices, decimals)
def test_conversion_rounds_up_by_less_than_one_unit(amount: Decimal, price: Decimal,
                                                    places: int) -> None:
    got = fiat_to_base_units(amount, price, places)
    assert isinstance(got, int)
    with localcontext() as ctx:
        ctx.prec = 120  # the check itself must not round
        worth = Decimal(got) * price / Decimal(10) ** places  # what the merchant receives
        assert worth >= amount  # never short of the fiat amount
        assert Decimal(got - 1) * price / Decimal(10) ** places < amount  # the least such


@given(units, decimals)
def test_format_and_parse_are_inverses(value: int, places: int) -> None:
    text = format_units(value, places)
    assert "e" not in text.lower()
    assert parse_units(text, places) == value


@given(st.integers(min_value=1, max_value=10**24), decimals,
       st.sets(st.integers(min_value=0, max_value=60), max_size=40))
def test_unique_amounts_are_free_at_least_the_quote_and_on_the_step(
        amount: int, places: int, taken_slots: set[int]) -> None:
    step = shared_amount_step(places)
    low = -(-amount // step) * step
    taken = {low + slot * step for slot in taken_slots}
    got = unique_amount(amount, places, taken)
    assert got is not None
    assert got >= amount
    assert got not in taken
    assert got % step == 0
    assert all(low + k * step in taken for k in range((got - low) // step))  # the smallest free
