"""Payment and order states, and which transitions are legal.

SQL guards every transition with the expected current states (`WHERE status = ANY($n)`); these
tuples are the one place those expectations are written down, for the API and the watchers."""

from __future__ import annotations

PAYMENT_STATUSES = ("pending", "detected", "confirmed", "expired", "invalid", "cancelled")
PAYMENT_EXCEPTIONS = ("underpaid", "overpaid", "paid_late", "multiple", "marked")
OPEN_PAYMENT = ("pending", "detected")

# target status -> the statuses it may be reached from
PAYMENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "detected": ("pending", "expired"),
    "confirmed": ("pending", "detected", "expired"),
    "expired": ("pending", "detected"),
    "invalid": ("detected",),
    "cancelled": ("pending",),
    "pending": ("detected",),  # a transfer was reverted (dead fork, reorg): step back
}
# A merchant settles by hand what the chain did not settle on its own.
SETTLEABLE = ("pending", "detected", "expired", "invalid")

ORDER_STATUSES = ("pending_payment", "paid", "fulfilled", "shipped", "delivered", "cancelled",
                  "refunded")
