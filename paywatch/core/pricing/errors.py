"""What pricing can refuse with, and how the API should answer each."""

from __future__ import annotations


class PricingError(Exception):
    """Base of every pricing failure."""


class PriceUnavailable(PricingError):
    """No source has a fresh price: refuse to quote rather than quote from stale data.

    Usually transient (a provider down, rate-limited or answering garbage): the API answers
    503 with Retry-After."""


class QuoteError(PricingError, ValueError):
    """The request cannot be quoted as asked; the API answers 422 with `code` and `param`."""

    def __init__(self, message: str, *, code: str = "amount_too_small",
                 param: str = "amount") -> None:
        super().__init__(message)
        self.code, self.param = code, param


class NotPriced(PriceUnavailable):
    """No configured price source can ever price this asset in this currency (static prices
    are USD only, no static price for the asset, CoinGecko has no id for it, ...).

    Permanent until the operator configures a source, unlike a provider outage. It is a
    PriceUnavailable so the API answers 503 `price_unavailable` without knowing it; `code` and
    `param` let the API answer 422 instead, naming what cannot be priced."""

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param
        self.code = "currency_not_supported" if param == "currency" else "asset_not_priced"
