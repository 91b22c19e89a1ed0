"""Money: crypto in integer base units, fiat in Decimal with an ISO 4217 code. Never float.

`fiat_to_base_units` is the one rounding rule for converting fiat into crypto: up to the next
base unit, in the merchant's favour (the customer never pays less than the quote says)."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext

# ISO 4217 codes with their minor-unit digits (active currencies; funds/metals codes left out).
CURRENCIES: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
    "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2,
    "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0,
    "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2,
    "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2,
    "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0,
    "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0,
    "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3,
    "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
    "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
    "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2,
    "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2,
    "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2,
    "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2,
    "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2,
    "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2,
    "ZMW": 2, "ZWL": 2,
}

_DECIMAL_TEXT = re.compile(r"^(0|[1-9]\d*)(\.\d+)?$")
MAX_DECIMALS = 36


def is_currency(code: str) -> bool:
    return code in CURRENCIES


def minor_units(code: str) -> int:
    return CURRENCIES[code]


def quantize_fiat(amount: Decimal, currency: str) -> Decimal:
    """Fiat shown to people: the currency's minor units, half up (12.345 USD -> 12.35)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def fiat_to_base_units(fiat: Decimal, price: Decimal, decimals: int) -> int:
    """fiat / price in base units, rounded UP to the next base unit (the merchant's favour)."""
    if price <= 0:
        raise ValueError("price must be positive")
    if fiat < 0:
        raise ValueError("amount must not be negative")
    with localcontext() as ctx:
        ctx.prec = 80  # enough for NUMERIC(78,0) results: nothing is rounded before the ceiling
        units = (fiat * Decimal(10) ** decimals / price).to_integral_value(rounding=ROUND_CEILING)
    return int(units)


def format_units(units: int, decimals: int) -> str:
    """1500000000, 9 -> "1.5"; 1, 9 -> "0.000000001"; no exponent, no trailing zeros."""
    if units < 0:
        raise ValueError("base units must not be negative")
    whole, frac = divmod(units, 10**decimals)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def parse_units(text: str, decimals: int) -> int:
    """"1.5", 9 -> 1500000000. Refuses signs, exponents, NaN and more decimals than the asset."""
    match = _DECIMAL_TEXT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a plain non-negative decimal number")
    frac = (match.group(2) or ".")[1:]
    if len(frac) > decimals:
        raise ValueError(f"{text!r} has more than {decimals} decimal places")
    return int(match.group(1)) * 10**decimals + int(frac.ljust(decimals, "0") or "0")
