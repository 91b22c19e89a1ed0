"""Money: crypto in integer base units, fiat in Decimal with an ISO 4217 code. Never float.

`fiat_to_base_units` is the one rounding rule for converting fiat into crypto: up to the next
base unit, in the merchant's favour (the customer never pays less than the quote says).
`quantize_fiat` is the one rule for fiat shown to people: the currency's minor units, half up."""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, localcontext

# ISO 4217 list one (active currencies) with their minor-unit digits. Fund codes (BOV, CHE,
# CHW, CLF, COU, MXV, USN, UYI), metals and XDR/XSU/XUA are left out: nobody checks out in
# them. Withdrawn codes (HRK, SLL, CUC, ...) are left out too.
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
    "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UYW": 4, "UZS": 2,
    "VED": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XCG": 2, "XOF": 0,
    "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2, "ZWL": 2,
}

# ASCII digits only: `\d` would also take Arabic-Indic and other Unicode digits.
_DECIMAL_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?", re.ASCII)
# Fiat as people type it: an optional minus (so "-3" is refused as negative, not as garbage),
# up to 15 whole digits and 8 decimals. ASCII again: Decimal("١٢.٥٠") is 12.50.
_FIAT_TEXT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,8})?", re.ASCII)
# Base units live in NUMERIC(78,0); 36 decimals is far beyond any real token (SOL 9, ETH 18).
MAX_DECIMALS = 36
MAX_BASE_UNITS = 10**78 - 1


def is_currency(code: str) -> bool:
    """An active ISO 4217 code, upper case as the standard writes it."""
    return code in CURRENCIES


def currency_code(code: str) -> str:
    """'eur' -> 'EUR'; ValueError for anything that is not an active ISO 4217 code."""
    upper = code.upper() if isinstance(code, str) else ""
    if not is_currency(upper):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return upper


def minor_units(code: str) -> int:
    return CURRENCIES[code]


def check_decimals(decimals: int) -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError("decimals must be an int")
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"decimals must be between 0 and {MAX_DECIMALS}, got {decimals}")
    return decimals


def quantize_fiat(amount: Decimal, currency: str) -> Decimal:
    """Fiat shown to people: the currency's minor units, half up (12.345 USD -> 12.35)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def fiat_shown(value: Decimal, currency: str) -> Decimal:
    """Fiat in API answers: the stored NUMERIC(20,8) at the currency's minor units ("12.50", not
    "12.50000000") whenever that loses nothing; otherwise every digit that is there."""
    digits = minor_units(currency) if is_currency(currency) else 8
    shown = value.quantize(Decimal(1).scaleb(-digits))
    return shown if shown == value else value.normalize()


def fiat_to_base_units(fiat: Decimal, price: Decimal, decimals: int) -> int:
    """fiat / price in base units, rounded UP to the next base unit (the merchant's favour).

    The one place where fiat becomes crypto. Exact: the division runs at 100 significant
    digits, so nothing is rounded before the final ceiling for any NUMERIC(78,0) result."""
    check_decimals(decimals)
    if not price.is_finite() or price <= 0:
        raise ValueError("price must be a positive number")
    if not fiat.is_finite() or fiat < 0:
        raise ValueError("amount must be a non-negative number")
    with localcontext() as ctx:
        ctx.prec = 100
        units = (fiat.scaleb(decimals) / price).to_integral_value(rounding=ROUND_CEILING)
    return int(units)


def format_units(units: int, decimals: int) -> str:
    """1500000000, 9 -> "1.5"; 1, 9 -> "0.000000001"; no exponent, no trailing zeros."""
    check_decimals(decimals)
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError("base units must be an int")
    if units < 0:
        raise ValueError("base units must not be negative")
    whole, frac = divmod(units, 10**decimals)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(decimals, '0').rstrip('0')}"


def parse_units(text: str, decimals: int) -> int:
    """"1.5", 9 -> 1500000000. Refuses signs, exponents, NaN/inf, spaces, leading zeros
    ("01") and more decimal places than the asset has: nothing is ever rounded here."""
    check_decimals(decimals)
    match = _DECIMAL_TEXT.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a plain non-negative decimal number")
    frac = (match.group(2) or ".")[1:]
    if len(frac) > decimals:
        raise ValueError(f"{text!r} has more than {decimals} decimal places")
    units = int(match.group(1)) * 10**decimals + int(frac.ljust(decimals, "0") or "0")
    if units > MAX_BASE_UNITS:
        raise ValueError(f"{text!r} is too large")
    return units


def parse_fiat(text: str) -> Decimal:
    """"12.50" -> Decimal("12.50"). The one parser for fiat text (bodies, query strings):
    ASCII digits only, no exponent, no NaN/Infinity, at most 15 whole digits and 8 decimals."""
    if not isinstance(text, str) or not _FIAT_TEXT.fullmatch(text):
        raise ValueError(f"{text!r} is not a decimal number such as \"12.50\" "
                         "(ASCII digits, at most 8 decimals)")
    return Decimal(text)


def decimal_str(value: Decimal) -> str:
    """A Decimal as JSON text: plain notation, never an exponent ("1E+2" -> "100")."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    return format(value, "f")
