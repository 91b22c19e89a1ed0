"""Applying settlement decisions: in the caller's transaction, lock the payment, decide from its
transfers, write the guarded UPDATE, and emit the events (a confirmed payment pays its order in
the same transaction). Chain adapters call this after recording or moving transfers."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from db import events, transfers
from db.payments import mark_order_paid
from paywatch.core.metrics import PAYMENTS_CONFIRMED, SECONDS_TO_CONFIRM
from paywatch.core.settlement import Decision, PaymentFacts, TransferFact, decide, tolerance_units

log = logging.getLogger("paywatch.core.settlement")

EVENT_FOR_STATUS = {"detected": "payment.detected", "confirmed": "payment.confirmed",
                    "pending": "payment.reverted"}


async def resettle(conn: asyncpg.Connection, payment_id: Any, actor: str) -> Decision | None:
    row = await transfers.payment_facts(conn, payment_id)
    if row is None:
        return None
    facts = PaymentFacts(
        status=row["status"], exception=row["exception"], amount_due=row["amount_due"],
        amount_received=row["amount_received"], required_commitment=row["required_commitment"],
        expires_at=row["expires_at"], accept_late=row["accept_late_payments"],
        tolerance_units=tolerance_units(row["amount_due"], row["underpaid_tolerance_percent"],
                                        row["underpaid_tolerance_amount"], row["price"],
                                        row["decimals"]))
    seen = [TransferFact(t["amount"], t["status"], t["first_seen"])
            for t in await transfers.payment_transfers(conn, payment_id)]
    decision = decide(facts, seen)
    if decision is None:
        return None
    updated = await transfers.apply_decision(conn, payment_id, facts.status, decision.status,
                                             decision.exception, decision.amount_received,
                                             row["confirmation_window"])
    if updated is None:
        return None
    await _emit(conn, updated, facts, decision, actor)
    return decision


async def _emit(conn: asyncpg.Connection, payment: asyncpg.Record, before: PaymentFacts,
                decision: Decision, actor: str) -> None:
    data = {"id": str(payment["id"]), "status": decision.status,
            "exception": decision.exception, "amount_due": str(payment["amount_due"]),
            "amount_received": str(decision.amount_received),
            "previous_status": before.status}
    kind = EVENT_FOR_STATUS.get(decision.status) if decision.status != before.status else None
    if decision.exception == "paid_late" and before.exception != "paid_late":
        kind = "payment.paid_late"
    if kind is not None:
        await events.emit(conn, store_id=payment["store_id"], type_=kind, data=data,
                          payment_id=payment["id"], order_id=payment["order_id"])
    if decision.status == "confirmed" and before.status != "confirmed":
        PAYMENTS_CONFIRMED.labels(payment["chain"], payment["asset"]).inc()
        SECONDS_TO_CONFIRM.labels(payment["chain"]).observe(
            (payment["confirmed_at"] - payment["detected_at"]).total_seconds())
        await pay_order(conn, payment, actor, f"payment {payment['id']} confirmed")
    log.info("payment %s -> %s", payment["id"], decision.status,
             extra={"exception": decision.exception, "received": decision.amount_received})


async def pay_order(conn: asyncpg.Connection, payment: asyncpg.Record, actor: str,
                    reason: str) -> None:
    """A confirmed payment marks its order paid (once) and says so in an order.paid event."""
    if payment["order_id"] is None:
        return
    order = await mark_order_paid(conn, payment["order_id"], actor, reason)
    if order is not None:
        await events.emit(conn, store_id=payment["store_id"], type_="order.paid",
                          data={"order_id": str(order["id"]), "number": order["number"],
                                "payment_id": str(payment["id"])},
                          order_id=order["id"], payment_id=payment["id"])
