"""HTML the one way: the Jinja2 environment both the hosted checkout page (api/checkout) and the
dashboard (api/dashboard) render with, their static files, and the formatting filters they
share. Autoescaping is on (every value is escaped unless a template marks it safe, which ours
never do) and undefined names are strict (a typo fails the test that renders the page rather
than printing nothing)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import jinja2

from paywatch.core.money import format_units, is_currency, quantize_fiat


@dataclass(frozen=True)
class Asset:
    """A static file, read once from its package (so an installed wheel serves it too)."""

    name: str
    body: bytes
    content_type: str
    mount: str   # the URL path it is served under, e.g. /checkout/static

    @property
    def url(self) -> str:
        # The content hash in the URL lets browsers cache it for long and never go stale.
        return f"{self.mount}/{self.name}?v={hashlib.sha256(self.body).hexdigest()[:12]}"


def load_assets(package: str, types: Mapping[str, str], mount: str) -> dict[str, Asset]:
    """The files named in `types` (name -> content type) from `package`'s static folder."""
    folder = resources.files(package) / "static"
    return {name: Asset(name, (folder / name).read_bytes(), kind, mount)
            for name, kind in types.items()}


def units(amount: int | None, decimals: int) -> str:
    """Base units as the coin's decimal amount (1500000, 6 -> "1.5")."""
    return "" if amount is None else format_units(amount, decimals)


def fiat(amount: Decimal | None, currency: str | None) -> str:
    """A fiat amount with its code, to the currency's minor unit: Decimal("1234.5"), "USD" ->
    "1,234.50 USD" (a code that is not ISO 4217 keeps the amount's own digits)."""
    if amount is None or currency is None:
        return ""
    code = currency.strip()
    shown = quantize_fiat(amount, code) if is_currency(code) else amount
    return f"{shown:,f} {code}"


def percent(value: Decimal) -> str:
    """Decimal("5.00") -> "5", Decimal("7.50") -> "7.5" (no exponent: normalize() gives 1E+1)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def environment(package: str) -> jinja2.Environment:
    """A fresh environment for `package`'s templates folder, with the shared filters; the
    caller adds its own filters and globals (and caches it)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    env.filters.update(units=units, fiat=fiat, percent=percent)
    return env
