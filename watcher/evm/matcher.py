"""Which payment a transfer pays: pure, given the payments whose address it reached.

- A deposit address belongs to one payment: whatever arrives there is that payment's money.
  The payment's own asset counts; any other asset waits in the store's inbox, unmatched, with
  the payment named in the reason.
- A shared address matches only by exact amount among the payments still watched (open ones
  before expired ones). Any other amount waits in the inbox of the store that owns the address,
  so the merchant sees it: never silently dropped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paywatch.core.evm import EvmChain
from watcher.evm.chain import Seen

OPEN_FIRST = {"pending": 0, "detected": 1, "expired": 2}


@dataclass(frozen=True)
class Finding:
    seen: Seen
    asset: str
    payment_id: Any | None
    store_id: Any | None
    matched_by: str | None = None         # how it found its payment
    unmatched_reason: str | None = None   # why it paid none (payment_id is then None)
    refund_id: Any | None = None          # an outgoing transfer: the refund it sends


def match_refund(chain: EvmChain, seen: Seen,
                 refunds: list[Mapping[str, Any]]) -> Finding | None:
    """A pending refund to `seen.to` of that asset asking exactly `seen.amount` (the oldest
    first), whoever sent it: EVM transfers carry no reference, and a merchant may pay from any
    of their addresses. `refunds` is consumed: one transfer pays one refund."""
    symbol = asset_symbol(chain, seen.contract)
    for refund in refunds:
        if (refund["destination"].lower() == seen.to.lower()
                and (refund["mint"] or "").lower() == (seen.contract or "").lower()
                and int(refund["amount"]) == seen.amount and symbol is not None):
            refunds.remove(refund)
            return Finding(seen, symbol, None, refund["store_id"], refund_id=refund["id"])
    return None


def asset_symbol(chain: EvmChain, contract: str | None) -> str | None:
    if contract is None:
        return chain.native_symbol
    return next((t.symbol for t in chain.tokens if t.contract == contract), None)


def match(chain: EvmChain, seen: Seen, payments: Sequence[Mapping[str, Any]],
          shared_owner: Any | None) -> Finding | None:
    """`payments`: candidates whose address is `seen.to`; None when the address is not ours."""
    symbol = asset_symbol(chain, seen.contract)
    if symbol is None:
        return None
    deposit = next((p for p in payments if p["deposit"]), None)
    if deposit is not None:
        if (deposit["mint"] or "").lower() != (seen.contract or "").lower():
            return Finding(seen, symbol, None, deposit["store_id"], unmatched_reason=(
                f"wrong asset: sent {symbol} to the deposit address of payment "
                f"{deposit['id']}, which asks {deposit['asset']}"))
        return Finding(seen, symbol, deposit["id"], deposit["store_id"], "deposit_address")
    same = sorted((p for p in payments if not p["deposit"]
                   and (p["mint"] or "").lower() == (seen.contract or "").lower()
                   and p["amount_due"] == seen.amount),
                  key=lambda p: OPEN_FIRST.get(p["status"], 9))
    if same:
        return Finding(seen, symbol, same[0]["id"], same[0]["store_id"], "unique_amount")
    if shared_owner is not None:
        return Finding(seen, symbol, None, shared_owner, unmatched_reason=(
            "amount matches no open payment: none asks exactly this amount of this asset"))
    return None
