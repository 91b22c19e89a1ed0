"""Payment status changes: the one module that moves a payment from one status to another.

Every change runs in the caller's transaction, is one guarded UPDATE whose expected statuses
come from the transition table (paywatch/core/states.py), and emits its event built by
`payment_event` below, so an event carries the same fields whichever path emitted it: the full
payment under `data.object`, as the API shows it. A confirmed payment pays its order in the same
transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

from db import events
from db import payments as db
from db.pool import transaction
from paywatch.core.chains import ChainAdapter
from paywatch.core.metrics import PAYMENTS_CONFIRMED, SECONDS_TO_CONFIRM
from paywatch.core.objects import payment_object
from paywatch.core.payments import PaymentAsk
from paywatch.core.settlement import Decision, PaymentFacts, TransferFact, decide, tolerance_units
from paywatch.core.states import PAYMENT_TRANSITIONS, SETTLEABLE, expected_before
from paywatch.core.txrequest import matched_by
from paywatch.services import order_events

log = logging.getLogger("paywatch.services.payments")

# The event a status change emits (a change that keeps the status emits none, except paid_late).
EVENT_FOR_STATUS = {"detected": "payment.detected", "confirmed": "payment.confirmed",
                    "pending": "payment.reverted", "expired": "payment.expired",
                    "invalid": "payment.invalid", "cancelled": "payment.cancelled"}


class TransitionRefused(Exception):
    """The payment is not in a status the change may start from (or does not exist)."""

    def __init__(self, current: str | None) -> None:
        super().__init__(f"payment is {current}")
        self.current = current


@dataclass(frozen=True)
class Change:
    """Who changes a payment, and what the merchant's webhook should say about it."""
    actor: str
    public_url: str | None
    reason: str | None = None


def payment_event(type_: str, row: asyncpg.Record, transfers: list[asyncpg.Record],
                  previous_status: str, change: Change, by_hand: bool = False) -> dict[str, Any]:
    """The one payload of every payment.* event: the payment, the status it left, and the
    merchant's reason when a person made the change; payment.confirmed also says whether the
    merchant settled it by hand."""
    data: dict[str, Any] = {"object": payment_object(row, transfers, change.public_url),
            "previous_status": previous_status, "reason": change.reason}
    if type_ == "payment.confirmed":
        data["settled_by_hand"] = by_hand
    return data


async def _emit(conn: asyncpg.Connection, type_: str, row: asyncpg.Record, previous: str,
                change: Change, by_hand: bool = False,
                transfers: list[asyncpg.Record] | None = None) -> None:
    if transfers is None:
        transfers = await db.transfers_of(conn, row["id"])
    data = payment_event(type_, row, transfers, previous, change, by_hand)
    await events.emit(conn, store_id=row["store_id"], type_=type_, data=data,
                      payment_id=row["id"], order_id=row["order_id"])


# ----- the chain's decisions -----------------------------------------------------------------

async def resettle(conn: asyncpg.Connection, payment_id: Any, change: Change) -> Decision | None:
    """Lock the payment, decide from its transfers, apply the decision, emit its events."""
    row = await db.payment_facts(conn, payment_id)
    if row is None:
        return None
    facts = PaymentFacts(
        status=row["status"], exception=row["exception"], amount_due=row["amount_due"],
        amount_received=row["amount_received"], required_commitment=row["required_commitment"],
        expires_at=row["expires_at"], accept_late=row["accept_late_payments"],
        tolerance_units=tolerance_units(row["amount_due"], row["underpaid_tolerance_percent"],
                                        row["underpaid_tolerance_amount"], row["price"],
                                        row["decimals"]))
    # One read of the transfers serves the decision and the event's full payment.
    transfers = await db.transfers_of(conn, payment_id)
    seen = [TransferFact(t["amount"], t["status"], t["block_time"] or t["seen_at"])
            for t in transfers if t["status"] != "rejected"]
    decision = decide(facts, seen)
    if decision is None:
        return None
    updated = await db.apply_decision(conn, payment_id,
                                      expected_before(decision.status, facts.status),
                                      decision.status, decision.exception,
                                      decision.amount_received, row["confirmation_window"])
    if updated is None:  # the table does not allow it: say so, change nothing
        log.error("payment %s: no transition %s -> %s", payment_id, facts.status,
                  decision.status)
        return None
    await _after_decision(conn, updated, facts, decision, change, transfers)
    return decision


async def _after_decision(conn: asyncpg.Connection, payment: asyncpg.Record,
                          before: PaymentFacts, decision: Decision, change: Change,
                          transfers: list[asyncpg.Record]) -> None:
    kinds = []
    if decision.status != before.status:
        kinds.append(EVENT_FOR_STATUS[decision.status])
    if decision.exception == "paid_late" and before.exception != "paid_late":
        kinds.append("payment.paid_late")
    for kind in kinds:
        await _emit(conn, kind, payment, before.status, change, transfers=transfers)
    if decision.status == "confirmed" and before.status != "confirmed":
        PAYMENTS_CONFIRMED.labels(payment["chain"], payment["asset"]).inc()
        SECONDS_TO_CONFIRM.labels(payment["chain"]).observe(
            (payment["confirmed_at"] - payment["detected_at"]).total_seconds())
        await pay_order(conn, payment, change.actor, f"payment {payment['id']} confirmed")
    log.info("payment %s -> %s", payment["id"], decision.status,
             extra={"exception": decision.exception, "received": decision.amount_received})


# ----- a merchant's changes ------------------------------------------------------------------

class OrderNotPayable(Exception):
    """The payment's order is no longer pending payment (or is gone)."""


async def create(conn: asyncpg.Connection, chain: ChainAdapter, store: asyncpg.Record,
                 values: dict[str, Any], ask: PaymentAsk,
                 change: Change) -> tuple[asyncpg.Record, dict[str, Any]]:
    """A new pending payment from its priced `values` (payments' columns): its chain plans the
    request inside the transaction (a deposit address index or a unique amount moves with the
    payment, so a rollback leaves no gap), then the row, its payment.created event and audit.
    Returns the row and the payment as JSON (built once, for the event, the audit and the
    caller). OrderNotPayable when its order stopped being payable while the quote was taken."""
    store_id, order_id = values["store_id"], values["order_id"]
    async with transaction(conn):
        if order_id is not None:
            # FOR SHARE: waits for a concurrent cancel, then sees its result.
            order = await db.order_for_payment(conn, order_id, store_id, lock=True)
            if order is None or order["status"] != "pending_payment":
                raise OrderNotPayable(order_id)
        planned = values | await chain.plan_request(conn, store, values, ask)
        row = await db.insert_payment(conn, planned)
        data = payment_event("payment.created", row, [], "pending", change)
        await db.record_created(conn, row, data, change.actor)  # the event and the audit row
    return row, data["object"]


async def cancel(conn: asyncpg.Connection, payment_id: Any, store_id: Any,
                 change: Change) -> tuple[asyncpg.Record, asyncpg.Record]:
    """Cancel a payment nobody paid yet; (before, after), or TransitionRefused."""
    before = await db.get_payment(conn, payment_id, store_id)
    row = await db.cancel_payment(conn, payment_id, store_id, PAYMENT_TRANSITIONS["cancelled"])
    if row is None:
        raise TransitionRefused(before["status"] if before else None)
    assert before is not None
    await _emit(conn, "payment.cancelled", row, before["status"], change)
    return before, row


async def cancel_for_order(conn: asyncpg.Connection, order: asyncpg.Record,
                           change: Change) -> list[asyncpg.Record]:
    """A cancelled order's payments must not be paid any more: close them, with the same
    payment.cancelled event a direct cancel sends."""
    rows = await db.cancel_payments_of_order(conn, order["id"], PAYMENT_TRANSITIONS["cancelled"])
    for row in rows:
        await _emit(conn, "payment.cancelled", row, "pending", change)
    return rows


async def settle(conn: asyncpg.Connection, payment_id: Any, store_id: Any,
                 change: Change) -> tuple[asyncpg.Record, asyncpg.Record]:
    """A merchant settles by hand (underpaid, late, or paid off-chain): exception `marked`."""
    before = await db.get_payment(conn, payment_id, store_id)
    row = await db.settle_payment(conn, payment_id, store_id, SETTLEABLE)
    if row is None:
        raise TransitionRefused(before["status"] if before else None)
    assert before is not None
    await _emit(conn, "payment.confirmed", row, before["status"], change, by_hand=True)
    await pay_order(conn, row, change.actor,
                    f"payment {row['id']} settled by hand: {change.reason}")
    return before, row


# ----- the clock's changes (batched sweeps) --------------------------------------------------

async def expire_due(conn: asyncpg.Connection, limit: int, public_url: str | None) -> int:
    """Pending payments past their quote's lifetime become expired, each with its event in
    this transaction."""
    rows = await db.expire_due(conn, limit, PAYMENT_TRANSITIONS["expired"])
    await _emit_batch(conn, "payment.expired", rows, "pending", public_url)
    return len(rows)


async def invalidate_due(conn: asyncpg.Connection, limit: int, public_url: str | None) -> int:
    """Detected payments whose money never reached the required commitment in time."""
    rows = await db.invalidate_due(conn, limit, PAYMENT_TRANSITIONS["invalid"])
    await _emit_batch(conn, "payment.invalid", rows, "detected", public_url)
    return len(rows)


async def _emit_batch(conn: asyncpg.Connection, type_: str, rows: list[asyncpg.Record],
                      previous: str, public_url: str | None) -> None:
    if not rows:
        return
    change = Change("sweep", public_url)
    found = await db.transfers_of_many(conn, [r["id"] for r in rows])
    await events.emit_many(conn, [
        (r["store_id"], type_, r["id"], r["order_id"],
         payment_event(type_, r, found[r["id"]], previous, change)) for r in rows])


# ----- orders --------------------------------------------------------------------------------

async def pay_order(conn: asyncpg.Connection, payment: asyncpg.Record, actor: str,
                    reason: str) -> None:
    """A confirmed payment marks its order paid (once) and says so in an order.paid event."""
    if payment["order_id"] is None:
        return
    order = await db.mark_order_paid(conn, payment["order_id"], actor, reason)
    if order is not None:
        await order_events.emit(conn, "order.paid", order["id"], payment["store_id"],
                                payment_id=payment["id"], previous_status="pending_payment")


# ----- Solana Pay Transaction Requests -------------------------------------------------------

async def record_payer(conn: asyncpg.Connection, payment_id: Any, payer: str) -> bool:
    """The account that asked for a Transaction Request, in one guarded statement: False when
    the payment stopped asking for money meanwhile. The latest request wins: a customer who
    switches wallets is recorded with the one they used last, and a stranger who posts an
    account wins nothing, since a transfer counts as the payer's only when its sender is the
    payer (`reference_match`)."""
    return await db.set_payer(conn, payment_id, payer)


async def reference_match(conn: asyncpg.Connection, payment_id: Any, sender: str | None) -> str:
    """matched_by for a transfer that carries `payment_id`'s reference: 'transaction_request'
    when its sender is the account that asked for the Transaction Request, else 'reference'.
    The Solana watcher calls it inside the transaction that records the transfer."""
    return matched_by(await db.payer_of(conn, payment_id), sender)


# ----- refunds -------------------------------------------------------------------------------

async def add_refunded(conn: asyncpg.Connection, payment_id: Any,
                       delta: int) -> asyncpg.Record | None:
    """What the payment gave back grows by a confirmed refund (or shrinks when its transfer is
    reverted), in paywatch/services/refunds.py's transaction. None when the guard refuses:
    it would leave 0..amount_received."""
    return await db.add_refunded(conn, payment_id, delta)
