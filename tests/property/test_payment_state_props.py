"""The payment state machine under any sequence of chain events: transfers seen, deepened,
finalized, reverted (and re-included), the expiry sweep and a cancel. Whatever the order, every
transition is a legal one, amount_received is exactly the sum of the counted live transfers
(nothing double-counted), a final state never moves, and replaying a decision changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from paywatch.core.settlement import (
    COUNTED,
    FINAL_STATUSES,
    LIVE,
    PaymentFacts,
    TransferFact,
    decide,
)
from paywatch.core.states import PAYMENT_EXCEPTIONS, PAYMENT_STATUSES, PAYMENT_TRANSITIONS

START = datetime(2026, 1, 1, tzinfo=UTC)
DUE = 1_000_000


class PaymentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.transfers: list[TransferFact] = []
        self.facts: PaymentFacts | None = None
        self.clock = START

    @rule(commitment=st.sampled_from(["confirmed", "finalized"]), accept_late=st.booleans(),
          tolerance=st.integers(min_value=0, max_value=DUE // 10))
    @precondition(lambda self: self.facts is None)
    def open_payment(self, commitment: str, accept_late: bool, tolerance: int) -> None:
        self.facts = PaymentFacts(status="pending", exception=None, amount_due=DUE,
                                  amount_received=0, required_commitment=commitment,
                                  expires_at=START + timedelta(minutes=15),
                                  accept_late=accept_late, tolerance_units=tolerance)

    def _settle(self) -> None:
        assert self.facts is not None
        before = self.facts
        decision = decide(before, self.transfers)
        if decision is None:
            return
        if decision.status != before.status:
            assert before.status in PAYMENT_TRANSITIONS[decision.status], \
                f"illegal {before.status} -> {decision.status}"
        self.facts = replace(before, status=decision.status, exception=decision.exception,
                             amount_received=decision.amount_received)
        assert decide(self.facts, self.transfers) is None  # replaying changes nothing

    @rule(amount=st.integers(min_value=1, max_value=2 * DUE),
          minutes=st.integers(min_value=0, max_value=30))
    @precondition(lambda self: self.facts is not None)
    def transfer_seen(self, amount: int, minutes: int) -> None:
        self.clock += timedelta(minutes=minutes)
        self.transfers.append(TransferFact(amount, "processed", self.clock))
        self._settle()

    @rule(data=st.data(), status=st.sampled_from(["confirmed", "finalized", "reverted"]))
    @precondition(lambda self: self.facts is not None and self.transfers)
    def transfer_moves(self, data: st.DataObject, status: str) -> None:
        index = data.draw(st.integers(min_value=0, max_value=len(self.transfers) - 1))
        old = self.transfers[index]
        forward = {"processed": ("confirmed", "finalized", "reverted"),
                   "confirmed": ("finalized", "reverted"), "reverted": ("processed",)}
        if status in forward.get(old.status, ()) or (old.status == "reverted"
                                                     and status == "confirmed"):
            self.transfers[index] = replace(old, status=status)
        self._settle()

    @rule()
    @precondition(lambda self: self.facts is not None and self.facts.status in ("pending",
                                                                                  "detected"))
    def expiry_sweep(self) -> None:
        assert self.facts is not None
        if self.facts.status == "pending":  # the sweep's own guard: unpaid open payments
            self.facts = replace(self.facts, status="expired")

    @rule()
    @precondition(lambda self: self.facts is not None and self.facts.status == "pending")
    def cancel(self) -> None:
        assert self.facts is not None
        self.facts = replace(self.facts, status="cancelled")
        self._settle()

    @invariant()
    def legal_and_counted_once(self) -> None:
        if self.facts is None:
            return
        assert self.facts.status in PAYMENT_STATUSES
        assert self.facts.exception is None or self.facts.exception in PAYMENT_EXCEPTIONS
        if self.facts.status in FINAL_STATUSES:
            return  # frozen: money arriving later is recorded, the state does not move
        counted = sum(t.amount for t in self.transfers if t.status in LIVE
                      and t.status in COUNTED[self.facts.required_commitment])
        assert self.facts.amount_received == counted
        if self.facts.status == "confirmed":
            assert counted >= DUE - self.facts.tolerance_units


TestPaymentStateMachine = PaymentMachine.TestCase
TestPaymentStateMachine.settings = settings(max_examples=300, stateful_step_count=30,
                                            deadline=None)
