"""HTTP for pricing: one GET with a timeout and a size limit, JSON read as Decimal, and strict
number parsing. Anything unexpected becomes SourceError: the source failed, nothing crashed."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Any

import aiohttp

from paywatch.core.redact import redact_text

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5)
MAX_BODY_BYTES = 1 << 20  # a price answer is a few hundred bytes; refuse to buffer a flood
# Prices and fair values are stored as NUMERIC(38,18): the scale they are computed at too.
PRICE_SCALE = Decimal("1e-18")
PRICE_LIMIT = Decimal("1e20")
_PLAIN_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)


class SourceError(Exception):
    """One source failed this time (network, HTTP status, garbage answer)."""


class Unsupported(SourceError):
    """The source can never answer this pair (no such asset/currency): no request is made."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param  # "asset" or "currency": what the caller asked for that is missing


def _no_constants(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not a number we accept")


def loads(text: str) -> Any:
    """JSON with every non-integer number as Decimal; NaN/Infinity refused (never a float)."""
    return json.loads(text, parse_float=Decimal, parse_constant=_no_constants)


async def get_json(session: aiohttp.ClientSession, url: str, params: dict[str, str],
                   http_timeout: aiohttp.ClientTimeout = HTTP_TIMEOUT) -> Any:
    """GET url?params and decode JSON; SourceError for every way that can go wrong.

    Messages never quote the URL: an operator may have put an API key in its query."""
    try:
        body = await _get(session, url, params, http_timeout)
    except aiohttp.InvalidURL:
        raise SourceError("the configured URL is not valid") from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        # Some aiohttp errors (too many redirects...) quote the URL: mask it.
        raise SourceError(redact_text(f"{type(exc).__name__} {exc}".strip())) from None
    except ValueError:  # yarl refusing the URL or its parameters
        raise SourceError("the request could not be made") from None
    try:
        return loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8, not JSON, NaN, absurdly deep nesting
        raise SourceError("the answer is not JSON") from None


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str],
               http_timeout: aiohttp.ClientTimeout) -> bytes:
    async with session.get(url, params=params, timeout=http_timeout) as resp:
        if resp.status != 200:
            raise SourceError(f"HTTP {resp.status}")
        body = bytearray()
        async for chunk in resp.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise SourceError(f"answer longer than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def positive_decimal(value: Any, what: str) -> Decimal:
    """A price or fair value from a provider: a JSON number (already Decimal or int) or a plain
    decimal string ("150.12"). Refuses bools, floats, exponent/underscore/space strings, zero,
    negatives, and anything NUMERIC(38,18) cannot hold; more than 18 decimals are rounded."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise SourceError(f"{what}: {value!r} is not a number")
    if isinstance(value, str) and not _PLAIN_NUMBER.fullmatch(value):
        raise SourceError(f"{what}: {value!r} is not a plain decimal number")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise SourceError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise SourceError(f"{what}: {value!r} is not a positive number")
    if number < PRICE_LIMIT:  # (rounding a huge number to 18 places would overflow)
        number = to_price_scale(number)
    if not 0 < number < PRICE_LIMIT:
        raise SourceError(f"{what}: {value!r} is outside 1e-18 .. 1e20")
    return number


def to_price_scale(number: Decimal) -> Decimal:
    """Round to 18 decimals only when there are more, so "150.12" stays "150.12"."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -18:
        with localcontext() as ctx:
            ctx.prec = 60  # 20 integer + 18 fraction digits fit; quantize never overflows
            return number.quantize(PRICE_SCALE, rounding=ROUND_HALF_EVEN)
    return number
