"""Price sources. Each answers one asset's price in one fiat currency, or raises SourceError.

HTTP sources read the providers' real response formats; any garbage (HTML, wrong shapes,
non-positive or non-numeric prices) is that source failing, never a crash and never a price.
`Unsupported` marks a pair a source can never price, so a quote in an unpriceable currency is
told apart from a provider being down."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import aiohttp

from paywatch.core.pricing.http import (
    HTTP_TIMEOUT,
    SourceError,
    Unsupported,
    get_json,
    positive_decimal,
)

# Asset symbol -> CoinGecko coin id (the `ids` parameter of /simple/price).
COINGECKO_IDS = {
    "SOL": "solana", "USDC": "usd-coin", "USDT": "tether", "ETH": "ethereum",
    "BTC": "bitcoin", "WBTC": "wrapped-bitcoin", "DAI": "dai", "PYUSD": "paypal-usd",
    "EURC": "euro-coin", "BONK": "bonk", "JUP": "jupiter-exchange-solana", "MSOL": "msol",
    "JITOSOL": "jito-staked-sol", "RAY": "raydium", "WIF": "dogwifcoin", "PYTH": "pyth-network",
}
# Fiat codes among CoinGecko's /simple/supported_vs_currencies.
COINGECKO_FIAT = frozenset({
    "USD", "AED", "ARS", "AUD", "BDT", "BHD", "BMD", "BRL", "CAD", "CHF", "CLP", "CNY", "CZK",
    "DKK", "EUR", "GBP", "GEL", "HKD", "HUF", "IDR", "ILS", "INR", "JPY", "KRW", "KWD", "LKR",
    "MMK", "MXN", "MYR", "NGN", "NOK", "NZD", "PHP", "PKR", "PLN", "RUB", "SAR", "SEK", "SGD",
    "THB", "TRY", "TWD", "UAH", "VND", "ZAR",
})
# Kraken names a few assets its own way; its fiat quote currencies are few.
KRAKEN_NAMES = {"BTC": "XBT", "DOGE": "XDG"}
KRAKEN_FIAT = frozenset({"USD", "EUR", "GBP", "CAD", "JPY", "AUD", "CHF"})


@dataclass(frozen=True)
class Reading:
    price: Decimal
    reported_at: datetime | None = None  # when the provider says the price was last updated


class PriceSource(Protocol):
    name: str

    async def fetch(self, asset: str, currency: str) -> Reading: ...


class StaticSource:
    """Prices from settings (PAYWATCH_STATIC_PRICES), in USD. Never stale: configuration is
    the operator's statement of the price, so each read is stamped with the current time."""

    name = "static"

    def __init__(self, prices: dict[str, Decimal], currency: str = "USD") -> None:
        self.prices, self.currency = prices, currency

    async def fetch(self, asset: str, currency: str) -> Reading:
        if currency != self.currency:
            raise Unsupported(f"static prices are in {self.currency}, not {currency}",
                              "currency")
        if asset not in self.prices:
            raise Unsupported(f"no static {asset} price (PAYWATCH_STATIC_PRICES)", "asset")
        return Reading(self.prices[asset])


class CoinGeckoSource:
    """GET {url}?ids=solana&vs_currencies=usd&include_last_updated_at=true&precision=full
    -> {"solana": {"usd": 150.12, "last_updated_at": 1763812800}}.

    CoinGecko caches this endpoint; `last_updated_at` is how it says a price is stale, so the
    observation is dated by it when it is older than our fetch."""

    name = "coingecko"

    def __init__(self, session: aiohttp.ClientSession, url: str,
                 ids: dict[str, str] | None = None,
                 timeout: aiohttp.ClientTimeout = HTTP_TIMEOUT) -> None:
        self.session, self.url, self.timeout = session, url, timeout
        self.ids = {**COINGECKO_IDS, **(ids or {})}

    async def fetch(self, asset: str, currency: str) -> Reading:
        coin = self.ids.get(asset)
        if coin is None:
            raise Unsupported(f"no CoinGecko id known for {asset}", "asset")
        if currency not in COINGECKO_FIAT:
            raise Unsupported(f"CoinGecko has no {currency} prices", "currency")
        vs = currency.lower()
        data = await get_json(self.session, self.url, {
            "ids": coin, "vs_currencies": vs, "include_last_updated_at": "true",
            "precision": "full"}, self.timeout)
        entry = data.get(coin) if isinstance(data, dict) else None
        if not isinstance(entry, dict) or vs not in entry:
            raise SourceError(f"CoinGecko answer has no {coin}.{vs}")
        price = positive_decimal(entry[vs], f"CoinGecko {asset}/{currency}")
        return Reading(price, _unix_time(entry.get("last_updated_at"), "CoinGecko"))


class KrakenSource:
    """GET {url}?pair=SOLUSD -> {"error": [], "result": {"SOLUSD": {"c": ["150.12", "1.0"]}}}.

    `c` is the last trade [price, lot volume]. The result key can differ from the pair asked
    for (XETHZUSD for ETHUSD), so the single result is taken whatever its name; a non-empty
    `error` list is a failure even when a result is present."""

    name = "kraken"

    def __init__(self, session: aiohttp.ClientSession, url: str,
                 timeout: aiohttp.ClientTimeout = HTTP_TIMEOUT) -> None:
        self.session, self.url, self.timeout = session, url, timeout

    async def fetch(self, asset: str, currency: str) -> Reading:
        if currency not in KRAKEN_FIAT:
            raise Unsupported(f"Kraken has no {currency} markets", "currency")
        pair = f"{KRAKEN_NAMES.get(asset, asset)}{currency}"
        data = await get_json(self.session, self.url, {"pair": pair}, self.timeout)
        if not isinstance(data, dict) or not isinstance(data.get("error"), list):
            raise SourceError(f"Kraken answer for {pair} is not a ticker response")
        if data["error"]:
            raise SourceError(f"Kraken error for {pair}: {data['error'][:3]}")
        result = data.get("result")
        if not isinstance(result, dict) or len(result) != 1:
            raise SourceError(f"Kraken answer for {pair} has no single result")
        ticker = next(iter(result.values()))
        last = ticker.get("c") if isinstance(ticker, dict) else None
        if not isinstance(last, list) or not last:
            raise SourceError(f"Kraken ticker for {pair} has no last trade price")
        return Reading(positive_decimal(last[0], f"Kraken {pair}"))


def _unix_time(value: Any, who: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SourceError(f"{who} last_updated_at {value!r} is not a Unix time")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise SourceError(f"{who} last_updated_at {value!r} is out of range") from None
