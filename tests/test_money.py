"""Base units and fiat: formatting, strict parsing, the one rounding rule, ISO 4217 codes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from paywatch.core.money import (
    CURRENCIES,
    MAX_BASE_UNITS,
    currency_code,
    decimal_str,
    fiat_to_base_units,
    format_units,
    is_currency,
    minor_units,
    parse_fiat,
    parse_units,
    quantize_fiat,
)


@pytest.mark.parametrize(("units", "decimals", "text"), [
    (1_500_000_000, 9, "1.5"), (1, 9, "0.000000001"), (0, 9, "0"), (10**9, 9, "1"),
    (123_456, 6, "0.123456"), (100_000, 6, "0.1"), (10**30, 18, "1000000000000"),
    (1, 18, "0.000000000000000001"), (7, 0, "7"), (1_000, 0, "1000"),
    (MAX_BASE_UNITS, 18, "9" * 60 + "." + "9" * 18),
])
def test_format_and_parse_round_trip(units: int, decimals: int, text: str) -> None:
    assert format_units(units, decimals) == text
    assert parse_units(text, decimals) == units


@pytest.mark.parametrize("bad", [
    "-1", "+1", "1e9", "1E9", "NaN", "nan", "inf", "Infinity", ".5", "01", "00.5", "1.", "",
    " 1", "1 ", "1\n", "1,5", "1_000", "0x10", "١", "1.5.5", "0.0000000001",
])
def test_parse_refuses_what_is_not_plain(bad: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        parse_units(bad, 9)


def test_parse_accepts_trailing_zeros_within_the_decimals() -> None:
    assert parse_units("1.500000000", 9) == 1_500_000_000
    assert parse_units("0.0", 1) == 0


@pytest.mark.parametrize("decimals", [-1, 37])
def test_decimals_out_of_range(decimals: int) -> None:
    with pytest.raises(ValueError, match="decimals"):
        format_units(1, decimals)
    with pytest.raises(ValueError, match="decimals"):
        parse_units("1", decimals)


def test_format_refuses_what_is_not_base_units() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_units(-1, 9)
    with pytest.raises(TypeError):
        format_units(1.5, 9)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fiat", "price", "decimals", "units"), [
    # 100 / 150 = 0.666666666666.. SOL -> 666666666.67 lamports -> up to 666666667
    ("100", "150", 9, 666_666_667),
    # exact: 150 / 150 = 1 SOL, nothing to round
    ("150", "150", 9, 1_000_000_000),
    # a billionth of a dollar at a million dollars per token still owes one base unit
    ("0.000000001", "1000000", 9, 1),
    # 0.01 USD of a 6-decimal stablecoin at 1: 10000 exactly
    ("0.01", "1", 6, 10_000),
    # 0.01 at 0.999999: 10000.01.. -> 10001 (never less than owed)
    ("0.01", "0.999999", 6, 10_001),
    # 0 owes 0
    ("0", "150", 9, 0),
    # NUMERIC(78,0)-sized results stay exact: 1e9 / 1e-6 x 1e18 = 1e33
    ("1000000000", "0.000001", 18, 10**33),
    # 18 decimals and a price with 18 decimals: 1 / 3.000000000000000001 x 1e18
    # = 333333333333333333.2222.. -> 333333333333333334
    ("1", "3.000000000000000001", 18, 333_333_333_333_333_334),
])
def test_rounding_is_up_in_the_merchants_favour(fiat: str, price: str, decimals: int,
                                                 units: int) -> None:
    assert fiat_to_base_units(D(fiat), D(price), decimals) == units


@pytest.mark.parametrize(("fiat", "price"), [
    ("1", "0"), ("1", "-1"), ("1", "NaN"), ("-1", "150"), ("Infinity", "150"),
])
def test_rounding_refuses_nonsense(fiat: str, price: str) -> None:
    with pytest.raises(ValueError, match=r"price|amount"):
        fiat_to_base_units(D(fiat), D(price), 9)


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("12.345", "USD", "12.35"), ("12.344", "USD", "12.34"), ("0.005", "EUR", "0.01"),
    ("1234.5", "JPY", "1235"), ("1.2345", "KWD", "1.235"), ("10", "USD", "10.00"),
    ("0.00005", "UYW", "0.0001"),
])
def test_fiat_for_people_uses_minor_units_half_up(amount: str, currency: str,
                                                  shown: str) -> None:
    assert str(quantize_fiat(D(amount), currency)) == shown


def test_currencies() -> None:
    common = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNY", "HKD", "SGD",
              "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "RON", "BGN", "TRY", "ILS", "AED",
              "SAR", "INR", "IDR", "MYR", "THB", "PHP", "VND", "KRW", "TWD", "BRL", "MXN",
              "ARS", "CLP", "COP", "PEN", "ZAR", "NGN", "KES", "EGP", "UAH", "KWD", "BHD"]
    assert all(is_currency(c) for c in common)
    assert len(CURRENCIES) > 150
    assert (minor_units("JPY"), minor_units("USD"), minor_units("BHD"), minor_units("CLP")) \
        == (0, 2, 3, 0)
    for bad in ("XYZ", "usd", "US", "USDT", "", "HRK", "XAU"):
        assert not is_currency(bad)
    assert currency_code("eur") == "EUR"
    with pytest.raises(ValueError, match="ISO 4217"):
        currency_code("BTC")


def test_decimal_str_never_writes_an_exponent() -> None:
    assert decimal_str(D("1E+2")) == "100"
    assert decimal_str(D("2E-8")) == "0.00000002"
    assert decimal_str(D("150.120")) == "150.120"
    with pytest.raises(ValueError, match="finite"):
        decimal_str(D("NaN"))


@pytest.mark.parametrize(("text", "value"), [
    ("12.50", D("12.50")), ("0", D(0)), ("007", D(7)), ("-3", D(-3)),
    ("999999999999999.99999999", D("999999999999999.99999999")),
])
def test_parse_fiat_reads_plain_ascii_decimals(text: str, value: D) -> None:
    assert parse_fiat(text) == value


@pytest.mark.parametrize("bad", [
    "١٢.٥٠", "๑๒", "１２", "12.٥", "1e3", "NaN", "Infinity", "+1", " 1", "1.", ".5", "1,5",
    "1_000", "1.123456789", "1" * 16, "",
])
def test_parse_fiat_refuses_unicode_digits_and_anything_not_plain(bad: str) -> None:
    with pytest.raises(ValueError, match="ASCII digits"):
        parse_fiat(bad)
