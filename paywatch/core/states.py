"""Payment and order states, and which transitions are legal.

SQL guards every transition with the expected current states (`WHERE status = ANY($n)`); these
tuples are the one place those expectations are written down: paywatch/services/payments.py
takes every guard from here."""

from __future__ import annotations

PAYMENT_STATUSES = ("pending", "detected", "confirmed", "expired", "invalid", "cancelled")
PAYMENT_EXCEPTIONS = ("underpaid", "overpaid", "paid_late", "multiple", "marked")
# The one definition of "open" (the payment can still be paid in full, on time) and of
# "watched" (a transfer may still pay it: an expired payment stays watched until its
# `monitor_until`, and money that arrives then makes it paid_late). db/ takes these as query
# parameters; the partial indexes payments_open_idx and payments_shared_amount_uq must repeat
# them literally, and tests/test_open_statuses.py checks that they agree.
OPEN_PAYMENT = ("pending", "detected")
WATCHED_PAYMENT = (*OPEN_PAYMENT, "expired")

# target status -> the statuses it may be reached from
PAYMENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "detected": ("pending", "expired"),
    "confirmed": ("pending", "detected", "expired"),
    "expired": ("pending", "detected"),
    "invalid": ("detected",),
    "cancelled": ("pending",),
    "pending": ("detected",),  # a transfer was reverted (dead fork, reorg): step back
}
ORDER_STATUSES = ("pending_payment", "paid", "fulfilled", "shipped", "delivered", "cancelled",
                  "refunded", "partially_refunded")

# A merchant settles by hand what the chain did not settle on its own: also an invalid one.
SETTLEABLE = (*PAYMENT_TRANSITIONS["confirmed"], "invalid")


def expected_before(target: str, current: str | None = None) -> tuple[str, ...]:
    """The statuses an UPDATE to `target` may start from. A change that keeps the status (a new
    amount or exception) may start only from that status."""
    if current == target:
        return (target,)
    return PAYMENT_TRANSITIONS[target]


# ----- refunds (paywatch/services/refunds.py takes every guard from here) ---------------------
REFUND_STATUSES = ("pending", "confirmed", "expired", "cancelled")
REFUND_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "confirmed": ("pending",),
    "expired": ("pending",),
    "cancelled": ("pending",),
    # the refund's transfer was reverted after confirmation (reorg, dead fork): it waits again
    "pending": ("confirmed",),
}

# Money given back moves an order that was paid (at any fulfilment step) to `refunded` (all of
# what its payment received went back) or `partially_refunded`; a refund whose transfer the
# chain dropped steps it back (see paywatch/services/refunds.py).
REFUNDABLE_ORDER = ("paid", "fulfilled", "shipped", "delivered")
ORDER_REFUND_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "partially_refunded": (*REFUNDABLE_ORDER, "refunded"),
    "refunded": (*REFUNDABLE_ORDER, "partially_refunded"),
    **{status: ("partially_refunded", "refunded") for status in REFUNDABLE_ORDER},
}
