"""Base units and fiat: formatting, strict parsing, the one rounding rule."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from paywatch.money import (
    fiat_to_base_units,
    format_units,
    is_currency,
    parse_units,
    quantize_fiat,
)


@pytest.mark.parametrize(("units", "decimals", "text"), [
    (1_500_000_000, 9, "1.5"), (1, 9, "0.000000001"), (0, 9, "0"), (10**9, 9, "1"),
    (123_456, 6, "0.123456"), (10**30, 18, "1000000000000"), (7, 0, "7"),
])
def test_format_and_parse_round_trip(units: int, decimals: int, text: str) -> None:
    assert format_units(units, decimals) == text
    assert parse_units(text, decimals) == units


@pytest.mark.parametrize("bad", ["-1", "1e9", "NaN", "inf", ".5", "01", "1.", "", " 1",
                                 "0.0000000001"])
def test_parse_refuses_what_is_not_plain(bad: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        parse_units(bad, 9)


def test_rounding_is_up_in_the_merchants_favour() -> None:
    assert fiat_to_base_units(D("100"), D("150"), 9) == 666_666_667
    assert fiat_to_base_units(D("150"), D("150"), 9) == 1_000_000_000
    assert fiat_to_base_units(D("0.000000001"), D("1000000"), 9) == 1  # never zero when owed
    # NUMERIC(78,0)-sized results stay exact
    assert fiat_to_base_units(D("1000000000"), D("0.000001"), 18) == 10**33
    with pytest.raises(ValueError, match="price"):
        fiat_to_base_units(D(1), D(0), 9)


def test_fiat_for_people_uses_minor_units() -> None:
    assert quantize_fiat(D("12.345"), "USD") == D("12.35")
    assert quantize_fiat(D("1234.5"), "JPY") == D("1235")
    assert quantize_fiat(D("1.2345"), "KWD") == D("1.235")
    assert is_currency("EUR")
    assert not is_currency("XYZ")
    assert not is_currency("usd")
