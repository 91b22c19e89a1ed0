"""The settlement rules, case by case (no database: the rules are a pure function)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from paywatch.core.settlement import (
    Decision,
    PaymentFacts,
    TransferFact,
    decide,
    tolerance_units,
)

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(minutes=15)
DUE = 1_000_000


def facts(status: str = "pending", *, received: int = 0, exception: str | None = None,
          required: str = "confirmed", late_ok: bool = False, tol: int = 0) -> PaymentFacts:
    return PaymentFacts(status, exception, DUE, received, required, EXPIRES, late_ok, tol)


def t(amount: int, status: str = "confirmed", minutes: int = 1) -> TransferFact:
    return TransferFact(amount, status, T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(("payment", "transfers", "expected"), [
    # exact payment at the required commitment
    (facts(), [t(DUE)], Decision("confirmed", None, DUE)),
    # seen, but not deep enough yet (store wants finalized)
    (facts(required="finalized"), [t(DUE)], Decision("detected", None, 0)),
    (facts("detected", required="finalized"), [t(DUE, "finalized")],
     Decision("confirmed", None, DUE)),
    # processed only: detected, nothing received yet
    (facts(), [t(DUE, "processed")], Decision("detected", None, 0)),
    # underpaid, then topped up by a second transfer
    (facts(), [t(600_000)], Decision("detected", "underpaid", 600_000)),
    (facts("detected", received=600_000, exception="underpaid"), [t(600_000), t(400_000)],
     Decision("confirmed", "multiple", DUE)),
    # overpaid
    (facts(), [t(1_500_000)], Decision("confirmed", "overpaid", 1_500_000)),
    # short, but within the tolerance: confirmed, and finance can see it was short
    (facts(tol=10_000), [t(995_000)], Decision("confirmed", "underpaid", 995_000)),
    (facts(tol=10_000), [t(980_000)], Decision("detected", "underpaid", 980_000)),
    # a dead fork: the only transfer reverted -> back to pending
    (facts("detected", received=0), [t(DUE, "reverted")], Decision("pending", None, 0)),
    # rejected transfers never count
    (facts(), [t(DUE, "rejected")], None),
    # paid after expiry: stays expired, flagged paid_late
    (facts(), [t(DUE, minutes=20)], Decision("expired", "paid_late", DUE)),
    (facts("expired"), [t(DUE, minutes=20)], Decision("expired", "paid_late", DUE)),
    # ... unless the store accepts late payments
    (facts("expired", late_ok=True), [t(DUE, minutes=20)], Decision("confirmed", None, DUE)),
    # final states do not move
    (facts("confirmed", received=DUE), [t(DUE), t(5)], None),
    (facts("cancelled"), [t(DUE)], None),
    # replaying the same facts changes nothing
    (facts("confirmed", received=DUE), [t(DUE)], None),
    (facts("detected", received=0), [t(DUE, "processed")], None),
])
def test_decide(payment: PaymentFacts, transfers: list[TransferFact],
                expected: Decision | None) -> None:
    assert decide(payment, transfers) == expected


def test_tolerance_takes_the_larger_allowance_rounded_down() -> None:
    # 1 % of 1,000,000 = 10,000; 0.50 USD at 150 USD/SOL in lamports = 3,333,333.33 -> 3,333,333
    assert tolerance_units(1_000_000, D(1), D("0.50"), D(150), 9) == 3_333_333
    assert tolerance_units(1_000_000, D("2.5"), D(0), D(150), 9) == 25_000
    assert tolerance_units(999, D(1), D(0), D(1), 6) == 9
