"""Price sources. Each returns asset -> price in one fiat currency, or raises SourceError.

HTTP sources read the providers' real response formats; any garbage (HTML, wrong shapes,
non-positive or non-numeric prices) is that source failing, never a crash and never a price."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import aiohttp

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5)

COINGECKO_IDS = {"SOL": "solana", "USDC": "usd-coin", "USDT": "tether", "ETH": "ethereum",
                 "BTC": "bitcoin", "BONK": "bonk", "JUP": "jupiter-exchange-solana"}
KRAKEN_NAMES = {"BTC": "XBT"}


class SourceError(Exception):
    pass


class PriceSource(Protocol):
    name: str

    async def fetch(self, asset: str, currency: str) -> Decimal: ...


def positive_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise SourceError(f"{what}: not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SourceError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise SourceError(f"{what}: {value!r} is not a positive price")
    return number


async def get_json(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> Any:
    try:
        async with session.get(url, params=params, timeout=HTTP_TIMEOUT) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise SourceError(f"HTTP {resp.status} from {url}")
    except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
        raise SourceError(f"{type(exc).__name__} from {url}: {exc}") from None
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        raise SourceError(f"{url} answered something that is not JSON") from None


class StaticSource:
    name = "static"

    def __init__(self, prices: dict[str, Decimal], currency: str = "USD") -> None:
        self.prices, self.currency = prices, currency

    async def fetch(self, asset: str, currency: str) -> Decimal:
        if currency != self.currency or asset not in self.prices:
            raise SourceError(f"no static {asset}/{currency} price configured")
        return self.prices[asset]


class CoinGeckoSource:
    """GET /simple/price?ids=solana&vs_currencies=usd -> {"solana": {"usd": 150.12}}."""

    name = "coingecko"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def fetch(self, asset: str, currency: str) -> Decimal:
        coin = COINGECKO_IDS.get(asset)
        if coin is None:
            raise SourceError(f"no CoinGecko id known for {asset}")
        vs = currency.lower()
        data = await get_json(self.session, self.url, {"ids": coin, "vs_currencies": vs})
        try:
            value = data[coin][vs]
        except (KeyError, TypeError):
            raise SourceError(f"CoinGecko answer has no {coin}.{vs}") from None
        return positive_decimal(value, f"CoinGecko {asset}/{currency}")


class KrakenSource:
    """GET /0/public/Ticker?pair=SOLUSD -> {"error": [], "result": {"SOLUSD": {"c": [p, v]}}}.

    The result key can differ from the pair asked for (XETHZUSD for ETHUSD), so the single
    result is taken whatever its name."""

    name = "kraken"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def fetch(self, asset: str, currency: str) -> Decimal:
        pair = f"{KRAKEN_NAMES.get(asset, asset)}{currency}"
        data = await get_json(self.session, self.url, {"pair": pair})
        if not isinstance(data, dict):
            raise SourceError(f"Kraken answer for {pair} is not an object")
        if data.get("error"):
            raise SourceError(f"Kraken error for {pair}: {data['error']}")
        result = data.get("result")
        if not isinstance(result, dict) or len(result) != 1:
            raise SourceError(f"Kraken answer for {pair} has no single result")
        ticker = next(iter(result.values()))
        try:
            last = ticker["c"][0]
        except (KeyError, IndexError, TypeError):
            raise SourceError(f"Kraken ticker for {pair} has no last trade price") from None
        return positive_decimal(last, f"Kraken {pair}")
