"""What a payment's state should be, given its transfers: the one place the rules live.

Pure: it takes facts and returns a decision; the caller applies it with a guarded UPDATE in the
transaction that records the transfer, so replaying a notification is a no-op.

- Received = the transfers at the required commitment; seen = every live transfer.
- Confirmed when received covers the amount due less the tolerance (a percentage of the amount
  due, or an absolute fiat amount at the quote's price, whichever allows more).
- Exceptions: overpaid > underpaid (confirmed within tolerance, or seen but short) > multiple.
- Money first seen after expiry leaves the payment expired with `paid_late`, unless the store
  accepts late payments. A reverted transfer steps the payment back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

COUNTED = {"confirmed": ("confirmed", "finalized"), "finalized": ("finalized",)}
LIVE = ("processed", "confirmed", "finalized")
FINAL_STATUSES = ("confirmed", "cancelled", "invalid")


@dataclass(frozen=True)
class TransferFact:
    amount: int
    status: str            # processed | confirmed | finalized | reverted | rejected
    first_seen: datetime   # block time when known, else when the watcher saw it


@dataclass(frozen=True)
class PaymentFacts:
    status: str
    exception: str | None
    amount_due: int
    amount_received: int
    required_commitment: str
    expires_at: datetime
    accept_late: bool
    tolerance_units: int


@dataclass(frozen=True)
class Decision:
    status: str
    exception: str | None
    amount_received: int


def tolerance_units(amount_due: int, percent: Decimal, fiat: Decimal, price: Decimal,
                    decimals: int) -> int:
    """Allowed shortfall in base units, rounded down (a tolerance never grows by rounding)."""
    by_percent = (Decimal(amount_due) * percent / 100).to_integral_value(ROUND_FLOOR)
    by_fiat = (fiat * Decimal(10) ** decimals / price).to_integral_value(ROUND_FLOOR)
    return int(max(by_percent, by_fiat))


def decide(facts: PaymentFacts, transfers: list[TransferFact]) -> Decision | None:
    """The payment's new state, or None when nothing should change."""
    if facts.status in FINAL_STATUSES:
        return None
    live = [t for t in transfers if t.status in LIVE]
    received = sum(t.amount for t in live if t.status in COUNTED[facts.required_commitment])
    seen = sum(t.amount for t in live)
    late = facts.status == "expired" or any(t.first_seen > facts.expires_at for t in live)
    if late and not facts.accept_late:
        decision = Decision("expired", "paid_late" if live else facts.exception, received)
    else:
        decision = _on_time(facts, live, received, seen)
    current = Decision(facts.status, facts.exception, facts.amount_received)
    return None if decision == current else decision


def _on_time(facts: PaymentFacts, live: list[TransferFact], received: int,
             seen: int) -> Decision:
    due, threshold = facts.amount_due, facts.amount_due - facts.tolerance_units
    if received >= threshold and received > 0:
        return Decision("confirmed", _exception(received, due, len(live)), received)
    if seen > 0:
        return Decision("detected", "underpaid" if seen < threshold else
                        ("multiple" if len(live) > 1 else None), received)
    if facts.status == "expired":  # a late payment that was reverted
        return Decision("expired", None, 0)
    return Decision("pending", None, 0)


def _exception(received: int, due: int, count: int) -> str | None:
    if received > due:
        return "overpaid"
    if received < due:
        return "underpaid"
    return "multiple" if count > 1 else None
