"""Planning a new payment: its clocks, its commitment, its reference and its payment request.

Pure functions of the store, the asset, the quote and the request, so the rules are tested
without a database and the API handler only persists what comes out."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from solders.pubkey import Pubkey


@dataclass(frozen=True)
class PaymentAsk:
    """What the merchant asked for, already validated."""

    label: str | None
    message: str | None
    memo: str | None
    expires_in: int | None
    redirect_url: str | None
    metadata: dict[str, str]


def new_reference() -> str:
    """A fresh random public key, unique per payment: wallets attach it to the transfer.
    32 random bytes, not a generated keypair's public key: a reference is only ever an account
    key the transaction lists (read-only, never a signer), which any 32 bytes are, and nobody
    needs its private half; the keypair's curve arithmetic was 4 % of a loaded POST."""
    return str(Pubkey(secrets.token_bytes(32)))


def required_commitment(store: Any, fiat_amount: Decimal) -> str:
    """The store's commitment, raised to `finalized` for amounts at or above its threshold."""
    threshold = store["finalized_above"]
    if threshold is not None and fiat_amount >= threshold:
        return "finalized"
    return str(store["commitment"])


def clocks(store: Any, now: datetime, expires_in: int | None) -> tuple[datetime, datetime]:
    lifetime = timedelta(seconds=expires_in) if expires_in else store["payment_lifetime"]
    expires_at = now + lifetime
    return expires_at, expires_at + store["monitoring_window"]


# How many amounts a unique-amount payment may take above its price (steps of 1e-8 coin): at most
# 0.0001 of the coin more than the price, and room for 10,000 open payments asking the same.
MAX_AMOUNT_BUMP = 10_000


def shared_amount_step(decimals: int) -> int:
    """shared_address amounts move in steps of 1e-8 of the coin (1 base unit for tokens with 8
    decimals or fewer): unique yet still typeable, and worth a fraction of a cent."""
    return 10 ** max(0, decimals - 8)


def shared_amount_range(amount: int, decimals: int) -> tuple[int, int]:
    """The amounts a shared_address payment of `amount` may take: [rounded up, highest bump]."""
    step = shared_amount_step(decimals)
    low = -(-amount // step) * step
    return low, low + (MAX_AMOUNT_BUMP - 1) * step


def unique_amount(amount: int, decimals: int, taken: set[int]) -> int | None:
    """The smallest amount >= `amount` (raised in its last digits) no open payment has."""
    step = shared_amount_step(decimals)
    low, high = shared_amount_range(amount, decimals)
    return next((a for a in range(low, high + 1, step) if a not in taken), None)
